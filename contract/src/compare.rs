//! Comparing an output with its expected (golden) value: `|actual - expected| <= atol + rtol * |expected|`
//! for floating-point tensors, exact equality for integers, booleans and strings.

use ferry_tensor::{Tensor, TensorData, Value};

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Whether every element is within tolerance and the dtypes and shapes agree.
    pub pass: bool,
    /// Largest `|actual - expected|` over elements where both are finite (0 when there are none). For
    /// integers and booleans (as 0 and 1), over the elements that differ; always 0 for strings.
    pub max_abs: f64,
    /// Largest `|actual - expected| / |expected|` over the same elements; infinite when `expected` is 0 and
    /// `actual` is not.
    pub max_rel: f64,
    /// How many elements are out of tolerance.
    pub mismatches: usize,
    /// The first element out of tolerance.
    pub first_mismatch: Option<Mismatch>,
    /// Why the tensors cannot be compared element by element (dtype or shape differ).
    pub structure: Option<String>,
}

/// One element out of tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Row-major index of the element.
    pub index: Vec<usize>,
    /// The expected value, as text.
    pub expected: String,
    /// The actual value, as text.
    pub actual: String,
}

fn structural(message: String) -> Comparison {
    Comparison {
        pass: false,
        max_abs: 0.0,
        max_rel: 0.0,
        mismatches: 0,
        first_mismatch: None,
        structure: Some(message),
    }
}

/// Compares `actual` with `expected`. Floating-point tensors of different widths compare by value (a
/// float64 golden may check a float32 output); other dtypes must be identical and compare exactly. NaN
/// equals only NaN; infinities must match in sign.
pub fn compare(expected: &Tensor, actual: &Tensor, rtol: f64, atol: f64) -> Comparison {
    if expected.shape != actual.shape {
        return structural(format!("shape is {:?}, expected {:?}", actual.shape, expected.shape));
    }
    let (ed, ad) = (expected.dtype(), actual.dtype());
    let both_float = ed.is_float() && ad.is_float();
    if ed != ad && !both_float {
        return structural(format!("dtype is {ad}, expected {ed}"));
    }
    let numel = ferry_tensor::numel(&expected.shape);
    for (which, t) in [("expected", expected), ("actual", actual)] {
        if numel != Some(t.data.len()) {
            return structural(format!(
                "the {which} tensor holds {} element{}, not the {} its shape {:?} needs",
                t.data.len(),
                crate::error::plural(t.data.len()),
                numel.map_or_else(|| "overflowing number".to_owned(), |n| n.to_string()),
                t.shape
            ));
        }
    }
    let mut out = Comparison {
        pass: true,
        max_abs: 0.0,
        max_rel: 0.0,
        mismatches: 0,
        first_mismatch: None,
        structure: None,
    };
    if both_float {
        for i in 0..expected.data.len() {
            let (Some(e), Some(a)) = (expected.as_f64(i), actual.as_f64(i)) else { continue };
            if !float_ok(e, a, rtol, atol, &mut out) {
                record(&mut out, &expected.shape, i, e.to_string(), a.to_string());
            }
        }
    } else {
        exact(&expected.data, &actual.data, &expected.shape, &mut out);
    }
    out.pass = out.mismatches == 0;
    out
}

/// Compares two values of any kind: a sequence element by element (lengths must agree), a map by its keys
/// (exactly: the same set) and then its values with the tolerances, an optional by presence and then its
/// value, a tensor with [`compare`]. A present optional compares equal to its value (ONNX Runtime hands
/// it back bare). Indexes in [`Mismatch::index`] run from the outside in: a sequence's position, a map
/// entry's position in key order, then the tensor's own index.
pub fn compare_values(expected: &Value, actual: &Value, rtol: f64, atol: f64) -> Comparison {
    let mut out = Comparison {
        pass: true,
        max_abs: 0.0,
        max_rel: 0.0,
        mismatches: 0,
        first_mismatch: None,
        structure: None,
    };
    walk(expected, actual, rtol, atol, &mut Vec::new(), &mut out);
    out.pass = out.mismatches == 0 && out.structure.is_none();
    out
}

