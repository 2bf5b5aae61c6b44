"""ferry.spark on a local[2] SparkSession: 100,000 rows scored by the UDF equal the
single-process ferry run, row for row, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from batchdata import (  # noqa: F401  (fixtures)
    FEATURES,
    N_ROWS,
    assert_scores_equal,
    batch_bundle,
    batch_expected,
    batch_features,
    batch_parquet,
    batch_spark,
)


@pytest.fixture
def spark(batch_spark):
    return batch_spark


def _collect(df, col: str) -> np.ndarray:
    pdf = df.toPandas().sort_values("id")
    assert pdf["id"].tolist() == list(range(len(pdf)))
    return pdf[col].to_numpy()


def test_predict_udf_100k_matches_single_process(spark, batch_bundle, batch_parquet, batch_expected):
    from pyspark.sql import types as T

    from ferry.spark import predict_udf

    df = spark.read.parquet(batch_parquet)
    assert df.count() == N_ROWS
    assert df.rdd.getNumPartitions() >= 1
    score = predict_udf(batch_bundle, batch_size=10_000)
    assert score.columns == FEATURES  # the contract's feature names, in tensor order
    scored = df.select("id", score(*score.columns).alias("probability"))
    assert scored.schema["probability"].dataType == T.FloatType()
    got = _collect(scored, "probability")
    assert got.dtype == np.float32
    assert_scores_equal(got, batch_expected)


def test_array_column_and_score_helper(spark, batch_bundle, batch_parquet, batch_expected):
    from pyspark.sql import functions as F

    import ferry
    from ferry.spark import predict_udf, score

    df = spark.read.parquet(batch_parquet)
    # one array<double> column holding the 14 values (columns= a single string)
    vec = df.select("id", F.array(*FEATURES).alias("vec"))
    udf = predict_udf(batch_bundle, columns="vec", batch_size=4_096)
    got = _collect(vec.select("id", udf("vec").alias("p")), "p")
    assert_scores_equal(got, batch_expected)

    # score(): df + one column; an already opened Model works as the bundle too
    model = ferry.open(batch_bundle)
    got = _collect(score(df, model, output_col="pd"), "pd")
    assert_scores_equal(got, batch_expected)


def test_map_in_pandas(spark, batch_bundle, batch_parquet, batch_expected):
    from ferry.batch import Scorer
    from ferry.spark import score_pandas

    df = spark.read.parquet(batch_parquet)
    scorer = Scorer(batch_bundle)
    from pyspark.sql import types as T

    # (StructType.add mutates: build a new schema rather than changing df's)
    schema = T.StructType(df.schema.fields + [T.StructField("probability", T.FloatType())])
    out = df.mapInPandas(lambda it: score_pandas(it, scorer), schema)
    assert_scores_equal(_collect(out, "probability"), batch_expected)


def test_nulls(spark, batch_bundle):
    """SQL NULL reaches the model as NaN: accepted in the nullable feature (same score as
    NaN), refused by the contract in any other."""
    from pyspark.sql import types as T

    import ferry
    from ferry.spark import predict_udf

    schema = T.StructType([T.StructField("id", T.LongType())] + [T.StructField(c, T.DoubleType()) for c in FEATURES])
    row = [34.0, 72000.0, 0.18, 0.22, 7.0, 0.0, None, 12000.0, 36.0, 6.0, 2.0, 1.0, 0.0, 8400.0]
    df = spark.createDataFrame([tuple([0] + row)], schema)
    score = predict_udf(batch_bundle)
    got = df.select(score(*score.columns).alias("p")).collect()[0]["p"]
    x = np.array([[np.nan if v is None else v for v in row]], dtype=np.float32)
    want = ferry.open(batch_bundle).infer({"features": x})["probability"][0, 0]
    assert np.float32(got) == want

    bad = list(row)
    bad[6] = 5.0
    bad[0] = None  # age is not nullable
    df = spark.createDataFrame([tuple([0] + bad)], schema)
    with pytest.raises(Exception) as info:
        df.select(score(*score.columns).alias("p")).collect()
    text = str(info.value)
    assert "age" in text or "nan" in text.lower() or "Contract" in text, text[-2000:]
