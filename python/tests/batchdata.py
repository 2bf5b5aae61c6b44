"""Shared helpers for the batch-scoring tests (Spark, Ray, MLflow) and the throughput bench.

Not a conftest: the package's conftest may expose the bundle as the fixture
``credit_risk_bundle``; :func:`batch_bundle` below uses it when it exists and otherwise reads
``FERRY_TEST_BUNDLE`` (default ``/tmp/ferry-dev/credit-risk.ferry``).

``FERRY_REQUIRE_INTEROP=1`` (CI) turns every "not installed / no bundle" skip into a failure.
"""

from __future__ import annotations

import importlib
import math
import os
import tomllib
from pathlib import Path

import numpy as np
import pytest

N_ROWS = 100_000
SEED = 20261204
DEFAULT_BUNDLE = "/tmp/ferry-dev/credit-risk.ferry"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "credit-risk"

# The credit-risk contract's "features" input, read from the fixture's ferry.toml (column order, and
# the one nullable feature), not written out again here.
CONTRACT_FEATURES = tomllib.loads((FIXTURE / "ferry.toml").read_text())["inputs"][0]["features"]
FEATURES = [f["name"] for f in CONTRACT_FEATURES]
(NULLABLE,) = [f["name"] for f in CONTRACT_FEATURES if f.get("nullable")]


def require_interop() -> bool:
    return os.environ.get("FERRY_REQUIRE_INTEROP") == "1"


def need(module: str):
    """Import ``module`` or skip (fail under FERRY_REQUIRE_INTEROP=1)."""
    try:
        return importlib.import_module(module)
    except Exception as e:  # ImportError, or a broken install
        msg = f"{module} is not importable ({type(e).__name__}: {e}); pip install it to run this test"
        if require_interop():
            pytest.fail(msg + " [FERRY_REQUIRE_INTEROP=1]", pytrace=False)
        pytest.skip(msg)


def default_bundle_path() -> str:
    return os.environ.get("FERRY_TEST_BUNDLE", DEFAULT_BUNDLE)


def check_bundle(path: str) -> str:
    if not os.path.isfile(path):
        msg = f"credit-risk bundle not found at {path} (build it with `ferry pack fixtures/credit-risk -o {path}`)"
        if require_interop():
            pytest.fail(msg + " [FERRY_REQUIRE_INTEROP=1]", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def batch_bundle(request, tmp_path_factory) -> str:
    """Path of the credit-risk bundle: the conftest's ``credit_risk_bundle`` fixture when it
    exists, else ``$FERRY_TEST_BUNDLE`` / ``/tmp/ferry-dev/credit-risk.ferry`` when that file
    exists, else ``fixtures/credit-risk`` packed with ``ferry.pack`` into a temp dir."""
    ferry = need("ferry")
    try:
        return check_bundle(os.fspath(request.getfixturevalue("credit_risk_bundle")))
    except pytest.FixtureLookupError:
        pass
    path = default_bundle_path()
    if os.path.isfile(path) or "FERRY_TEST_BUNDLE" in os.environ:
        return check_bundle(path)
    out = tmp_path_factory.mktemp("bundle") / "credit-risk.ferry"
    ferry.pack(str(FIXTURE), str(out))
    return str(out)


def make_features(n: int = N_ROWS, seed: int = SEED) -> np.ndarray:
    """``[n, 14]`` float64 applications inside the contract's ranges, deterministic in
    ``seed``. Roughly 60% NaN in the nullable months_since_last_delinquency (never
    delinquent); a few rows sit exactly on every bound."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.normal(42, 12, n)), 18, 100)
    emp = np.clip(np.minimum(np.round(rng.gamma(2.0, 4.0, n)), age - 18), 0, 80)
    income = np.clip(np.round(rng.lognormal(math.log(60000), 0.6, n), -2), 0, 5_000_000)
    home = rng.choice([0.0, 1.0, 2.0], size=n, p=[0.40, 0.15, 0.45])
    has_mort = np.where(home == 2, 1.0, np.where((home == 1) & (rng.random(n) < 0.1), 1.0, 0.0))
    loan = np.clip(np.round(rng.lognormal(math.log(15000), 0.7, n) / 50) * 50, 500, 1_000_000)
    term = np.where(rng.random(n) < 0.7, 36.0, 60.0)
    dti = np.clip(np.round(rng.beta(2, 5, n) * 1.1, 4), 0, 2)
    util = np.clip(rng.beta(2, 3, n) * 1.3, 0, 2)  # unrounded: full float64 mantissas
    open_acc = np.clip(rng.poisson(8, n), 0, 100).astype(np.float64)
    delinq = np.clip(rng.poisson(0.3, n), 0, 50).astype(np.float64)
    recent = rng.integers(0, 24, n).astype(np.float64)
    older = rng.integers(24, 601, n).astype(np.float64)
    had_old = rng.random(n) < 0.3
    msld = np.where(delinq > 0, recent, np.where(had_old, older, np.nan))
    inq = np.clip(rng.poisson(1.0, n), 0, 50).astype(np.float64)
    revol = np.clip(np.round(util * income * rng.lognormal(math.log(0.3), 0.4, n), 2), 0, 2_000_000)
    x = np.stack(
        [age, income, dti, util, open_acc, delinq, msld, loan, term, emp, home, has_mort, inq, revol], axis=1
    )
    # rows on the bounds (as in fixtures/credit-risk/golden/edge.inputs.json)
    x[0] = [18, 0.0, 0.0, 0.0, 0, 0, 0, 500.0, 36, 0, 0, 0, 0, 0.0]
    x[1] = [100, 5_000_000.0, 2.0, 2.0, 100, 50, 600, 1_000_000.0, 60, 80, 2, 1, 50, 2_000_000.0]
    x[2] = [19, 9000.0, 1.25, 1.3, 1, 0, np.nan, 500.0, 60, 0, 0, 0, 9, 0.0]
    return x


def write_parquet(path: Path, x: np.ndarray, files: int = 4) -> Path:
    """``x`` as a Parquet dataset: a directory of ``files`` files (so that engines split it
    into several partitions / blocks), each with an ``id`` column (row number, int64) and one
    float64 column per feature. NaN stays NaN (not NULL): arrays built from numpy keep it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(x), files + 1).astype(int)
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        cols = {"id": pa.array(np.arange(lo, hi, dtype=np.int64))}
        for j, name in enumerate(FEATURES):
            cols[name] = pa.array(x[lo:hi, j], type=pa.float64())
        pq.write_table(pa.table(cols), path / f"part-{i:05d}.parquet")
    return path


