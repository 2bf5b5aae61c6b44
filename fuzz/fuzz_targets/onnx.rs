//! The hand-written ONNX protobuf reader: `ferry_onnx::read_model` (a bundle's model),
//! `read_initializers` (where the runtime finds weights to share: every raw range it returns must lie
//! inside the buffer, since the runtime slices the model with it), `read_nodes` and `index_bounds` (what
//! `ferry init` derives from the graph: a bound is a table's real size), `read_tensor`
//! and `read_value` (ONNX test data: `TensorProto`, `SequenceProto`, `OptionalProto`) on the same
//! bytes. A tensor that reads must survive the crate's own encoder: encoded (raw and typed) and read
//! back, it is the same tensor.
#![no_main]

use ferry_onnx::encode::{self, TensorEncoding};
use ferry_onnx::{
    InitializerData, ValueKind, index_bounds, read_initializers, read_model, read_nodes, read_tensor, read_value,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = read_model(data) {
        let _ = info.pins();
        for v in info.inputs.iter().chain(&info.outputs) {
            let _ = format!("{v:?}");
        }
    }
    if let Ok(inits) = read_initializers(data) {
        for init in &inits {
            if let InitializerData::Raw(range) = &init.data {
                assert!(
                    range.start <= range.end && range.end <= data.len(),
                    "raw range {range:?} outside the model"
                );
            }
            let _ = init.data_len();
        }
    }
    if let Ok(nodes) = read_nodes(data) {
        let _ = format!("{nodes:?}");
    }
    if let Ok(bounds) = index_bounds(data) {
        for b in bounds.values() {
            assert!(i64::try_from(b.size).is_ok(), "a bound is a table's dim: {b:?}");
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
