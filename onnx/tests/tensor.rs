//! `read_tensor` / `read_value` on hand-made encodings and malformed tensors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_onnx::encode::{self, ProtoWriter, TensorEncoding};
use ferry_onnx::{OnnxError, TensorProtoData, TensorValues, Value, ValueKind, read_tensor, read_value};
use ferry_spec::DType;

fn header(name: &str, dtype: DType, dims: &[i64]) -> ProtoWriter {
    let mut t = ProtoWriter::new();
    for &d in dims {
        t.int64(1, d);
    }
    t.int64(2, i64::from(dtype.onnx_code())).string(8, name);
    t
}

#[test]
fn unpacked_and_split_repeated_fields() {
    // float_data: one packed chunk, then two unpacked elements.
    let mut t = header("f", DType::Float32, &[3]);
    t.packed_fixed32(4, [1.0f32.to_bits()]).fixed32(4, 2.0f32.to_bits()).fixed32(4, 3.0f32.to_bits());
    assert_eq!(read_tensor(t.as_bytes()).unwrap().data, TensorValues::F32(vec![1.0, 2.0, 3.0]));
    // double_data unpacked.
    let mut t = header("d", DType::Float64, &[2]);
    t.fixed64(10, 0.5f64.to_bits()).fixed64(10, 4.0f64.to_bits());
    assert_eq!(read_tensor(t.as_bytes()).unwrap().data, TensorValues::F64(vec![0.5, 4.0]));
    // int64_data unpacked, negative.
    let mut t = header("i", DType::Int64, &[2]);
    t.int64(7, -5).int64(7, 1 << 40);
    assert_eq!(read_tensor(t.as_bytes()).unwrap().data, TensorValues::I64(vec![-5, 1 << 40]));
    // Packed dims, as proto3 writers produce.
    let mut t = ProtoWriter::new();
    t.packed_varints(1, [2, 1]).int64(2, 6).packed_varints(5, [1, 2]);
    let got = read_tensor(t.as_bytes()).unwrap();
    assert_eq!((got.name.as_str(), got.dims, got.data), ("", vec![2, 1], TensorValues::I32(vec![1, 2])));
}

