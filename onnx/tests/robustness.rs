//! Hostile input: random bytes, truncations and corruptions of valid messages never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_onnx::encode::{self, TensorEncoding};
use ferry_onnx::{
    OnnxDim, TensorProtoData, TensorValues, Value, ValueKind, read_model, read_tensor, read_value,
};
use ferry_spec::DType;
use proptest::prelude::*;

fn all_readers(bytes: &[u8]) {
    let _ = read_model(bytes);
    let _ = read_tensor(bytes);
    for kind in [ValueKind::Tensor, ValueKind::Sequence, ValueKind::Optional] {
        let _ = read_value(bytes, kind);
    }
}

fn valid_model() -> Vec<u8> {
    let mut base = encode::model_with_external_initializer("w.bin", 64);
    base.extend(encode::identity_model("a", "b", DType::Int64, &[OnnxDim::Param("n".into())], 17));
    base
}

fn valid_value() -> Vec<u8> {
    let t = TensorProtoData {
        name: "t".into(),
        dtype: DType::Int32,
        dims: vec![3],
        data: TensorValues::I32(vec![-1, 0, 1 << 20]),
    };
    encode::value(&Value::Sequence(vec![Value::Tensor(t.clone()), Value::Tensor(t)]), TensorEncoding::Typed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_readers(&bytes);
    }

    #[test]
    fn truncations_never_panic(cut in 0usize..2000) {
        for base in [valid_model(), valid_value()] {
            all_readers(&base[..cut.min(base.len())]);
        }
    }

    #[test]
    fn corruptions_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        for mut base in [valid_model(), valid_value()] {
            for (at, byte) in &edits {
                let i = at.index(base.len());
                base[i] = *byte;
            }
            all_readers(&base);
        }
    }
}

#[test]
fn every_truncation_of_a_valid_model_is_handled() {
    let base = valid_model();
    let full = read_model(&base).unwrap();
    for cut in 0..base.len() {
        // A cut may land on a field boundary and still parse; it must never panic or read past the end.
        if let Ok(info) = read_model(&base[..cut]) {
            assert!(info.inputs.len() <= full.inputs.len() + 1);
        }
    }
}
