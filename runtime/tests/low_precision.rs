//! bfloat16, float8 and int4/uint4 end to end: `ferry init` on a model with such inputs and outputs, a
//! golden set, `pack`, then ONNX Runtime through `ferry_runtime`, checked element for element (bits)
//! against what ml_dtypes computed (`fixtures/low-precision/generate.py`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use ferry_runtime::compare::compare;
use ferry_runtime::{OpenOptions, Runtime, RuntimeOptions};
use ferry_spec::{DType, Tolerance};
use ferry_tensor::{TensorData, read_file};
use ferry_testkit::{fixture, tempdir};

/// Every element's bits, so that -0.0 is not 0.0 and NaN is a code, not "unequal to itself".
fn bits(data: &TensorData) -> Vec<u64> {
    match data {
        TensorData::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
        TensorData::I8(v) => v.iter().map(|&x| u64::from(x.to_le_bytes()[0])).collect(),
        TensorData::BF16(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
        TensorData::F8E4M3FN(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
        TensorData::F8E5M2(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
        TensorData::I4(v) => v.iter().map(|&x| u64::from(x.to_le_bytes()[0])).collect(),
        TensorData::U4(v) => v.iter().map(|&x| u64::from(x)).collect(),
        other => panic!("unexpected {:?}", other.dtype()),
    }
}

#[test]
fn low_precision_tensors_init_pack_and_run_bit_exact() {
    let dir = tempdir();
    let src = dir.path().join("src");
    let fixtures = fixture("low-precision");
    ferry_packager::init(&fixtures.join("model.onnx"), &src).unwrap();
    let mut toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    for (name, dtype) in [
        ("h", "bfloat16"),
        ("f", "float8e5m2"),
        ("q", "int4"),
        ("u", "uint4"),
        ("x_bf16", "bfloat16"),
        ("x_e4m3fn", "float8e4m3fn"),
    ] {
        let declared = format!("name = \"{name}\"\ndtype = \"{dtype}\"");
        assert!(toml.contains(&declared), "init did not declare {name} as {dtype}:\n{toml}");
    }
    // The golden set NumPy wrote: raw-byte descrs (`<V2`, `<V1`, `<f1`) read as the declared dtypes.
    std::fs::create_dir(src.join("golden")).unwrap();
    for file in ["inputs.npz", "expected.npz"] {
        std::fs::copy(fixtures.join(file), src.join("golden").join(file)).unwrap();
    }
    toml.push_str("\n[[golden]]\nname = \"ml-dtypes\"\ninputs = \"golden/inputs.npz\"\nexpected = \"golden/expected.npz\"\n");
    std::fs::write(src.join("ferry.toml"), toml).unwrap();
    let (_bundle_dir, bundle) = ferry_testkit::pack(&src);

    let runtime = Runtime::new(RuntimeOptions::default()).expect("ONNX Runtime (scripts/fetch-onnxruntime)");
    let model = runtime.open(&bundle, &OpenOptions::default()).unwrap();
    let declared = |pairs: &[(&str, DType)]| -> BTreeMap<String, DType> {
        pairs.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect()
    };
    let inputs = read_file(
        &fixtures.join("inputs.npz"),
        &declared(&[
            ("x", DType::Float32),
            ("h", DType::BFloat16),
            ("f", DType::Float8E5M2),
            ("q", DType::Int4),
            ("u", DType::Uint4),
        ]),
    )
    .unwrap();
    let expected = read_file(
        &fixtures.join("expected.npz"),
        &declared(&[
            ("x_bf16", DType::BFloat16),
            ("x_e4m3fn", DType::Float8E4M3FN),
            ("f_id", DType::Float8E5M2),
            ("q_id", DType::Int4),
            ("u_id", DType::Uint4),
        ]),
    )
    .unwrap();
    assert_eq!(expected.len(), 8);
    let outputs = model.infer(&inputs).unwrap();
    assert_eq!(outputs.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (name, want) in &expected {
        let got = &outputs[name];
        assert_eq!((got.dtype(), &got.shape), (want.dtype(), &want.shape), "{name}");
        assert_eq!(bits(&got.data), bits(&want.data), "{name}: {:?} vs {:?}", got.data, want.data);
        let (rtol, atol) = Tolerance::default().resolve(want.dtype());
        assert!(compare(want, got, rtol, atol).pass, "{name}");
    }
    // An int4 entry out of range never reaches ONNX Runtime (packing would keep only its low bits).
    let mut bad = inputs.clone();
    bad.get_mut("q").unwrap().data = TensorData::I4(vec![-8, 7, -1, 0, 9]);
    let e = model.infer(&bad).unwrap_err().to_string();
    assert!(e.contains("9 is out of range for int4"), "{e}");
}
