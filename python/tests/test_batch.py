"""ferry.batch (shared by the Spark, Ray and MLflow integrations), without any engine."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from batchdata import (  # noqa: F401  (fixtures)
    FEATURES,
    assert_scores_equal,
    batch_bundle,
    batch_expected,
    batch_features,
    python_path_for_workers,
)


def test_integration_modules_import_without_engines(batch_bundle):
    """Importing ferry.spark / ferry.ray / ferry.mlflow pulls in none of pyspark, ray, mlflow."""
    code = (
        "import sys, ferry.batch, ferry.spark, ferry.ray, ferry.mlflow\n"
        "bad = [m for m in ('pyspark', 'ray', 'mlflow') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {"PYTHONPATH": python_path_for_workers(), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_scorer_defaults_from_contract(batch_bundle, batch_features, batch_expected):
    from ferry.batch import Scorer

    s = Scorer(batch_bundle)
    assert s.columns == FEATURES
    assert s.scalar_output and s.output_dtype == np.float32
    cols = {c: batch_features[:, j] for j, c in enumerate(FEATURES)}
    # batches of 10,000 inside predict_matrix; the reference used the same cut
    assert_scores_equal(s.predict(cols), batch_expected)
    assert_scores_equal(s.predict_matrix(batch_features), batch_expected)
    assert s.predict_matrix(batch_features[:0]).shape == (0,)


def test_scorer_refuses_bad_names(batch_bundle):
    import ferry
    from ferry.batch import Scorer

    with pytest.raises(ferry.FerryError, match="no input named"):
        Scorer(batch_bundle, input="nope")
    with pytest.raises(ferry.FerryError, match="no output named"):
        Scorer(batch_bundle, output="nope")
    with pytest.raises(ferry.FerryError, match="14 columns"):
        Scorer(batch_bundle, columns=FEATURES[:3])
    s = Scorer(batch_bundle)
    with pytest.raises(ferry.FerryError, match="missing"):
        s.predict({c: np.zeros(3) for c in FEATURES[1:]})


def test_scorer_pickles_as_path_and_digest(batch_bundle, batch_features, batch_expected, tmp_path):
    """An unpickled Scorer reopens the bundle and refuses one whose digest changed."""
    from ferry.batch import Scorer, clear_cache

    copy = tmp_path / "copy.ferry"
    shutil.copyfile(batch_bundle, copy)
    s = Scorer(str(copy))
    blob = pickle.dumps(s)
    assert len(blob) < 10_000  # no model bytes in the pickle
    clear_cache()
    s2 = pickle.loads(blob)
    assert s2._model is None
    assert_scores_equal(s2.predict_matrix(batch_features[:1000]), batch_expected[:1000])
    assert s2.model is s2.model  # opened once

    s3 = pickle.loads(blob)
    s3.digest = "sha256:" + "0" * 64  # as if the file had been replaced since
    clear_cache()
    import ferry

    # The reopen is lazy (as unpickling a ferry.Model is): refused at the first call.
    with pytest.raises(ferry.BundleChangedError, match="changed"):
        s3.predict_matrix(batch_features[:10])