fn walk(e: &Value, a: &Value, rtol: f64, atol: f64, at: &mut Vec<usize>, out: &mut Comparison) {
    let place = |at: &[usize]| -> String { at.iter().map(|i| format!("[{i}]")).collect() };
    let broken = |out: &mut Comparison, reason: String| {
        if out.structure.is_none() {
            let p = place(at);
            out.structure = Some(if p.is_empty() { reason } else { format!("{p} {reason}") });
        }
    };
    match (e, a) {
        (Value::Tensor(x), Value::Tensor(y)) => {
            let c = compare(x, y, rtol, atol);
            merge(out, c, at);
        }
        (Value::Sequence(x), Value::Sequence(y)) => {
            if x.len() != y.len() {
                return broken(
                    out,
                    format!("has {} element{}, expected {}", y.len(), crate::error::plural(y.len()), x.len()),
                );
            }
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                at.push(i);
                walk(x, y, rtol, atol, at, out);
                at.pop();
            }
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.keys() != y.keys() {
                let show = |m: &ferry_tensor::MapValue| {
                    let keys: Vec<String> = (0..m.len().min(8)).map(|i| m.key_text(i)).collect();
                    let more = if m.len() > 8 { ", …" } else { "" };
                    format!("{{{}{more}}}", keys.join(", "))
                };
                return broken(out, format!("has the keys {}, expected {}", show(y), show(x)));
            }
            let t = |d: &TensorData| Tensor { shape: vec![d.len()], data: d.clone() };
            let c = compare(&t(x.values()), &t(y.values()), rtol, atol);
            merge(out, c, at);
        }
        (Value::Optional(None), Value::Optional(None)) => {}
        (Value::Optional(Some(x)), Value::Optional(Some(y))) => walk(x, y, rtol, atol, at, out),
        (Value::Optional(Some(x)), y @ (Value::Tensor(_) | Value::Sequence(_) | Value::Map(_))) => {
            walk(x, y, rtol, atol, at, out)
        }
        (x @ (Value::Tensor(_) | Value::Sequence(_) | Value::Map(_)), Value::Optional(Some(y))) => {
            walk(x, y, rtol, atol, at, out)
        }
        (x, y) => broken(out, format!("is a {}, expected a {}", y.kind(), x.kind())),
    }
}

/// Adds one tensor's comparison at `at` to the whole value's.
fn merge(out: &mut Comparison, c: Comparison, at: &[usize]) {
    out.max_abs = out.max_abs.max(c.max_abs);
    out.max_rel = out.max_rel.max(c.max_rel);
    out.mismatches += c.mismatches;
    if out.first_mismatch.is_none()
        && let Some(mut m) = c.first_mismatch
    {
        m.index = at.iter().copied().chain(m.index).collect();
        out.first_mismatch = Some(m);
    }
    if out.structure.is_none()
        && let Some(reason) = c.structure
    {
        let p: String = at.iter().map(|i| format!("[{i}]")).collect();
        out.structure = Some(if p.is_empty() { reason } else { format!("{p} {reason}") });
    }
}

fn float_ok(e: f64, a: f64, rtol: f64, atol: f64, out: &mut Comparison) -> bool {
    if e.is_nan() || a.is_nan() {
        return e.is_nan() && a.is_nan();
    }
    if e.is_infinite() || a.is_infinite() {
        return e == a;
    }
    let diff = (a - e).abs();
    out.max_abs = out.max_abs.max(diff);
    let rel = if e == 0.0 { if diff == 0.0 { 0.0 } else { f64::INFINITY } } else { diff / e.abs() };
    out.max_rel = out.max_rel.max(rel);
    diff <= atol + rtol * e.abs()
}

