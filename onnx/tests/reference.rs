//! Cross-checks the reader against files written by the reference `onnx` Python package
//! (see `data/generate.py`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use ferry_onnx::{
    OnnxDim, OnnxError, TensorValues, Value, ValueKind, encode, read_model, read_tensor, read_value,
};
use ferry_spec::DType;

fn data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn old_ir_model_lists_initializers_as_inputs() {
    let info = read_model(&data("old_ir_initializer_input.onnx")).unwrap();
    assert_eq!(info.ir_version, 3);
    assert_eq!(info.opsets, BTreeMap::from([(String::new(), 8)]));
    assert_eq!(info.producer_name, "ferry-tests");
    assert_eq!(info.producer_version, "0.1");
    let names: Vec<_> = info.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["X"], "the initializer W must not be reported as an input");
    assert_eq!(info.inputs[0].shape, Some(vec![OnnxDim::Param("N".into()), OnnxDim::Value(3)]));
    assert_eq!(info.inputs[0].elem_type, Some(DType::Float32));
    assert_eq!(info.outputs[0].name, "Y");
    assert!(info.external_data.is_empty());
}

#[test]
fn kinds_subgraphs_and_external_data() {
    let info = read_model(&data("kinds.onnx")).unwrap();
    assert_eq!(info.ir_version, 10);
    assert_eq!(info.opsets, BTreeMap::from([(String::new(), 21), ("ai.onnx.ml".to_owned(), 3)]));
    // The Constant inside the If's then-branch and the top-level initializer both read external data.
    assert_eq!(info.external_data, ["weights/a.bin", "weights/b.bin"]);

    let by_name: BTreeMap<_, _> = info.inputs.iter().map(|i| (i.name.as_str(), i)).collect();
    assert_eq!(by_name.len(), 5);
    let cond = by_name["cond"];
    assert_eq!((cond.kind, cond.elem_type, cond.raw_elem_type), (ValueKind::Tensor, Some(DType::Bool), 9));
    assert_eq!(cond.shape, Some(vec![]), "a scalar has a shape of rank 0");
    let seq = by_name["seq"];
    // A sequence's innermost tensor gives its element type and shape, its type says the rest.
    assert_eq!(
        (seq.kind, seq.elem_type, seq.shape.clone()),
        (ValueKind::Sequence, Some(DType::Float32), None)
    );
    assert_eq!(seq.value_type.as_ref().map(ToString::to_string).as_deref(), Some("sequence<tensor>"));
    let opt = by_name["opt"];
    assert_eq!(opt.kind, ValueKind::Optional);
    assert_eq!(opt.value_type.as_ref().map(ToString::to_string).as_deref(), Some("optional<tensor>"));
    assert_eq!(cond.value_type, Some(ferry_spec::ValueType::Tensor));
    assert_eq!(by_name["untyped"].value_type, None);
    let bf = by_name["bf"];
    assert_eq!((bf.kind, bf.elem_type, bf.raw_elem_type), (ValueKind::Tensor, Some(DType::BFloat16), 16));
    assert_eq!(bf.shape, Some(vec![OnnxDim::Value(1), OnnxDim::Unknown]));
    assert_eq!(by_name["untyped"].kind, ValueKind::Unspecified);

    assert_eq!(info.outputs.len(), 1);
    assert_eq!(info.outputs[0].shape, None, "unknown rank");
    assert_eq!(info.outputs[0].elem_type, Some(DType::Float32));
}

fn expect(name: &str) -> (Vec<i64>, TensorValues) {
    match name {
        "float32" => (vec![2, 3], TensorValues::F32(vec![1.5, -2.0, f32::INFINITY, 0.0, -0.0, 3.25])),
        "float64" => (vec![2], TensorValues::F64(vec![1e300, -2.5])),
        "float16" => (vec![3], TensorValues::F16(vec![0x3c00, 0xc000, 0x7bff])),
        "int8" => (vec![3], TensorValues::I8(vec![-128, 0, 127])),
        "int16" => (vec![3], TensorValues::I16(vec![-32768, 1, 32767])),
        "int32" => (vec![3], TensorValues::I32(vec![i32::MIN, 0, i32::MAX])),
        "int64" => (vec![2, 1], TensorValues::I64(vec![i64::MIN, i64::MAX])),
        "uint8" => (vec![2], TensorValues::U8(vec![0, 255])),
        "uint16" => (vec![2], TensorValues::U16(vec![0, 65535])),
        "uint32" => (vec![2], TensorValues::U32(vec![0, u32::MAX])),
        "uint64" => (vec![2], TensorValues::U64(vec![0, u64::MAX])),
        "bool" => (vec![3], TensorValues::Bool(vec![true, false, true])),
        "string" => (vec![3], TensorValues::String(vec![b"a".to_vec(), vec![], "hé".as_bytes().to_vec()])),
        // The bits of generate.py's ml_dtypes arrays; int4/uint4 unpacked from ONNX's two per byte.
        "bfloat16" => (vec![3], TensorValues::BF16(vec![0x3f80, 0xc020, 0x7f62])),
        "float8e4m3fn" => (vec![3], TensorValues::F8E4M3FN(vec![0x30, 0xfe, 0x01])),
        "float8e4m3fnuz" => (vec![3], TensorValues::F8E4M3FNUZ(vec![0x7f, 0xc0, 0x01])),
        "float8e5m2" => (vec![3], TensorValues::F8E5M2(vec![0x7b, 0xbc, 0x01])),
        "float8e5m2fnuz" => (vec![3], TensorValues::F8E5M2FNUZ(vec![0x7f, 0xc0, 0x01])),
        "int4" => (vec![3], TensorValues::I4(vec![-8, 7, -1])),
        "uint4" => (vec![3], TensorValues::U4(vec![0, 15, 9])),
        _ => unreachable!(),
    }
}

