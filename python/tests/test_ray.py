"""ferry.ray on a local Ray (2 CPUs): 100,000 rows read from Parquet and scored by
``map_batches(Predictor, concurrency=2)`` equal the single-process ferry run, bit for bit."""

from __future__ import annotations

import os

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
    need,
    python_path_for_workers,
)


@pytest.fixture(scope="module")
def ray_local():
    ray = need("ray")
    need("ray.data")
    need("pyarrow")
    os.environ["PYTHONPATH"] = python_path_for_workers()  # workers import the same ferry
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=1_000_000_000,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": python_path_for_workers()}},
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


def _sorted(pdf, col):
    pdf = pdf.sort_values("id")
    assert pdf["id"].tolist() == list(range(N_ROWS))
    return pdf[col].to_numpy()


@pytest.mark.parametrize("batch_format", ["numpy", "pandas"])
def test_map_batches_100k_matches_single_process(ray_local, batch_bundle, batch_parquet, batch_expected, batch_format):
    from ferry.ray import Predictor

    # Ray reads this small (12 MB) dataset as one block; split it so both actors get batches
    ds = ray_local.data.read_parquet(batch_parquet).repartition(4)
    scored = ds.map_batches(
        Predictor,
        fn_constructor_kwargs={"bundle": batch_bundle},
        batch_format=batch_format,
        batch_size=10_000,
        concurrency=2,
        num_cpus=0.5,  # two actors plus the Parquet read tasks fit in num_cpus=2
    )
    pdf = scored.to_pandas()
    assert len(pdf) == N_ROWS
    assert set(FEATURES) <= set(pdf.columns)
    got = _sorted(pdf, "probability")
    assert got.dtype == np.float32
    assert_scores_equal(got, batch_expected)


def test_score_dataset_and_tensor_column(ray_local, batch_bundle, batch_features, batch_expected):
    """score_dataset() (bundle opened and verified on the driver, actors held to its digest)
    on rows that carry one [14] tensor column (columns= a single string)."""
    from ferry.ray import score_dataset

    x = batch_features
    ds = ray_local.data.range(N_ROWS).map_batches(
        lambda b: {"id": b["id"], "vec": x[b["id"]]}, batch_format="numpy", num_cpus=0.5
    )
    scored = score_dataset(ds, batch_bundle, columns="vec", output_col="p", batch_size=8_192, num_cpus=0.5)
    out = scored.take_batch(N_ROWS + 1, batch_format="numpy")
    order = np.argsort(out["id"])
    assert np.array_equal(out["id"][order], np.arange(N_ROWS))
    assert out["vec"].shape == (N_ROWS, len(FEATURES))
    assert_scores_equal(out["p"][order], batch_expected)


def test_predictor_in_process(batch_bundle, batch_features, batch_expected):
    """Predictor is a plain callable: numpy dict and pandas batches, no Ray needed."""
    import pandas as pd

    from ferry.ray import Predictor

    p = Predictor(batch_bundle, output_col="score")
    cols = {name: batch_features[:5000, j] for j, name in enumerate(FEATURES)}
    out = p(cols)
    assert_scores_equal(out["score"], batch_expected[:5000])
    out = p(pd.DataFrame(cols))
    assert_scores_equal(out["score"].to_numpy(), batch_expected[:5000])
