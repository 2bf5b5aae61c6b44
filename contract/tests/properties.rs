//! Properties of the contract checks over generated contracts and requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_contract::{Contract, broken_rules};
use ferry_spec::{DType, Dim, Feature, TensorSpec};
use ferry_tensor::{Tensor, TensorData, TensorMap};
use proptest::prelude::*;

fn feature() -> impl Strategy<Value = Feature> {
    let bound = proptest::option::of(prop_oneof![-10.0f64..10.0, Just(0.0), Just(1.0)]);
    let allowed = proptest::option::of(proptest::collection::vec(
        prop_oneof![Just(0.0f64), Just(1.0), Just(2.0), -3.0f64..3.0],
        0..6,
    ));
    ("[a-z]{1,3}", bound.clone(), bound, allowed, any::<bool>())
        .prop_map(|(name, min, max, allowed, nullable)| Feature { name, min, max, allowed, nullable })
}

fn dim() -> impl Strategy<Value = Dim> {
    prop_oneof![
        (0u64..4).prop_map(Dim::Fixed),
        prop_oneof![Just("n"), Just("m")].prop_map(|s| Dim::Symbolic(s.into()))
    ]
}

/// Inputs `a` and `b` (float32 or int64), sharing the symbols `n` and `m`; some have features on a fixed
/// last axis.
fn contract() -> impl Strategy<Value = Vec<TensorSpec>> {
    let spec = |name: &'static str| {
        (
            prop_oneof![Just(DType::Float32), Just(DType::Int64)],
            proptest::collection::vec(dim(), 0..3),
            proptest::collection::vec(feature(), 1..4),
            any::<bool>(),
        )
            .prop_map(move |(dtype, mut shape, features, with_features)| {
                let features = if with_features {
                    shape.push(Dim::Fixed(features.len() as u64));
                    features
                } else {
                    Vec::new()
                };
                TensorSpec {
                    value_type: Default::default(),
                    name: name.into(),
                    dtype,
                    shape,
                    features,
                    values: None,
                }
            })
    };
    (spec("a"), spec("b"), any::<bool>()).prop_map(|(a, b, two)| if two { vec![a, b] } else { vec![a] })
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![4 => -3i32..4i32, 1 => -12i32..12].prop_map(f64::from)
}

fn tensor() -> impl Strategy<Value = Tensor> {
    (proptest::collection::vec(0usize..4, 0..4), any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(shape, float, nan, skew)| {
            let n: usize = shape.iter().product();
            let len = if skew && n > 0 { n - 1 } else { n };
            proptest::collection::vec(value(), len).prop_map(move |v| {
                let data = if float {
                    TensorData::F32(
                        v.iter()
                            .enumerate()
                            .map(|(i, &x)| if nan && i % 3 == 0 { f32::NAN } else { x as f32 })
                            .collect(),
                    )
                } else {
                    TensorData::I64(v.iter().map(|&x| x as i64).collect())
                };
                Tensor { shape: shape.clone(), data }
            })
        },
    )
}

/// A tensor that meets `spec`: its dtype, its fixed dims, `sizes` for its symbols, and for each feature a
/// value that breaks none of its rules.
fn conforming(spec: &TensorSpec, sizes: (usize, usize), pick: usize) -> Option<Tensor> {
    let shape: Vec<usize> = spec
        .shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => *n as usize,
            Dim::Symbolic(s) if s == "n" => sizes.0,
            Dim::Symbolic(_) => sizes.1,
        })
        .collect();
    let n: usize = shape.iter().product();
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let v = match spec.features.get(i % spec.features.len().max(1)) {
            None => (i % 3) as f64,
            Some(f) => {
                let candidates = f.allowed.clone().unwrap_or_default().into_iter().chain([
                    f.min.unwrap_or(0.0).ceil(),
                    f.max.unwrap_or(0.0).floor(),
                    0.0,
                ]);
                let ok: Vec<f64> =
                    candidates.filter(|&v| broken_rules(f, spec.dtype, v).is_empty()).collect();
                *ok.get(pick % ok.len().max(1))?
            }
        };
        values.push(v);
    }
    let data = match spec.dtype {
        DType::Float32 => TensorData::F32(values.iter().map(|&v| v as f32).collect()),
        _ => TensorData::I64(values.iter().map(|&v| v as i64).collect()),
    };
    // A value exact in f64 but not in f32 could break a bound once narrowed; such contracts are skipped.
    if let TensorData::F32(v) = &data
        && v.iter().zip(&values).any(|(a, b)| f64::from(*a) != *b)
    {
        return None;
    }
    Some(Tensor { shape, data })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `check_all` reports a violation exactly when `check_request` does, and then reports the very error
    /// `check_request` returns first.
    #[test]
    fn check_all_contains_the_first_error(
        specs in contract(),
        a in tensor(),
        b in tensor(),
        names in proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 0..3),
    ) {
        let contract = Contract::new(&specs, &[]);
        let mut request = TensorMap::new();
        for (i, n) in names.iter().enumerate() {
            request.insert((*n).to_owned(), if i % 2 == 0 { a.clone() } else { b.clone() });
        }
        let all = contract.check_all(&request);
        match contract.check_request(&request) {
            Ok(()) => prop_assert!(all.is_empty(), "check_all found {:?}", all),
            Err(first) => prop_assert!(all.contains(&first), "{} not in {:?}", first, all),
        }
    }

    /// A request that meets every declared dtype, shape and feature rule passes both checks.
    #[test]
    fn a_conforming_request_passes(specs in contract(), sizes in (0usize..4, 0usize..4), pick in any::<usize>()) {
        let contract = Contract::new(&specs, &[]);
        let request: Option<TensorMap> =
            specs.iter().map(|s| conforming(s, sizes, pick).map(|t| (s.name.clone(), t))).collect();
        if let Some(request) = request {
            prop_assert!(contract.check_request(&request).is_ok(), "{:?}", contract.check_request(&request));
            prop_assert!(contract.check_all(&request).is_empty());
        }
    }
}
