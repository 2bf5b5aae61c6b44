"""Score Spark DataFrames with a ferry bundle.

    from ferry.spark import predict_udf
    score = predict_udf("/shared/credit-risk.ferry")          # opens + verifies on the driver
    scored = df.withColumn("probability", score(*score.columns))

``predict_udf`` is built on :func:`pyspark.ml.functions.predict_batch_udf`: each Python
worker makes the predict function once (Spark caches it per worker), and the bundle is
opened once per worker process (``ferry.batch.open_cached``), re-verified there, and refused
unless its digest is the one the driver saw.

pyspark is imported only when a function here is called.
"""

from __future__ import annotations

import inspect
from typing import Any, Iterator, Sequence

import numpy as np

from .batch import DEFAULT_BATCH_SIZE, Scorer

__all__ = ["predict_udf", "score", "score_pandas", "spark_type"]


def spark_type(dtype: np.dtype, width: int | None):
    """The Spark SQL type of one output value: a scalar for width 1, else an array."""
    from pyspark.sql import types as T

    kind = np.dtype(dtype)
    scalar = {
        np.dtype("float32"): T.FloatType(),
        np.dtype("float64"): T.DoubleType(),
        np.dtype("float16"): T.FloatType(),
        np.dtype("int8"): T.ByteType(),
        np.dtype("int16"): T.ShortType(),
        np.dtype("int32"): T.IntegerType(),
        np.dtype("int64"): T.LongType(),
        np.dtype("uint8"): T.ShortType(),
        np.dtype("bool"): T.BooleanType(),
    }.get(kind)
    if scalar is None:
        raise TypeError(f"no Spark type for output dtype {kind}")
    return scalar if width == 1 else T.ArrayType(scalar, containsNull=False)


def _make_predict_fn(scorer: Scorer):
    """The ``make_predict_fn`` for predict_batch_udf: runs once per Python worker."""

    def make_predict_fn():
        scorer.model  # open + verify now (once per worker process; cached by path/digest)
        out_dtype = scorer.output_dtype if scorer.output_dtype != np.float16 else np.dtype("float32")

        if scorer.array_column is not None:

            def predict_array(x: np.ndarray) -> np.ndarray:
                return scorer.predict_matrix(x).astype(out_dtype, copy=False)

            return predict_array

        def predict_columns(*cols: np.ndarray) -> np.ndarray:
            return scorer.predict_matrix(scorer.stack(cols)).astype(out_dtype, copy=False)

        # predict_batch_udf counts the parameters of the predict function to decide how to hand
        # over the UDF's columns: one numpy array per column when it sees k parameters.
        names = [f"c{i}" for i in range(len(scorer.columns))]
        predict_columns.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names]
        )
        return predict_columns

    return make_predict_fn


def predict_udf(
    bundle: Any,
    *,
    input: str = "features",
    output: str = "probability",
    columns: str | Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    policy: Any = None,
):
    """A Spark UDF that scores rows with ``bundle`` (a path or an opened ``ferry.Model``).

    Call it with the feature columns, in order: ``udf(*udf.columns)`` (``udf.columns`` are
    the contract's feature names unless ``columns`` says otherwise). With ``columns="vec"``
    (a single string) it takes one array column holding the ``k`` values per row:
    ``udf("vec")``. Missing values (NULL or NaN) reach the model as NaN; the bundle's contract
    decides whether that is allowed (nullable features) or refused.

    The result is one value per row (FloatType for a float32 ``[batch, 1]`` output), or an
    array per row for a wider output.
    """
    from pyspark.ml.functions import predict_batch_udf

    scorer = Scorer(
        bundle, input=input, output=output, columns=columns, policy=policy, batch_size=batch_size
    )
    return_type = spark_type(
        scorer.output_dtype if scorer.output_dtype != np.float16 else np.dtype("float32"),
        scorer.output_width,
    )
    kwargs: dict[str, Any] = {"return_type": return_type, "batch_size": batch_size}
    if scorer.array_column is not None:
        if scorer.width is None:
            raise ValueError(f"input {input!r} has no fixed width; cannot score an array column")
        kwargs["input_tensor_shapes"] = [[scorer.width]]
    # Spark already cuts batches of batch_size rows; the scorer need not cut them again.
    scorer.batch_size = None
    udf = predict_batch_udf(_make_predict_fn(scorer), **kwargs)
    try:
        udf.columns = list(scorer.columns)  # type: ignore[attr-defined]
        udf.scorer = scorer  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # pragma: no cover - a UDF object without a __dict__
        pass
    return udf


def score(df, bundle: Any, *, output_col: str | None = None, **kwargs: Any):
    """``df`` with one more column (``output_col``, default the output's name) of scores."""
    udf = predict_udf(bundle, **kwargs)
    name = output_col or kwargs.get("output", "probability")
    return df.withColumn(name, udf(*udf.columns))


def score_pandas(
    batches: Iterator[Any],
    scorer: Scorer,
    *,
    output_col: str | None = None,
) -> Iterator[Any]:
    """For ``DataFrame.mapInPandas``: each pandas batch with a column of scores added.

        scorer = Scorer("/shared/credit-risk.ferry")
        schema = StructType(df.schema.fields + [StructField("probability", FloatType())])
        df.mapInPandas(lambda it: score_pandas(it, scorer), schema)

    The scorer pickles as (path, digest, policy) and opens the bundle once per worker.
    """
    name = output_col or scorer.output
    for pdf in batches:
        y = scorer.predict(pdf)
        pdf = pdf.copy(deep=False)
        pdf[name] = y if scorer.scalar_output else list(y)
        yield pdf
