//! The hand-written ONNX protobuf reader: `ferry_onnx::read_model` (a bundle's model), `read_tensor`
//! and `read_value` (ONNX test data: `TensorProto`, `SequenceProto`, `OptionalProto`) on the same
//! bytes. A tensor that reads must survive the crate's own encoder: encoded (raw and typed) and read
//! back, it is the same tensor.
#![no_main]

use ferry_onnx::encode::{self, TensorEncoding};
use ferry_onnx::{ValueKind, read_model, read_tensor, read_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = read_model(data) {
        let _ = info.pins();
        for v in info.inputs.iter().chain(&info.outputs) {
            let _ = format!("{v:?}");
        }
    }
    if let Ok(t) = read_tensor(data) {
        for enc in [TensorEncoding::Raw, TensorEncoding::Typed] {
            let bytes = encode::tensor(&t, enc);
            let again = read_tensor(&bytes).expect("an encoded tensor reads back");
            assert_eq!(format!("{again:?}"), format!("{t:?}"), "tensor changed through {enc:?}");
        }
    }
    for kind in [
        ValueKind::Tensor,
        ValueKind::Sequence,
        ValueKind::Optional,
        ValueKind::Map,
        ValueKind::SparseTensor,
        ValueKind::Opaque,
        ValueKind::Unspecified,
    ] {
        let _ = read_value(data, kind);
    }
});