fn record(out: &mut Comparison, shape: &[usize], flat: usize, expected: String, actual: String) {
    out.mismatches += 1;
    if out.first_mismatch.is_none() {
        out.first_mismatch = Some(Mismatch { index: unravel(shape, flat), expected, actual });
    }
}

fn unravel(shape: &[usize], mut flat: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = flat % dim;
            flat /= dim;
        }
    }
    index
}

/// Exact comparison. Integers (and booleans, as 0 and 1) still have a distance, recorded in `max_abs` and
/// `max_rel` as for floats: an output that is 1 where 0 was expected is off by 1. Strings have none.
fn exact(e: &TensorData, a: &TensorData, shape: &[usize], out: &mut Comparison) {
    fn go<T: PartialEq + std::fmt::Debug>(
        e: &[T],
        a: &[T],
        shape: &[usize],
        out: &mut Comparison,
        value: impl Fn(&T) -> Option<i128>,
    ) {
        for (i, (x, y)) in e.iter().zip(a).enumerate() {
            if x != y {
                if let (Some(x), Some(y)) = (value(x), value(y)) {
                    // Exact in i128 for every integer dtype, then rounded once.
                    let diff = (y - x).unsigned_abs() as f64;
                    out.max_abs = out.max_abs.max(diff);
                    let rel = if x == 0 { f64::INFINITY } else { diff / x.unsigned_abs() as f64 };
                    out.max_rel = out.max_rel.max(rel);
                }
                record(out, shape, i, format!("{x:?}"), format!("{y:?}"));
            }
        }
    }
    match (e, a) {
        (TensorData::I8(x), TensorData::I8(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::I16(x), TensorData::I16(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::I32(x), TensorData::I32(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::I64(x), TensorData::I64(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::U8(x), TensorData::U8(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::U16(x), TensorData::U16(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::U32(x), TensorData::U32(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::U64(x), TensorData::U64(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::Bool(x), TensorData::Bool(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::String(x), TensorData::String(y)) => go(x, y, shape, out, |_| None),
        (TensorData::I4(x), TensorData::I4(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        (TensorData::U4(x), TensorData::U4(y)) => go(x, y, shape, out, |v| Some(i128::from(*v))),
        // Dtypes were checked equal by the caller; anything else cannot happen but must not panic.
        _ => {
            out.mismatches += 1;
            out.structure = Some("dtypes differ".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f32t(v: Vec<f32>) -> Tensor {
        Tensor { shape: vec![v.len()], data: TensorData::F32(v) }
    }

    #[test]
    fn tolerance_rule() {
        let c = compare(&f32t(vec![1.0, 2.0]), &f32t(vec![1.00005, 2.0]), 1e-4, 1e-5);
        assert!(c.pass, "{c:?}");
        let c = compare(&f32t(vec![1.0, 2.0]), &f32t(vec![1.0, 2.1]), 1e-4, 1e-5);
        assert!(!c.pass);
        assert_eq!(c.mismatches, 1);
        let m = c.first_mismatch.unwrap();
        assert_eq!(m.index, vec![1]);
        assert!((c.max_abs - 0.1).abs() < 1e-6);
    }

    #[test]
    fn nan_and_infinities() {
        assert!(compare(&f32t(vec![f32::NAN]), &f32t(vec![f32::NAN]), 0.0, 0.0).pass);
        assert!(!compare(&f32t(vec![f32::NAN]), &f32t(vec![0.0]), 1.0, 1.0).pass);
        assert!(!compare(&f32t(vec![0.0]), &f32t(vec![f32::NAN]), 1.0, 1.0).pass);
        assert!(compare(&f32t(vec![f32::INFINITY]), &f32t(vec![f32::INFINITY]), 0.0, 0.0).pass);
        assert!(!compare(&f32t(vec![f32::INFINITY]), &f32t(vec![f32::NEG_INFINITY]), 1.0, 1.0).pass);
        assert!(!compare(&f32t(vec![f32::INFINITY]), &f32t(vec![1e30]), 1.0, 1.0).pass);
    }

    #[test]
    fn exact_types_and_structure() {
        let i = |v: Vec<i64>| Tensor { shape: vec![v.len()], data: TensorData::I64(v) };
        assert!(compare(&i(vec![1, 2]), &i(vec![1, 2]), 0.0, 0.0).pass);
        let c = compare(&i(vec![1, 2]), &i(vec![1, 3]), 1.0, 1.0);
        assert!(!c.pass);
        assert_eq!(c.first_mismatch.unwrap().actual, "3");
        let c = compare(&i(vec![1, 2]), &f32t(vec![1.0, 2.0]), 1.0, 1.0);
        assert!(c.structure.unwrap().contains("dtype"));
        let c = compare(&f32t(vec![1.0]), &f32t(vec![1.0, 2.0]), 1.0, 1.0);
        assert!(c.structure.unwrap().contains("shape"));
        let f64t = Tensor { shape: vec![1], data: TensorData::F64(vec![0.1]) };
        assert!(compare(&f64t, &f32t(vec![0.1]), 1e-6, 0.0).pass);
        let s = |v: &str| Tensor { shape: vec![1], data: TensorData::String(vec![v.into()]) };
        assert!(compare(&s("a"), &s("a"), 0.0, 0.0).pass);
        assert!(!compare(&s("a"), &s("b"), 0.0, 0.0).pass);
        let bad = Tensor { shape: vec![3], data: TensorData::F32(vec![1.0]) };
        assert!(compare(&bad, &bad, 0.0, 0.0).structure.is_some());
    }

    /// An integer, boolean or string mismatch is an exact one, but an integer (or boolean, as 0 and 1) still
    /// has a distance: 1 where 0 was expected is an error of 1, not 0.
    #[test]
    fn exact_mismatches_report_their_error() {
        let i = |v: Vec<i64>| Tensor { shape: vec![v.len(), 1], data: TensorData::I64(v) };
        let c = compare(&i(vec![0, 5]), &i(vec![1, 5]), 0.0, 0.0);
        assert_eq!((c.pass, c.mismatches, c.max_abs, c.max_rel), (false, 1, 1.0, f64::INFINITY), "{c:?}");
        assert_eq!(c.first_mismatch.unwrap().index, vec![0, 0]);
        let c = compare(&i(vec![4, 5]), &i(vec![2, 5]), 0.0, 0.0);
        assert_eq!((c.max_abs, c.max_rel), (2.0, 0.5), "{c:?}");
        // Equal elements still count towards nothing; the extremes do not overflow.
        let c = compare(&i(vec![i64::MIN, 7]), &i(vec![i64::MAX, 7]), 0.0, 0.0);
        assert_eq!(c.max_abs, 2f64.powi(64), "{c:?}");
        let u = |v: Vec<u64>| Tensor { shape: vec![v.len()], data: TensorData::U64(v) };
        assert_eq!(compare(&u(vec![u64::MAX]), &u(vec![0]), 0.0, 0.0).max_abs, 2f64.powi(64));
        let u8t = |v: Vec<u8>| Tensor { shape: vec![v.len()], data: TensorData::U8(v) };
        assert_eq!(compare(&u8t(vec![200]), &u8t(vec![10]), 0.0, 0.0).max_abs, 190.0);
        let b = |v: Vec<bool>| Tensor { shape: vec![v.len()], data: TensorData::Bool(v) };
        let c = compare(&b(vec![false, true]), &b(vec![true, true]), 0.0, 0.0);
        assert_eq!((c.mismatches, c.max_abs, c.max_rel), (1, 1.0, f64::INFINITY), "{c:?}");
        // A passing comparison reports no error; strings have no distance to report.
        assert_eq!(compare(&i(vec![3]), &i(vec![3]), 0.0, 0.0).max_abs, 0.0);
        let s = |v: &str| Tensor { shape: vec![1], data: TensorData::String(vec![v.into()]) };
        let c = compare(&s("a"), &s("b"), 0.0, 0.0);
        assert_eq!((c.mismatches, c.max_abs), (1, 0.0));
    }

    #[test]
    fn structural_messages_count_in_words() {
        let one = Tensor { shape: vec![3], data: TensorData::F32(vec![1.0]) };
        let good = f32t(vec![1.0, 2.0, 3.0]);
        let c = compare(&one, &good, 0.0, 0.0);
        assert_eq!(
            c.structure.as_deref(),
            Some("the expected tensor holds 1 element, not the 3 its shape [3] needs")
        );
        let two = Tensor { shape: vec![1], data: TensorData::F32(vec![1.0, 2.0]) };
        let c = compare(&two, &two, 0.0, 0.0);
        assert_eq!(
            c.structure.as_deref(),
            Some("the expected tensor holds 2 elements, not the 1 its shape [1] needs")
        );
    }

    #[test]
    fn values_compare_by_structure_keys_and_tolerance() {
        use ferry_tensor::MapValue;
        let map = |k: Vec<i64>, v: Vec<f32>| {
            Value::Map(MapValue::new(TensorData::I64(k), TensorData::F32(v)).unwrap())
        };
        let seq = |v: Vec<Value>| Value::Sequence(v);
        let e = seq(vec![map(vec![0, 1], vec![0.75, 0.25]), map(vec![0, 1], vec![0.5, 0.5])]);
        let close = seq(vec![map(vec![1, 0], vec![0.25001, 0.75]), map(vec![0, 1], vec![0.5, 0.5])]);
        assert!(compare_values(&e, &close, 1e-3, 0.0).pass);
        let off = seq(vec![map(vec![0, 1], vec![0.75, 0.25]), map(vec![0, 1], vec![0.5, 0.9])]);
        let c = compare_values(&e, &off, 1e-3, 0.0);
        assert_eq!((c.pass, c.mismatches), (false, 1));
        assert_eq!(c.first_mismatch.unwrap().index, vec![1, 1]);
        let keys = seq(vec![map(vec![0, 2], vec![0.75, 0.25]), map(vec![0, 1], vec![0.5, 0.5])]);
        let c = compare_values(&e, &keys, 1e-3, 0.0);
        assert_eq!(c.structure.as_deref(), Some("[0] has the keys {0, 2}, expected {0, 1}"));
        let short = seq(vec![map(vec![0, 1], vec![0.75, 0.25])]);
        assert_eq!(
            compare_values(&e, &short, 1.0, 1.0).structure.as_deref(),
            Some("has 1 element, expected 2")
        );
        let t = Value::Tensor(f32t(vec![1.0]));
        assert_eq!(
            compare_values(&e, &t, 1.0, 1.0).structure.as_deref(),
            Some("is a tensor, expected a sequence of 2")
        );
        let none = Value::Optional(None);
        assert!(compare_values(&none, &none, 0.0, 0.0).pass);
        assert!(!compare_values(&none, &t, 0.0, 0.0).pass);
        assert!(compare_values(&Value::Optional(Some(Box::new(t.clone()))), &t, 0.0, 0.0).pass);
    }

    proptest! {
        #[test]
        fn identical_tensors_pass(v in proptest::collection::vec(any::<f32>(), 0..64)) {
            let t = f32t(v);
            prop_assert!(compare(&t, &t, 0.0, 0.0).pass);
        }

        #[test]
        fn never_panics(a in proptest::collection::vec(any::<f64>(), 0..8), b in proptest::collection::vec(any::<f64>(), 0..8), shape in proptest::collection::vec(0usize..4, 0..3)) {
            let x = Tensor { shape: shape.clone(), data: TensorData::F64(a) };
            let y = Tensor { shape, data: TensorData::F64(b) };
            let _ = compare(&x, &y, 1e-4, 1e-5);
        }
    }
}
