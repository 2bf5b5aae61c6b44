//! bfloat16, float8 and int4/uint4 through the contract: golden comparison by value (floats of any width)
//! or exactly (4-bit integers), and the `values` and feature rules at the door.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_contract::{Contract, ContractErrorKind, compare};
use ferry_spec::{DType, TensorSpec, Tolerance};
use ferry_tensor::{Float8E4M3FN, Float8E5M2, Tensor, TensorData, TensorMap};
use half::bf16;

fn t(data: TensorData) -> Tensor {
    Tensor::new(vec![data.len()], data).unwrap()
}

fn e4m3(v: &[f64]) -> TensorData {
    TensorData::F8E4M3FN(v.iter().map(|&x| Float8E4M3FN::from_f64(x)).collect())
}

/// A spec from its `ferry.toml` form, as a user writes it.
fn spec(toml_text: &str) -> TensorSpec {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn low_precision_floats_compare_by_value_with_their_default_tolerances() {
    let expected = t(TensorData::F32(vec![0.1, 300.0, -2.0, f32::NAN]));
    // float8e4m3fn holds 0.1 as 0.1015625 and 300 as 288: within one unit in the last place.
    let actual = t(e4m3(&[0.1, 300.0, -2.0, f64::NAN]));
    let (rtol, atol) = Tolerance::default_for(DType::Float8E4M3FN);
    assert_eq!((rtol, atol), (0.125, 2f64.powi(-9)));
    let c = compare(&expected, &actual, rtol, atol);
    assert!(c.pass, "{c:?}");
    // Two units off near 300 is refused: 256 is 44 from 300, more than 0.125 * 300 + atol.
    let c = compare(&expected, &t(e4m3(&[0.1, 256.0, -2.0, f64::NAN])), rtol, atol);
    assert!(!c.pass);
    assert_eq!(c.first_mismatch.as_ref().unwrap().index, vec![1]);

    let (rtol, atol) = Tolerance::default_for(DType::BFloat16);
    let bf = |v: &[f32]| t(TensorData::BF16(v.iter().map(|&x| bf16::from_f32(x)).collect()));
    assert!(compare(&expected, &bf(&[0.1, 300.0, -2.0, f32::NAN]), rtol, atol).pass);
    assert!(!compare(&expected, &bf(&[0.1, 310.0, -2.0, f32::NAN]), rtol, atol).pass);
    // float8e5m2's infinity equals only the same infinity.
    let inf = t(TensorData::F8E5M2(vec![Float8E5M2::from_f64(f64::INFINITY)]));
    assert!(compare(&t(TensorData::F64(vec![f64::INFINITY])), &inf, 0.25, 1.0).pass);
    assert!(!compare(&t(TensorData::F64(vec![f64::NEG_INFINITY])), &inf, 0.25, 1.0).pass);
}

#[test]
fn four_bit_integers_compare_exactly() {
    let e = t(TensorData::I4(vec![-8, 0, 7]));
    assert!(compare(&e, &t(TensorData::I4(vec![-8, 0, 7])), 1.0, 1.0).pass);
    let c = compare(&e, &t(TensorData::I4(vec![-8, 1, 7])), 1.0, 1.0);
    assert!(!c.pass);
    assert_eq!((c.mismatches, c.max_abs), (1, 1.0));
    // A uint4 is not an int4, whatever the values.
    let c = compare(&t(TensorData::U4(vec![1])), &t(TensorData::I4(vec![1])), 0.0, 0.0);
    assert_eq!(c.structure.as_deref(), Some("dtype is int4, expected uint4"));
}

#[test]
fn values_rules_hold_low_precision_inputs_at_the_door() {
    let ids = spec("name = \"ids\"\ndtype = \"int4\"\nshape = [\"n\"]\nvalues = { min = -2, max = 3 }");
    let x = spec("name = \"x\"\ndtype = \"float8e4m3fn\"\nshape = [\"n\"]\nvalues = { min = 0, max = 100 }");
    let w =
        spec("name = \"w\"\ndtype = \"bfloat16\"\nshape = [\"n\"]\nvalues = { max = 1, nullable = true }");
    let contract = Contract::new(&[ids, x, w], &[]);
    let request = |ids: Vec<i8>, x: &[f64], w: Vec<f32>| -> TensorMap {
        [
            ("ids".to_owned(), t(TensorData::I4(ids))),
            ("x".to_owned(), t(e4m3(x))),
            ("w".to_owned(), t(TensorData::BF16(w.into_iter().map(bf16::from_f32).collect()))),
        ]
        .into()
    };
    contract.check_request(&request(vec![-2, 3], &[0.0, 100.0], vec![f32::NAN, 1.0])).unwrap();
    let e = contract.check_request(&request(vec![-2, 4], &[0.0, 1.0], vec![0.0, 0.0])).unwrap_err();
    assert_eq!((e.input.as_str(), e.index.clone()), ("ids", Some(vec![1])));
    assert!(matches!(e.kind, ContractErrorKind::AboveMax { .. }), "{e}");
    // float8's NaN is refused where the input is not nullable.
    let e = contract.check_request(&request(vec![0, 0], &[f64::NAN, 1.0], vec![0.0, 0.0])).unwrap_err();
    assert_eq!((e.input.as_str(), e.index.clone()), ("x", Some(vec![0])));
    // 104 is the float8 nearest 103: the rule sees the value the model gets.
    let e = contract.check_request(&request(vec![0, 0], &[1.0, 103.0], vec![0.0, 0.0])).unwrap_err();
    assert_eq!(e.value.as_deref(), Some("104.0"), "{e}");
    let e = contract.check_request(&request(vec![0, 0], &[1.0, 1.0], vec![0.0, 1.5])).unwrap_err();
    assert_eq!((e.input.as_str(), e.index.clone()), ("w", Some(vec![1])));
}
