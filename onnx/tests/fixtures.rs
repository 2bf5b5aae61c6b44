//! The repository's fixture models (`fixtures/`, made by `fixtures/generate.py`).
//!
//! Each test skips, with a note on stderr, only when its model file is absent (a checkout without
//! fixtures); a present but unreadable or different model fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_onnx::{ModelInfo, OnnxDim, ValueInfo, ValueKind, read_model};
use ferry_spec::DType;

fn fixture(name: &str) -> Option<ModelInfo> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(name).join("model.onnx");
    match std::fs::read(&path) {
        Ok(bytes) => Some(read_model(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipping: {} is absent", path.display());
            None
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn tensor(name: &str, dtype: DType, shape: &[OnnxDim]) -> ValueInfo {
    ValueInfo {
        name: name.to_owned(),
        kind: ValueKind::Tensor,
        elem_type: Some(dtype),
        raw_elem_type: dtype.onnx_code(),
        shape: Some(shape.to_vec()),
        value_type: Some(ferry_spec::ValueType::Tensor),
    }
}

fn param(p: &str) -> OnnxDim {
    OnnxDim::Param(p.to_owned())
}

#[test]
fn credit_risk() {
    let Some(info) = fixture("credit-risk") else { return };
    assert_eq!(info.ir_version, 8);
    assert_eq!(info.opsets, BTreeMap::from([(String::new(), 17)]));
    assert_eq!(info.producer_name, "ferry-fixtures");
    assert_eq!(info.inputs, [tensor("features", DType::Float32, &[param("batch"), OnnxDim::Value(14)])]);
    assert_eq!(info.outputs, [tensor("probability", DType::Float32, &[param("batch"), OnnxDim::Value(1)])]);
    assert!(info.external_data.is_empty());
}

#[test]
fn text_embedding() {
    let Some(info) = fixture("text-embedding") else { return };
    assert_eq!(info.ir_version, 8);
    assert_eq!(info.opsets, BTreeMap::from([(String::new(), 17)]));
    let bs = [param("batch"), param("seq")];
    assert_eq!(
        info.inputs,
        [tensor("input_ids", DType::Int64, &bs), tensor("attention_mask", DType::Int64, &bs)]
    );
    assert_eq!(info.outputs, [tensor("embedding", DType::Float32, &[param("batch"), OnnxDim::Value(64)])]);
    assert_eq!(info.external_data, ["model.onnx.data"]);
    assert_eq!(info.pins().external_data, ["model.onnx.data"]);
}

/// skl2onnx's classifier (`fixtures/generate_classifier.py`): its ZipMap output is read to the innermost
/// tensor, a sequence of maps from int64 to float32 scalars.
#[test]
fn iris_classifier_zipmap() {
    let Some(info) = fixture("iris-classifier") else { return };
    assert_eq!(info.opsets, BTreeMap::from([(String::new(), 17), ("ai.onnx.ml".to_owned(), 1)]));
    assert_eq!(info.inputs, [tensor("X", DType::Float32, &[OnnxDim::Unknown, OnnxDim::Value(4)])]);
    let [label, proba] = &info.outputs[..] else { panic!("{:?}", info.outputs) };
    assert_eq!(label.value_type, Some(ferry_spec::ValueType::Tensor));
    assert_eq!((label.name.as_str(), label.elem_type), ("output_label", Some(DType::Int64)));
    assert_eq!(
        (proba.name.as_str(), proba.kind, proba.elem_type),
        ("output_probability", ValueKind::Sequence, Some(DType::Float32))
    );
    let ty = proba.value_type.as_ref().map(ToString::to_string);
    assert_eq!(ty.as_deref(), Some("sequence<map<int64, tensor>>"));
}
