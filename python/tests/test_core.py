"""The Python API against the fixtures' goldens, and every way a caller can get it wrong."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import ferry

from conftest import FIXTURES


def golden_json(path):
    doc = json.loads(path.read_text())
    return {k: np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in doc.items()}


def golden_npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def model(credit_risk_bundle):
    return ferry.open(credit_risk_bundle)


def row(**changes):
    # A valid applicant: the first row of the smoke golden.
    features = golden_npz(FIXTURES / "credit-risk/golden/smoke.inputs.npz")["features"][:1].copy()
    names = [f["name"] for f in ferry_features()]
    for k, v in changes.items():
        features[0, names.index(k)] = v
    return {"features": features}


def ferry_features():
    from batchdata import CONTRACT_FEATURES

    return CONTRACT_FEATURES


@pytest.mark.parametrize(
    "inputs,expected",
    [
        ("smoke.inputs.npz", "smoke.expected.npz"),
        ("edge.inputs.json", "edge.expected.json"),
    ],
)
def test_credit_risk_goldens(model, inputs, expected):
    load = golden_npz if inputs.endswith(".npz") else golden_json
    request = load(FIXTURES / "credit-risk/golden" / inputs)
    want = load(FIXTURES / "credit-risk/golden" / expected)
    got = model.infer(request)
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype
        assert got[name].shape == value.shape
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5)


def test_outputs_are_writable_numpy_arrays(model):
    out = model.infer(row())["probability"]
    assert isinstance(out, np.ndarray) and out.flags.writeable and out.flags.c_contiguous
    out[0, 0] = 2.0


def test_non_contiguous_input_is_read_in_order(model):
    batch = golden_npz(FIXTURES / "credit-risk/golden/smoke.inputs.npz")["features"]
    strided = np.asfortranarray(batch)
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(
        model.infer({"features": strided})["probability"], model.infer({"features": batch})["probability"]
    )


def test_contract_describes_the_bundle(model):
    c = model.contract
    assert c["name"] == "credit-risk" and c["version"] == "1.0.0" and c["records"] is False
    (features,) = c["inputs"]
    assert features["name"] == "features" and features["dtype"] == "float32"
    assert features["shape"] == ["batch", 14]
    assert [f["name"] for f in features["features"]][0] == "age"
    assert model.digest.startswith("sha256:") and model.name == "credit-risk"


def test_contract_violation_names_input_feature_index_and_rule(model):
    with pytest.raises(ferry.ContractError) as e:
        model.infer(row(age=-1.0))
    err = e.value
    assert (err.input, err.feature, err.index, err.rule) == ("features", "age", [0, 0], "min")
    assert "age" in str(err)
    assert isinstance(err, ferry.FerryError)


@pytest.mark.parametrize(
    "request_,rule",
    [
        ({"features": np.zeros((1, 14), np.float64)}, "dtype"),
        ({"features": np.zeros((1, 13), np.float32)}, "dim"),
        ({"features": np.zeros((14,), np.float32)}, "rank"),
        ({}, "missing"),
        (dict(row(), extra=np.zeros(1, np.float32)), "unknown"),
        ({"features": np.full((1, 14), np.inf, np.float32)}, None),
    ],
)
def test_bad_requests_are_refused_by_the_contract(model, request_, rule):
    with pytest.raises(ferry.ContractError) as e:
        model.infer(request_)
    if rule is not None:
        assert e.value.rule == rule, str(e.value)


@pytest.mark.parametrize(
    "request_,exc",
    [
        ({"features": [[1.0] * 14]}, TypeError),
        ({"features": np.array([["a"] * 14])}, TypeError),
        ({1: np.zeros((1, 14), np.float32)}, TypeError),
        ("features", TypeError),
    ],
)
def test_non_arrays_are_type_errors(model, request_, exc):
    with pytest.raises(exc):
        model.infer(request_)


def test_missing_and_tampered_bundles(tmp_path, credit_risk_bundle):
    with pytest.raises(ferry.BundleError, match="no-such.ferry"):
        ferry.open(tmp_path / "no-such.ferry")
    tampered = tmp_path / "tampered.ferry"
    data = bytearray(open(credit_risk_bundle, "rb").read())
    # Flip a byte in the middle of the ONNX weights blob, the biggest part of the file.
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ferry.BundleError):
        ferry.open(tampered)


def test_policy_requiring_a_signature_refuses_an_unsigned_bundle_and_opens_a_signed_one(tmp_path, credit_risk_bundle):
    subprocess_keygen(tmp_path)
    (tmp_path / "release.toml").write_text('[trust]\nkeys = ["signer.pub"]\nmin_signatures = 1\n')
    bundle = tmp_path / "b.ferry"
    shutil.copy(credit_risk_bundle, bundle)
    with pytest.raises(ferry.UntrustedError, match="min_signatures"):
        ferry.open(bundle, policy=tmp_path / "release.toml")
    digest = ferry.sign(bundle, tmp_path / "signer.key")
    assert digest.startswith("sha256:")
    m = ferry.open(bundle, policy=tmp_path / "release.toml")
    assert m.infer(row())["probability"].shape == (1, 1)
    report = ferry.verify(bundle, policy=tmp_path / "release.toml", keys=[tmp_path / "signer.pub"])
    assert report.passed, json.dumps(report, indent=1)


def subprocess_keygen(dir):
    ferry.keygen(dir / "signer.key", dir / "signer.pub")
    assert (dir / "signer.key").stat().st_mode & 0o077 == 0
    with pytest.raises(ferry.SignError, match="exists"):
        ferry.keygen(dir / "signer.key", dir / "other.pub")


def test_verify_reports_failures_without_raising(tmp_path, credit_risk_bundle):
    report = ferry.verify(credit_risk_bundle)
    assert report.passed and report["summary"]["failed"] == 0
    with pytest.raises(ferry.VerifyError):
        ferry.verify(tmp_path / "missing.ferry")
    with pytest.raises(ferry.PolicyError):
        ferry.verify(credit_risk_bundle, policy=tmp_path / "missing.toml")


def test_pack_is_deterministic_and_leaves_nothing_on_failure(tmp_path):
    a = ferry.pack(FIXTURES / "credit-risk", tmp_path / "a.ferry")
    b = ferry.pack(FIXTURES / "credit-risk", tmp_path / "b.ferry")
    assert a == b and (tmp_path / "a.ferry").read_bytes() == (tmp_path / "b.ferry").read_bytes()
    with pytest.raises(ferry.PackError):
        ferry.pack(tmp_path / "no-source", tmp_path / "c.ferry")
    assert not (tmp_path / "c.ferry").exists()


def test_pack_profiles_a_reference_and_verify_finds_the_drift(tmp_path):
    bundle = tmp_path / "drift.ferry"
    ferry.pack(FIXTURES / "credit-drift", bundle)
    samples = FIXTURES / "credit-drift/samples"
    same = ferry.verify(bundle, data=samples / "same.csv")
    assert same.passed, same
    shifted = ferry.verify(bundle, data=samples / "income_shift.csv")
    assert not shifted.passed
    check = next(c for c in shifted["checks"] if c["id"] == "drift.features")
    assert check["status"] == "failed" and "`annual_income`" in check["message"]
    # A reference sample from outside the source: the same sample gives the same bundle.
    again = tmp_path / "again.ferry"
    ferry.pack(FIXTURES / "credit-drift", again, reference=FIXTURES / "credit-drift/reference/train_sample.csv")
    assert again.read_bytes() == bundle.read_bytes()


def test_records_in_decisions_out(credit_application_bundle):
    m = ferry.open(credit_application_bundle)
    assert m.contract["records"] is True
    golden = FIXTURES / "credit-application/golden"
    records = golden.joinpath("applications.jsonl").read_text().splitlines()
    want = [json.loads(l) for l in golden.joinpath("applications.decisions.jsonl").read_text().splitlines()]
    got = m.infer_records(records)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        assert g["probability"] == pytest.approx(w["probability"], rel=1e-4, abs=1e-5)
        assert {k: v for k, v in g.items() if k != "probability"} == {k: v for k, v in w.items() if k != "probability"}
    assert m.infer_records([json.loads(records[0])])[0]["application_id"] == want[0]["application_id"]
    with pytest.raises(ferry.RecordError):
        m.infer_records(["not json"])


def test_records_on_a_bundle_without_transforms(model):
    with pytest.raises(ferry.TransformError):
        model.infer_records([{"a": 1}])


def test_text_embedding_golden(text_embedding_bundle):
    from safetensors_reader import read_safetensors

    m = ferry.open(text_embedding_bundle)
    golden = FIXTURES / "text-embedding/golden"
    request = read_safetensors(golden / "smoke.inputs.safetensors")
    want = read_safetensors(golden / "smoke.expected.safetensors")
    got = m.infer(request)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5)


def test_pickled_model_reopens_lazily_and_refuses_a_changed_file(tmp_path, credit_risk_bundle):
    path = tmp_path / "p.ferry"
    shutil.copy(credit_risk_bundle, path)
    m = ferry.open(path)
    clone = pickle.loads(pickle.dumps(m))
    assert clone.digest == m.digest and clone._native is None
    np.testing.assert_array_equal(clone.infer(row())["probability"], m.infer(row())["probability"])
    # Another bundle at the same path: the pickle names the old digest, so the reopen is refused.
    ferry.pack(FIXTURES / "text-embedding", path)
    ferry._cache.clear()
    stale = pickle.loads(pickle.dumps(m))
    with pytest.raises(ferry.BundleChangedError, match="changed"):
        stale.infer(row())
    assert issubclass(ferry.BundleChangedError, ferry.UntrustedError)


def test_pickled_model_runs_in_a_fresh_process(credit_risk_bundle):
    m = ferry.open(credit_risk_bundle)
    code = (
        "import pickle,sys,numpy as np;"
        "m=pickle.loads(sys.stdin.buffer.read());"
        "print(float(m.infer({'features':np.load(sys.argv[1])['features'][:1]})['probability'][0,0]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(FIXTURES / "credit-risk/golden/smoke.inputs.npz")],
        input=pickle.dumps(m),
        capture_output=True,
        check=True,
    )
    assert float(out.stdout) == pytest.approx(float(m.infer(row())["probability"][0, 0]))


def test_threads_share_one_model_and_the_gil_is_released(model):
    batch = golden_npz(FIXTURES / "credit-risk/golden/smoke.inputs.npz")
    want = model.infer(batch)["probability"]
    errors = []

    def work():
        try:
            for _ in range(200):
                np.testing.assert_array_equal(model.infer(batch)["probability"], want)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_wheel_library_is_the_pinned_onnxruntime():
    import onnxruntime

    assert onnxruntime.__version__ == "1.31.1"


def test_a_huge_broadcast_view_is_refused_before_a_byte_is_copied(model):
    # 10^10 rows x 14 float32 is 560 GB if copied; numpy holds it as one value with zero strides. The
    # contract sees the shape first and refuses it (size), so nothing is allocated.
    huge = np.broadcast_to(np.float32(30.0), (10**10, 14))
    with pytest.raises(ferry.ContractError) as e:
        model.infer({"features": huge})
    assert e.value.rule == "size", str(e.value)
    wrong = np.broadcast_to(np.float64(30.0), (10**10, 14))
    with pytest.raises(ferry.ContractError) as e:
        model.infer({"features": wrong})
    assert e.value.rule == "dtype", str(e.value)


def test_hostile_records_are_refused_not_crashed(credit_application_bundle):
    m = ferry.open(credit_application_bundle)
    deep = "[" * 100_000 + "]" * 100_000
    for record in ["", "{", deep, '{"a": "' + "x" * (8 << 20) + '"}', "[1, 2]", "null"]:
        with pytest.raises(ferry.RecordError):
            m.infer_records([record])


def test_overrides_travel_with_a_pickled_model_and_bad_ones_are_config_errors(credit_risk_bundle):
    m = ferry.open(credit_risk_bundle, overrides={"currency": "EUR"})
    clone = pickle.loads(pickle.dumps(m))
    assert clone._overrides == (("currency", "EUR"),)
    np.testing.assert_array_equal(clone.infer(row())["probability"], m.infer(row())["probability"])
    with pytest.raises(ferry.ConfigError, match="decision_threshold"):
        ferry.open(credit_risk_bundle, overrides={"decision_threshold": '"high"'})


def test_a_forked_child_reopens_the_bundle_instead_of_sharing_sessions(model):
    import os

    want = model.infer(row())["probability"]
    pid = os.fork()
    if pid == 0:  # the child: its model dropped the parent's handle, and reopens on the first call
        try:
            dropped = model._native is None
            same = np.array_equal(model.infer(row())["probability"], want)
            os._exit(0 if dropped and same else 3)
        except BaseException:  # noqa: BLE001 - any failure is the child's exit code
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert model._native is not None  # the parent keeps its own
