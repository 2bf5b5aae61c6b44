use crate::common::*;
use ferry_tensor::{Tensor, TensorData, TensorMap};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn packed(name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{name}.ferry"));
    pack(&fixture(name), &out);
    out
}

/// Every golden set of every fixture, run through `ferry run`, reproduces its expected outputs within
/// the set's tolerances; outputs go through each writable format.
#[test]
fn run_reproduces_every_golden_set() {
    let t = tempdir();
    for name in ["credit-risk", "text-embedding"] {
        let bundle = packed(name, t.path());
        let src = ferry_spec::Source::from_toml_str(
            &std::fs::read_to_string(fixture(name).join("ferry.toml")).unwrap(),
        )
        .unwrap();
        for g in &src.golden {
            for ext in ["json", "npz", "safetensors"] {
                let out = t.path().join(format!("{name}-{}.{ext}", g.name));
                let o = run(&[
                    "run",
                    bundle.to_str().unwrap(),
                    "--input",
                    fixture(name).join(g.side(ferry_spec::GoldenSide::Inputs).path).to_str().unwrap(),
                    "--output",
                    out.to_str().unwrap(),
                ]);
                assert_eq!(code(&o), 0, "{name}/{}: {}", g.name, stderr(&o));
                let actual = ferry_tensor::read_file(&out, &BTreeMap::new()).unwrap();
                let expected = ferry_tensor::read_file(
                    &fixture(name).join(g.side(ferry_spec::GoldenSide::Outputs).path),
                    &BTreeMap::new(),
                )
                .unwrap();
                assert_eq!(actual.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
                for (k, e) in &expected {
                    let (rtol, atol) = g.tolerance(k, e.dtype());
                    let c = ferry_runtime::compare::compare(e, &actual[k], rtol, atol);
                    assert!(c.pass, "{name}/{}/{k} via .{ext}: {c:?}", g.name);
                }
            }
        }
    }
}

#[test]
fn json_output_goes_to_stdout_by_default() {
    let t = tempdir();
    let bundle = packed("credit-risk", t.path());
    let o = run(&[
        "run",
        bundle.to_str().unwrap(),
        "--input",
        fixture("credit-risk").join("golden/edge.inputs.json").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["probability"]["shape"], serde_json::json!([3, 1]));
}

fn refused_on_open(what: &str, bytes: &[u8], needle: &str) {
    let t = tempdir();
    let bundle = t.path().join("bad.ferry");
    std::fs::write(&bundle, bytes).unwrap();
    refused_to_run(what, &bundle, needle);
}

/// Runs the bundle at `bundle` and expects exit 1, an error containing `needle` and no output.
fn refused_to_run(what: &str, bundle: &Path, needle: &str) {
    let o = run(&[
        "run",
        bundle.to_str().unwrap(),
        "--input",
        fixture("credit-risk").join("golden/edge.inputs.json").to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{what}: expected exit 1, got {}: {err}", code(&o));
    assert!(err.contains(needle), "{what}: error lacks {needle:?}:\n{err}");
    assert!(stdout(&o).is_empty(), "{what}: produced output");
}

#[test]
fn tampered_truncated_and_mispinned_bundles_are_refused() {
    let t = tempdir();
    let good = std::fs::read(packed("credit-risk", t.path())).unwrap();
    let b = ferry_bundle::Bundle::from_bytes(good.clone()).unwrap();
    let flipped = t.path().join("flipped.ferry");
    for path in ["model.onnx", "golden/smoke.inputs.npz", "config.json"] {
        let f = b.manifest().file(path).unwrap();
        let blob = b.blob(&f.blob).unwrap();
        std::fs::write(&flipped, &good).unwrap();
        flip_byte_at(&flipped, find(&good, blob) + blob.len() / 2);
        refused_to_run(&format!("flipped byte in {path}"), &flipped, &format!("`file `{path}`"));
    }
    refused_on_open("truncated", &good[..good.len() - 3000], "truncated");
    let mispinned = reassemble(&good, |m, _| m.pins.onnxruntime = ">=1.40.0, <1.41.0".into());
    refused_on_open(
        "pins exclude this runtime",
        &mispinned,
        "pin `onnxruntime`: the bundle requires >=1.40.0, <1.41.0",
    );
    let future = reassemble(&good, |m, _| m.format_version = ferry_spec::FORMAT_VERSION + 1);
    refused_on_open("newer format", &future, "format version 3 is not supported");
}

fn f32_tensor(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
    Tensor::new(shape, TensorData::F32(data)).unwrap()
}

fn edge_row() -> Vec<f32> {
    // A valid applicant: every value inside the contract's ranges and allowed sets.
    vec![35.0, 60000.0, 0.3, 0.4, 5.0, 0.0, 24.0, 15000.0, 36.0, 6.0, 1.0, 1.0, 1.0, 8000.0]
}

/// Writes `inputs` to a file, runs the bundle on it, and expects exit 1 with every needle in the error.
fn bad_request(bundle: &Path, what: &str, inputs: TensorMap, needles: &[&str]) {
    let t = tempdir();
    let input = t.path().join("req.safetensors");
    ferry_tensor::write_file(&input, &inputs).unwrap();
    let o = run(&["run", bundle.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{what}: expected exit 1, got {}: {err}", code(&o));
    for n in needles {
        assert!(err.contains(n), "{what}: error lacks {n:?}:\n{err}");
    }
}

#[test]
fn bad_requests_are_refused_with_the_input_feature_and_value() {
    let t = tempdir();
    let cr = packed("credit-risk", t.path());
    let te = packed("text-embedding", t.path());
    let ok = TensorMap::from([("features".to_owned(), f32_tensor(vec![1, 14], edge_row()))]);
    let o = {
        let input = t.path().join("ok.safetensors");
        ferry_tensor::write_file(&input, &ok).unwrap();
        run(&["run", cr.to_str().unwrap(), "--input", input.to_str().unwrap()])
    };
    assert_eq!(code(&o), 0, "the valid request must pass: {}", stderr(&o));

    let f64_row: Vec<f64> = edge_row().into_iter().map(f64::from).collect();
    bad_request(
        &cr,
        "wrong dtype",
        TensorMap::from([("features".into(), Tensor::new(vec![1, 14], TensorData::F64(f64_row)).unwrap())]),
        &["input `features`", "dtype is float64, the contract says float32"],
    );
    bad_request(
        &cr,
        "wrong rank",
        TensorMap::from([("features".into(), f32_tensor(vec![14], edge_row()))]),
        &["input `features`", "has 1 axis,"],
    );
    let mut young = edge_row();
    young[0] = 5.0;
    bad_request(
        &cr,
        "out of range",
        TensorMap::from([("features".into(), f32_tensor(vec![1, 14], young))]),
        &["feature `age`", "value 5.0 is below the minimum 18"],
    );
    let mut term = edge_row();
    term[8] = 48.0;
    bad_request(
        &cr,
        "not allowed",
        TensorMap::from([("features".into(), f32_tensor(vec![1, 14], term))]),
        &["feature `loan_term_months`", "48"],
    );
    let mut nan = edge_row();
    nan[0] = f32::NAN;
    bad_request(
        &cr,
        "null in a non-nullable feature",
        TensorMap::from([("features".into(), f32_tensor(vec![1, 14], nan))]),
        &["feature `age`", "not nullable"],
    );
    bad_request(
        &cr,
        "misspelt input",
        TensorMap::from([("feature".into(), f32_tensor(vec![1, 14], edge_row()))]),
        // Refused from the file's header, before the undeclared tensor's data is read.
        &[
            "tensor `feature` declares float32 [1, 14]",
            "input `feature`: is not an input of this model (declared: features)",
        ],
    );
    bad_request(
        &cr,
        "unknown input",
        TensorMap::from([
            ("features".into(), f32_tensor(vec![1, 14], edge_row())),
            ("bogus".into(), f32_tensor(vec![1, 14], edge_row())),
        ]),
        &["input `bogus`", "not an input of this model"],
    );
    let ids = Tensor::new(vec![2, 12], TensorData::I64(vec![1; 24])).unwrap();
    bad_request(
        &te,
        "missing input",
        TensorMap::from([("input_ids".into(), ids.clone())]),
        &["input `attention_mask`", "missing"],
    );
    let mask = Tensor::new(vec![2, 10], TensorData::I64(vec![1; 20])).unwrap();
    bad_request(
        &te,
        "inconsistent symbolic dims",
        TensorMap::from([("input_ids".into(), ids), ("attention_mask".into(), mask)]),
        &["dimension `seq`"],
    );
}

#[test]
fn config_overrides_are_validated_with_pointer_and_rule() {
    let t = tempdir();
    let cr = packed("credit-risk", t.path());
    let input = fixture("credit-risk").join("golden/edge.inputs.json");
    let o = run(&[
        "run",
        cr.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--config",
        "decision_threshold=0.7",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&[
        "run",
        cr.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--config",
        "decision_threshold=7",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("/decision_threshold") && stderr(&o).contains("maximum"), "{}", stderr(&o));
    let o = ferry()
        .args(["run", cr.to_str().unwrap(), "--input", input.to_str().unwrap()])
        .env("FERRY_CONFIG__CURRENCY", "JPY")
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("/currency"), "{}", stderr(&o));
}

/// A reader that closes the pipe early (`ferry run … | head -c 10`) is an I/O error with exit 2, not a
/// panic (exit 101).
#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let t = tempdir();
    let b = packed("text-embedding", t.path());
    let input = fixture("text-embedding").join("golden/smoke.inputs.safetensors");
    for args in [
        vec!["run", b.to_str().unwrap(), "--input", input.to_str().unwrap()],
        vec!["audit", b.to_str().unwrap(), "--json"],
        vec!["inspect", b.to_str().unwrap(), "--json"],
    ] {
        let mut child = ferry()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert!(matches!(code(&o), 0 | 2), "{args:?}: exit {}: {}", code(&o), stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
}