def reference_scores(bundle_path: str, x: np.ndarray, batch: int = 10_000) -> np.ndarray:
    """Single-process ``ferry.open(bundle).infer`` over ``x`` in batches: ``[N]`` float32."""
    import ferry

    model = ferry.open(bundle_path)
    x32 = x.astype(np.float32)
    out = [model.infer({"features": x32[i : i + batch]})["probability"] for i in range(0, len(x32), batch)]
    y = np.concatenate(out, axis=0)
    assert y.shape == (len(x), 1) and y.dtype == np.float32, (y.shape, y.dtype)
    return y.reshape(-1)


def assert_scores_equal(got: np.ndarray, want: np.ndarray) -> None:
    """Every row's score equals the single-process one, bit for bit."""
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.isfinite(want).all()
    if got.dtype != np.float32:
        # a DoubleType column: widening float32 -> float64 is exact, so narrowing back is too
        assert np.array_equal(got.astype(np.float32).astype(got.dtype), got)
        got = got.astype(np.float32)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (
        f"{bad.size} of {len(want)} scores differ from the single-process run; first rows {bad[:5].tolist()}: "
        f"got {got[bad[:5]].tolist()} want {want[bad[:5]].tolist()}"
    )


@pytest.fixture(scope="session")
def batch_features() -> np.ndarray:
    return make_features()


@pytest.fixture(scope="session")
def batch_parquet(tmp_path_factory, batch_features) -> str:
    need("pyarrow")
    path = tmp_path_factory.mktemp("batchdata") / "applications"
    return str(write_parquet(path, batch_features))


@pytest.fixture(scope="session")
def batch_expected(batch_bundle, batch_features) -> np.ndarray:
    return reference_scores(batch_bundle, batch_features)


def python_path_for_workers() -> str:
    """PYTHONPATH that lets engine workers (Spark Python workers, Ray workers) import the
    same ferry as this process."""
    import ferry

    root = os.path.dirname(os.path.dirname(os.path.abspath(ferry.__file__)))
    parts = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    return os.pathsep.join(parts)


@pytest.fixture(scope="session")
def batch_spark():
    """A local[2] SparkSession whose Python workers run this interpreter and import the same
    ferry (PYTHONPATH), with Arrow on."""
    need("pyspark")
    need("pyarrow")
    import sys

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = python_path_for_workers()
    session = (
        SparkSession.builder.master("local[2]")
        .appName("ferry-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