#[test]
fn tensors_of_every_type_raw_and_typed() {
    for dtype in DType::ALL {
        let name = dtype.name();
        let (dims, values) = expect(name);
        let encodings: &[&str] = if dtype == DType::String { &["raw"] } else { &["raw", "typed"] };
        for enc in encodings {
            let file = format!("tensor_{name}_{enc}.pb");
            let t = read_tensor(&data(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(t.name, name, "{file}");
            assert_eq!(t.dtype, dtype, "{file}");
            assert_eq!(t.dims, dims, "{file}");
            assert_eq!(t.data, values, "{file}");
            assert_eq!(t.data.dtype(), dtype);
            // Our encoder's output reads back the same, in both encodings.
            for e in [encode::TensorEncoding::Raw, encode::TensorEncoding::Typed] {
                assert_eq!(read_tensor(&encode::tensor(&t, e)).unwrap(), t, "{file} re-encoded {e:?}");
            }
        }
    }
}

#[test]
fn scalar_empty_and_unsupported_tensors() {
    let t = read_tensor(&data("tensor_scalar.pb")).unwrap();
    assert_eq!((t.dims.clone(), t.data), (vec![], TensorValues::I64(vec![7])));
    let t = read_tensor(&data("tensor_empty.pb")).unwrap();
    assert_eq!((t.dims.clone(), t.data), (vec![0, 3], TensorValues::F32(vec![])));
    // bfloat16 (written by onnx.helper.make_tensor) is read as its bits: 1.0 is 0x3f80.
    let t = read_tensor(&data("tensor_bfloat16.pb")).unwrap();
    assert_eq!((t.dtype, t.data), (DType::BFloat16, TensorValues::BF16(vec![0x3f80])));
    // Complex numbers are not supported: the same file with data type 14.
    let mut complex = data("tensor_bfloat16.pb");
    let at = complex.windows(2).position(|w| w == [0x10, 16]).unwrap();
    complex[at + 1] = 14;
    let err = read_tensor(&complex).unwrap_err();
    assert_eq!(err, OnnxError::UnsupportedDataType { tensor: "bf".into(), code: 14, type_name: "COMPLEX64" });
    assert_eq!(err.to_string(), "tensor `bf`: unsupported data type 14 (COMPLEX64)");
}

#[test]
fn sequences_and_optionals() {
    let v = read_value(&data("sequence.pb"), ValueKind::Sequence).unwrap();
    let Value::Sequence(items) = &v else { panic!("{v:?}") };
    assert_eq!(items.len(), 2);
    let Value::Tensor(t) = &items[1] else { panic!() };
    assert_eq!((t.dims.clone(), t.data.clone()), (vec![1], TensorValues::F32(vec![3.0])));

    let v = read_value(&data("optional.pb"), ValueKind::Optional).unwrap();
    let Value::Optional(Some(inner)) = &v else { panic!("{v:?}") };
    let Value::Tensor(t) = inner.as_ref() else { panic!() };
    assert_eq!(t.data, TensorValues::I64(vec![4, 5]));
    assert_eq!(read_value(&data("optional_none.pb"), ValueKind::Optional).unwrap(), Value::Optional(None));

    // Reading a sequence file as a tensor fails instead of returning garbage.
    let err = read_tensor(&data("sequence.pb")).unwrap_err();
    assert!(matches!(err, OnnxError::Segmented { .. }), "{err}");
    assert!(read_tensor(&data("optional.pb")).is_err());
    // And the encoder writes what the reader reads.
    for file in ["sequence.pb", "optional.pb", "optional_none.pb"] {
        let kind = if file.starts_with("seq") { ValueKind::Sequence } else { ValueKind::Optional };
        let v = read_value(&data(file), kind).unwrap();
        let again = encode::value(&v, encode::TensorEncoding::Raw);
        assert_eq!(read_value(&again, kind).unwrap(), v, "{file}");
    }
}