#[test]
fn int32_data_sign_extension_and_truncation() {
    // -1 as a 10-byte sign-extended varint (protobuf's int32 encoding) and as a 5-byte 32-bit varint.
    let mut t = header("i", DType::Int8, &[2]);
    t.int64(5, -1).key(5, 0).raw(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(read_tensor(t.as_bytes()).unwrap().data, TensorValues::I8(vec![-1, -1]));
    // Out of range for the narrow type.
    let mut t = header("i8", DType::Int8, &[2]);
    t.packed_varints(5, [1, 200]);
    let err = read_tensor(t.as_bytes()).unwrap_err();
    assert_eq!(err, OnnxError::OutOfRange { tensor: "i8".into(), index: 1, value: 200, dtype: DType::Int8 });
    assert_eq!(err.to_string(), "tensor `i8`: element 1 (200) is out of range for int8");
    let mut t = header("u32", DType::Uint32, &[1]);
    t.varint(11, 1 << 32);
    assert!(matches!(read_tensor(t.as_bytes()), Err(OnnxError::OutOfRange { index: 0, .. })));
    let mut t = header("h", DType::Float16, &[1]);
    t.int64(5, -1);
    assert!(matches!(read_tensor(t.as_bytes()), Err(OnnxError::OutOfRange { .. })));
}

#[test]
fn element_count_must_match_dims() {
    let mut t = header("x", DType::Float32, &[2, 2]);
    t.packed_fixed32(4, [0, 0, 0]);
    let err = read_tensor(t.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "tensor `x`: 3 elements stored, but dims [2, 2] need 4");
    let mut t = header("", DType::Int64, &[]);
    t.bytes(9, &[]);
    assert_eq!(
        read_tensor(t.as_bytes()).unwrap_err().to_string(),
        "tensor `<unnamed>`: 0 elements stored, but dims [] need 1"
    );
    let t = header("n", DType::Float32, &[2, -1]);
    assert!(matches!(read_tensor(t.as_bytes()), Err(OnnxError::NegativeDim { .. })));
    let t = header("o", DType::Float32, &[1 << 40, 1 << 40]);
    assert!(matches!(read_tensor(t.as_bytes()), Err(OnnxError::DimsOverflow { .. })));
    // A huge declared shape with no data is an error, not an allocation.
    let t = header("big", DType::Float32, &[1 << 40]);
    assert!(matches!(read_tensor(t.as_bytes()), Err(OnnxError::ElementCount { actual: 0, .. })));
}

#[test]
fn raw_data_rules() {
    let mut t = header("r", DType::Int32, &[1]);
    t.bytes(9, &[1, 2, 3]);
    assert_eq!(
        read_tensor(t.as_bytes()).unwrap_err(),
        OnnxError::RawDataLength { tensor: "r".into(), len: 3, size: 4, dtype: DType::Int32 }
    );
    let mut t = header("c", DType::Int32, &[1]);
    t.bytes(9, &[1, 0, 0, 0]).packed_varints(5, [1]);
    assert_eq!(
        read_tensor(t.as_bytes()).unwrap_err(),
        OnnxError::ConflictingData { tensor: "c".into(), field: "int32_data" }
    );
    let mut t = header("s", DType::String, &[1]);
    t.bytes(9, b"abc");
    assert!(matches!(read_tensor(t.as_bytes()), Err(OnnxError::WrongDataField { found: "raw_data", .. })));
    let mut t = header("w", DType::Float32, &[1]);
    t.int64(7, 1);
    let err = read_tensor(t.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "tensor `w`: float32 data found in int64_data, expected float_data");
    // Bool bytes other than 0/1 read as true, as NumPy's cast does.
    let mut t = header("b", DType::Bool, &[2]);
    t.bytes(9, &[0, 2]);
    assert_eq!(read_tensor(t.as_bytes()).unwrap().data, TensorValues::Bool(vec![false, true]));
}

#[test]
fn external_and_segmented_tensors_are_refused() {
    let t = encode::external_tensor("w", DType::Float32, &[4], "w.bin", 0, 16);
    let err = read_tensor(t.as_bytes()).unwrap_err();
    assert_eq!(err, OnnxError::ExternalData { tensor: "w".into(), location: "w.bin".into() });
    let mut t = header("seg", DType::Float32, &[1]);
    t.bytes(3, &[0x08, 0x00, 0x10, 0x01]).packed_fixed32(4, [0]);
    assert_eq!(read_tensor(t.as_bytes()).unwrap_err(), OnnxError::Segmented { tensor: "seg".into() });
}

#[test]
fn truncated_and_bad_packed_fields_report_offsets() {
    let mut t = header("x", DType::Float32, &[1]);
    let at = t.as_bytes().len();
    t.bytes(4, &[0, 0, 0]);
    assert_eq!(
        read_tensor(t.as_bytes()).unwrap_err(),
        OnnxError::PackedLength { message: "TensorProto", field: 4, offset: at, len: 3, width: 4 }
    );
    let mut t = header("x", DType::Float32, &[1]);
    t.key(9, 2).raw_varint(1000).raw(&[0; 10]);
    let err = read_tensor(t.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("field 9 of TensorProto at byte {at}: needs 1000 bytes, only 10 left")
    );
}

fn sample(dtype: DType) -> TensorProtoData {
    let data = match dtype {
        DType::Float16 => TensorValues::F16(vec![0x3c00, 0x7e00, 0x8000, 0x0001]),
        DType::Float32 => TensorValues::F32(vec![f32::MIN_POSITIVE, -1.0, f32::MAX, 0.0]),
        DType::Float64 => TensorValues::F64(vec![f64::EPSILON, -1.0, f64::MAX, f64::NEG_INFINITY]),
        DType::Int8 => TensorValues::I8(vec![i8::MIN, -1, 0, i8::MAX]),
        DType::Int16 => TensorValues::I16(vec![i16::MIN, -1, 0, i16::MAX]),
        DType::Int32 => TensorValues::I32(vec![i32::MIN, -1, 0, i32::MAX]),
        DType::Int64 => TensorValues::I64(vec![i64::MIN, -1, 0, i64::MAX]),
        DType::Uint8 => TensorValues::U8(vec![0, 1, 128, u8::MAX]),
        DType::Uint16 => TensorValues::U16(vec![0, 1, 1 << 15, u16::MAX]),
        DType::Uint32 => TensorValues::U32(vec![0, 1, 1 << 31, u32::MAX]),
        DType::Uint64 => TensorValues::U64(vec![0, 1, 1 << 63, u64::MAX]),
        DType::Bool => TensorValues::Bool(vec![true, false, false, true]),
        DType::String => TensorValues::String(vec![vec![], b"x".to_vec(), vec![0xff], b"longer".to_vec()]),
        DType::BFloat16 => TensorValues::BF16(vec![0x3f80, 0x7fc0, 0x8000, 0x0001]),
        DType::Float8E4M3FN => TensorValues::F8E4M3FN(vec![0x38, 0x7f, 0x80, 0x01]),
        DType::Float8E4M3FNUZ => TensorValues::F8E4M3FNUZ(vec![0x40, 0x80, 0x7f, 0x01]),
        DType::Float8E5M2 => TensorValues::F8E5M2(vec![0x3c, 0x7c, 0xfe, 0x01]),
        DType::Float8E5M2FNUZ => TensorValues::F8E5M2FNUZ(vec![0x40, 0x80, 0xff, 0x01]),
        DType::Int4 => TensorValues::I4(vec![-8, -1, 0, 7]),
        DType::Uint4 => TensorValues::U4(vec![0, 1, 8, 15]),
    };
    TensorProtoData { name: format!("t_{dtype}"), dtype, dims: vec![2, 2], data }
}

#[test]
fn encoder_round_trips_every_dtype_and_encoding() {
    for dtype in DType::ALL {
        let t = sample(dtype);
        for enc in [TensorEncoding::Raw, TensorEncoding::Typed] {
            let bytes = encode::tensor(&t, enc);
            assert_eq!(read_tensor(&bytes).unwrap(), t, "{dtype} {enc:?}");
            assert_eq!(read_value(&bytes, ValueKind::Tensor).unwrap(), Value::Tensor(t.clone()));
        }
    }
}

/// ONNX packs int4 two per byte, the first element in the low nibble; an odd count leaves the last high
/// nibble unused, and `raw_data` must be exactly `ceil(n / 2)` bytes.
#[test]
fn int4_raw_data_is_packed_low_nibble_first() {
    let mut t = header("q", DType::Int4, &[3]);
    t.bytes(9, &[0xf1, 0x08]);
    assert_eq!(read_tensor(t.as_bytes()).unwrap().data, TensorValues::I4(vec![1, -1, -8]));
    let odd = TensorProtoData {
        name: "u".into(),
        dtype: DType::Uint4,
        dims: vec![3],
        data: TensorValues::U4(vec![15, 0, 9]),
    };
    for enc in [TensorEncoding::Raw, TensorEncoding::Typed] {
        assert_eq!(read_tensor(&encode::tensor(&odd, enc)).unwrap(), odd, "{enc:?}");
    }
    let mut t = header("q", DType::Uint4, &[3]);
    t.bytes(9, &[0xf1, 0x08, 0x00]);
    let err = read_tensor(t.as_bytes()).unwrap_err();
    assert!(matches!(err, OnnxError::RawDataLength { len: 3, .. }), "{err}");
}

#[test]
fn values_round_trip_and_unsupported_kinds_fail() {
    let v = Value::Sequence(vec![
        Value::Sequence(vec![Value::Tensor(sample(DType::Int64))]),
        Value::Sequence(vec![]),
    ]);
    let bytes = encode::value(&v, TensorEncoding::Typed);
    assert_eq!(read_value(&bytes, ValueKind::Sequence).unwrap(), v);
    let v = Value::Optional(Some(Box::new(Value::Sequence(vec![Value::Tensor(sample(DType::Bool))]))));
    assert_eq!(read_value(&encode::value(&v, TensorEncoding::Raw), ValueKind::Optional).unwrap(), v);
    assert_eq!(read_value(&[], ValueKind::Sequence).unwrap(), Value::Sequence(vec![]));

    for kind in [ValueKind::Map, ValueKind::SparseTensor, ValueKind::Opaque, ValueKind::Unspecified] {
        assert!(matches!(read_value(&[], kind), Err(OnnxError::UnsupportedValue { .. })), "{kind:?}");
    }
    // A sequence of maps.
    let mut s = ProtoWriter::new();
    s.string(1, "m").varint(2, 4).bytes(6, &[]);
    let err = read_value(s.as_bytes(), ValueKind::Sequence).unwrap_err();
    assert_eq!(err.to_string(), "SequenceProto `m`: map values are not supported");
    // elem_type says tensor, values are sequences.
    let mut s = ProtoWriter::new();
    s.varint(2, 1).bytes(5, &[]);
    assert!(matches!(
        read_value(s.as_bytes(), ValueKind::Sequence),
        Err(OnnxError::ElemTypeMismatch { elem_type: 1, field: 5, .. })
    ));
}

#[test]
fn nested_sequences_are_depth_limited() {
    let mut inner = ProtoWriter::new();
    inner.varint(2, 3);
    for _ in 0..300 {
        let mut outer = ProtoWriter::new();
        outer.varint(2, 3).message(5, &inner);
        inner = outer;
    }
    let err = read_value(inner.as_bytes(), ValueKind::Sequence).unwrap_err();
    assert!(matches!(err, OnnxError::TooDeep { limit: 100, .. }), "{err}");
}
