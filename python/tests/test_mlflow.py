"""ferry.mlflow: a bundle saved / logged as an MLflow model scores 100,000 rows exactly as the
single-process ferry run does, through pyfunc.load_model and through
mlflow.pyfunc.spark_udf(env_manager="local")."""

from __future__ import annotations

import numpy as np
import pytest

from batchdata import (  # noqa: F401  (fixtures)
    FEATURES,
    N_ROWS,
    NULLABLE,
    assert_scores_equal,
    batch_bundle,
    batch_expected,
    batch_features,
    batch_parquet,
    batch_spark,
    need,
)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """A throwaway tracking store: SQLite in a temp dir (MLflow 3.18 refuses its file store
    unless MLFLOW_ALLOW_FILE_STORE=true; the SQLite store needs sqlalchemy and alembic next to
    mlflow-skinny), artifacts in the same temp dir."""
    mlflow = need("mlflow")
    need("mlflow.pyfunc")
    need("sqlalchemy")
    need("alembic")
    root = tmp_path_factory.mktemp("mlflow")
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    exp = mlflow.create_experiment("ferry-tests", artifact_location=(root / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp)
    yield mlflow
    mlflow.set_tracking_uri(old)


@pytest.fixture(scope="module")
def frame(batch_features):
    import pandas as pd

    return pd.DataFrame({name: batch_features[:, j] for j, name in enumerate(FEATURES)})


def test_save_and_load_100k(tracking, batch_bundle, frame, batch_expected, tmp_path):
    import yaml

    import ferry
    import ferry.mlflow

    path = tmp_path / "credit-risk-model"
    ferry.mlflow.save_model(batch_bundle, str(path), input_example=frame.head(3))
    meta = yaml.safe_load((path / "MLmodel").read_text())
    assert set(meta["flavors"]) >= {"ferry", "python_function"}
    assert meta["flavors"]["ferry"]["digest"] == ferry.open(batch_bundle).digest
    assert meta["flavors"]["ferry"]["columns"] == FEATURES
    copied = path / meta["flavors"]["ferry"]["bundle"]
    assert copied.read_bytes() == open(batch_bundle, "rb").read()
    sig = meta["signature"]
    assert NULLABLE in sig["inputs"] and "probability" in sig["outputs"]

    model = ferry.mlflow.load_model(str(path))
    out = model.predict(frame)
    assert list(out.columns) == ["probability"] and len(out) == N_ROWS
    assert_scores_equal(out["probability"].to_numpy(), batch_expected)


def test_log_model_and_spark_udf(tracking, batch_bundle, batch_spark, batch_parquet, frame, batch_expected):
    import mlflow.pyfunc

    import ferry.mlflow

    with tracking.start_run():
        info = ferry.mlflow.log_model(batch_bundle, name="credit-risk")
    assert "ferry" in info.flavors

    model = ferry.mlflow.load_model(info.model_uri)
    assert_scores_equal(model.predict(frame)["probability"].to_numpy(), batch_expected)

    udf = mlflow.pyfunc.spark_udf(batch_spark, info.model_uri, env_manager="local", result_type="float")
    df = batch_spark.read.parquet(batch_parquet)
    pdf = df.select("id", udf(*FEATURES).alias("p")).toPandas().sort_values("id")
    assert pdf["id"].tolist() == list(range(N_ROWS))
    got = pdf["p"].to_numpy()
    assert got.dtype == np.float32
    assert_scores_equal(got, batch_expected)


def test_digest_is_checked_on_load(tracking, batch_bundle, tmp_path):
    """A model whose copied bundle no longer has the recorded digest does not load."""
    import yaml

    import ferry.mlflow
    from ferry.batch import clear_cache

    path = tmp_path / "m"
    ferry.mlflow.save_model(batch_bundle, str(path))
    meta_path = path / "MLmodel"
    meta = yaml.safe_load(meta_path.read_text())
    # Pretend the bundle was saved with another digest: the pickled python model holds it.
    import cloudpickle

    pm_file = path / meta["flavors"]["python_function"]["python_model"]
    pm = cloudpickle.loads(pm_file.read_bytes())
    pm.digest = "sha256:" + "0" * 64
    pm_file.write_bytes(cloudpickle.dumps(pm))
    clear_cache()
    with pytest.raises(Exception, match="digest"):
        ferry.mlflow.load_model(str(path))
