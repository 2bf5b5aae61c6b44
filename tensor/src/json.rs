//! JSON tensors: an object mapping each name to `{"dtype", "shape", "data"}` (data flat, row-major) or to a
//! bare nested array whose dtype comes from a hint or from its elements.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use ferry_spec::DType;
use half::f16;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::{
    Declared, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, GoldenSide, HeaderCheck, Part,
    Tensor, TensorData, TensorError, TensorMap, check_header, numel,
};

/// A JSON object's members in document order, duplicates kept: `serde_json::Map` silently keeps the last
/// of two equal keys, which would let a file say two things about one tensor.
pub(crate) struct Entries(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `check` sees each tensor's dtype and shape before its elements are converted. A golden file of both
/// sides ([`looks_golden`]) is refused ([`TensorError::BothSides`]) unless `part` asks for one side of it.
pub(crate) fn read(
    bytes: &[u8],
    hints: &BTreeMap<String, DType>,
    part: Part,
    check: &mut HeaderCheck<'_>,
) -> Result<TensorMap, TensorError> {
    read_with(bytes, part, &mut |name, value| tensor_from_value(name, value, hints.get(name).copied(), check))
}

/// Reads the `part` of a JSON document of named entries, each turned into a `T` by `entry`; errors in an
/// entry name it.
pub(crate) fn read_with<T>(
    bytes: &[u8],
    part: Part,
    entry: &mut dyn FnMut(&str, &Value) -> Result<T, TensorError>,
) -> Result<BTreeMap<String, T>, TensorError> {
    let bytes = strip_bom(bytes);
    if let Part::Side(side) = part {
        return read_side(bytes, side, entry);
    }
    let Entries(entries) =
        serde_json::from_slice(bytes).map_err(|e| TensorError::Json { reason: e.to_string() })?;
    if looks_golden(&entries) {
        return match part {
            Part::SideOrWhole(side) => read_side(bytes, side, entry),
            _ => Err(TensorError::BothSides { hint: String::new() }),
        };
    }
    read_entries(entries, entry)
}

/// Editors on Windows like to start UTF-8 files with a byte-order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn read_entries<T>(
    entries: Vec<(String, Value)>,
    entry: &mut dyn FnMut(&str, &Value) -> Result<T, TensorError>,
) -> Result<BTreeMap<String, T>, TensorError> {
    let mut out = BTreeMap::new();
    for (name, value) in entries {
        if out.contains_key(&name) {
            return Err(TensorError::DuplicateName { name });
        }
        let item = entry(&name, &value).map_err(|e| e.in_tensor(&name))?;
        out.insert(name, item);
    }
    Ok(out)
}

/// Whether a JSON object's members are laid out as a golden file of both sides: only the keys `inputs`
/// and `outputs`, each an object of tensors (objects or arrays) that is not itself a tensor's explicit
/// form. A file of plain tensors named `inputs` or `outputs` (explicit or nested arrays) is not.
fn looks_golden(entries: &[(String, Value)]) -> bool {
    let is_side = |v: &Value| match v {
        Value::Object(m) => {
            let explicit_tensor =
                !m.is_empty() && m.keys().all(|k| matches!(k.as_str(), "dtype" | "shape" | "data"));
            !explicit_tensor && m.values().all(|t| t.is_object() || t.is_array())
        }
        _ => false,
    };
    !entries.is_empty()
        && entries.iter().all(|(k, v)| matches!(k.as_str(), "inputs" | "outputs") && is_side(v))
}

/// Whether `bytes` are JSON laid out as a golden file of both sides ([`looks_golden`]).
pub(crate) fn is_golden(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Entries>(strip_bom(bytes)).is_ok_and(|Entries(e)| looks_golden(&e))
}

/// The members of a golden file: each side's members in document order, duplicates kept; other
/// top-level keys by name, their values skipped.
struct GoldenDoc {
    sides: Vec<(GoldenSide, Vec<(String, Value)>)>,
    other: Vec<String>,
}

impl<'de> Deserialize<'de> for GoldenDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GoldenDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with the keys `inputs` and `outputs`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GoldenDoc, A::Error> {
                let mut doc = GoldenDoc { sides: Vec::new(), other: Vec::new() };
                while let Some(key) = map.next_key::<String>()? {
                    match GoldenSide::BOTH.into_iter().find(|s| s.key() == key) {
                        Some(side) => {
                            let Entries(entries) = map.next_value()?;
                            doc.sides.push((side, entries));
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            doc.other.push(key);
                        }
                    }
                }
                Ok(doc)
            }
        }
        d.deserialize_map(V)
    }
}

/// One side of a golden file: exactly the keys `inputs` and `outputs`, each once, each an object of
/// tensors in this format. Errors inside a side name it ([`TensorError::InSide`]).
fn read_side<T>(
    bytes: &[u8],
    side: GoldenSide,
    entry: &mut dyn FnMut(&str, &Value) -> Result<T, TensorError>,
) -> Result<BTreeMap<String, T>, TensorError> {
    let layout = |reason: String| TensorError::GoldenLayout { reason };
    let doc: GoldenDoc = serde_json::from_slice(strip_bom(bytes))
        .map_err(|e| layout(format!("{e} (each side is an object mapping tensor names to tensors)")))?;
    if let Some(key) = doc.other.first() {
        return Err(layout(format!(
            "unexpected key `{key}` at the top level: the tensors go inside `inputs` and `outputs` (a file \
             of one side's tensors is named with `inputs` or `expected`, not `file`)"
        )));
    }
    for s in GoldenSide::BOTH {
        match doc.sides.iter().filter(|(k, _)| *k == s).count() {
            0 => return Err(layout(format!("missing `{s}`"))),
            1 => {}
            _ => return Err(layout(format!("`{s}` appears twice"))),
        }
    }
    let entries = doc.sides.into_iter().find(|(k, _)| *k == side).map(|(_, e)| e).unwrap_or_default();
    read_entries(entries, entry).map_err(|e| e.in_side(side))
}

fn structure(reason: impl Into<String>) -> TensorError {
    TensorError::JsonStructure { reason: reason.into() }
}

pub(crate) fn tensor_from_value(
    name: &str,
    value: &Value,
    hint: Option<DType>,
    check: &mut HeaderCheck<'_>,
) -> Result<Tensor, TensorError> {
    match value {
        Value::Object(m) => explicit(name, m, check),
        other => {
            let (shape, leaves) = flatten(other)?;
            let dtype = hint.unwrap_or_else(|| infer(&leaves));
            check_header(check, &Declared { name, dtype, shape: &shape, data_bytes: None })?;
            Ok(Tensor { shape, data: convert(&leaves, dtype)? })
        }
    }
}

fn explicit(name: &str, m: &Map<String, Value>, check: &mut HeaderCheck<'_>) -> Result<Tensor, TensorError> {
    if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), "dtype" | "shape" | "data")) {
        return Err(structure(format!("unexpected key `{k}` (expected dtype, shape, data)")));
    }
    let dtype = match m.get("dtype") {
        Some(Value::String(s)) => {
            DType::from_name(s).ok_or_else(|| TensorError::UnsupportedDType { dtype: s.clone() })?
        }
        Some(_) => return Err(structure("`dtype` must be a string such as \"float32\"")),
        None => return Err(structure("missing `dtype`")),
    };
    let shape = match m.get("shape") {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| structure("`shape` must be an array of non-negative integers"))?,
        Some(_) => return Err(structure("`shape` must be an array of non-negative integers")),
        None => return Err(structure("missing `shape`")),
    };
    check_header(check, &Declared { name, dtype, shape: &shape, data_bytes: None })?;
    let data = match m.get("data") {
        Some(d @ Value::Array(_)) => d,
        Some(_) => return Err(structure("`data` must be an array (flat, row-major)")),
        None => return Err(structure("missing `data`")),
    };
    let (nested, leaves) = flatten(data)?;
    let expected = numel(&shape).ok_or_else(|| TensorError::ShapeOverflow { shape: shape.clone() })?;
    if leaves.len() != expected {
        return Err(TensorError::ShapeMismatch { shape, expected, len: leaves.len() });
    }
    // Flat data is the documented form; nested data is accepted only when it spells out the same shape.
    if nested.len() > 1 && nested != shape {
        return Err(structure(format!("`data` is nested as {nested:?} but `shape` is {shape:?}")));
    }
    Ok(Tensor { shape, data: convert(&leaves, dtype)? })
}

/// The shape of a rectangular nested array and its leaves in row-major order.
fn flatten(v: &Value) -> Result<(Vec<usize>, Vec<&Value>), TensorError> {
    let mut shape = Vec::new();
    let mut cur = v;
    while let Value::Array(a) = cur {
        shape.push(a.len());
        match a.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    let mut leaves = Vec::new();
    walk(v, &shape, &mut Vec::new(), &mut leaves)?;
    Ok((shape, leaves))
}

fn walk<'a>(
    v: &'a Value,
    shape: &[usize],
    at: &mut Vec<usize>,
    out: &mut Vec<&'a Value>,
) -> Result<(), TensorError> {
    let ragged = |at: &Vec<usize>, reason: String| TensorError::Ragged { at: at.clone(), reason };
    match (v, shape.get(at.len())) {
        (Value::Array(a), Some(&n)) => {
            if a.len() != n {
                let s = if a.len() == 1 { "" } else { "s" };
                return Err(ragged(at, format!("has {} element{s}, expected {n}", a.len())));
            }
            for (i, x) in a.iter().enumerate() {
                at.push(i);
                walk(x, shape, at, out)?;
                at.pop();
            }
            Ok(())
        }
        (Value::Array(_), None) => Err(ragged(at, "is an array, expected a scalar".to_owned())),
        (_, Some(&n)) => Err(ragged(at, format!("is a scalar, expected an array of {n}"))),
        (leaf, None) => {
            out.push(leaf);
            Ok(())
        }
    }
}

/// The dtype of a bare array without a hint: float32 if any element is a number (nulls and "NaN"-style
/// strings then being floats), else bool, else string; float32 for an empty or all-null array.
fn infer(leaves: &[&Value]) -> DType {
    if leaves.iter().any(|v| v.is_number()) {
        DType::Float32
    } else if leaves.iter().any(|v| v.is_boolean()) {
        DType::Bool
    } else if leaves.iter().any(|v| v.is_string()) {
        DType::String
    } else {
        DType::Float32
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn element(index: usize, reason: String) -> TensorError {
    TensorError::Element { index, reason }
}

/// A float element: a number, `null` (NaN) or one of the strings "NaN", "Infinity", "-Infinity".
fn float_value(index: usize, v: &Value, dtype: DType) -> Result<f64, TensorError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| element(index, format!("{n} is not a finite number"))),
        Value::Null => Ok(f64::NAN),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(element(index, format!("expected a number, got the string {s:?} in a {dtype} tensor"))),
        },
        other => Err(element(index, format!("expected a number, got {} in a {dtype} tensor", kind(other)))),
    }
}

/// An integer element; integral floats such as `3.0` are accepted since many producers write them.
fn int_value(index: usize, v: &Value, dtype: DType) -> Result<i128, TensorError> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(i128::from(i));
            }
            if let Some(u) = n.as_u64() {
                return Ok(i128::from(u));
            }
            let f = n.as_f64().unwrap_or(f64::NAN);
            // `as` saturates; the round trip check rejects fractions and values beyond i128.
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let i = f as i128;
            #[allow(clippy::cast_precision_loss)]
            if i as f64 == f {
                Ok(i)
            } else {
                Err(element(index, format!("{n} is not an integer, in a {dtype} tensor")))
            }
        }
        Value::Null => Err(element(
            index,
            format!("null is not allowed in a {dtype} tensor (only floats take null as NaN)"),
        )),
        other => Err(element(index, format!("expected an integer, got {} in a {dtype} tensor", kind(other)))),
    }
}

macro_rules! ints {
    ($leaves:expr, $dtype:expr, $t:ty) => {
        $leaves
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = int_value(i, v, $dtype)?;
                <$t>::try_from(x).map_err(|_| element(i, format!("{x} is out of range for {}", $dtype)))
            })
            .collect::<Result<Vec<$t>, TensorError>>()?
    };
}

pub(crate) fn convert(leaves: &[&Value], dtype: DType) -> Result<TensorData, TensorError> {
    Ok(match dtype {
        DType::Float64 => TensorData::F64(
            leaves.iter().enumerate().map(|(i, v)| float_value(i, v, dtype)).collect::<Result<_, _>>()?,
        ),
        DType::Float32 => TensorData::F32(
            leaves
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let x = float_value(i, v, dtype)?;
                    #[allow(clippy::cast_possible_truncation)]
                    let y = x as f32;
                    if y.is_infinite() && x.is_finite() {
                        return Err(element(i, format!("{x:?} is out of range for float32")));
                    }
                    Ok(y)
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::Float16 => TensorData::F16(
            leaves
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let x = float_value(i, v, dtype)?;
                    let y = f16::from_f64(x);
                    if y.is_infinite() && x.is_finite() {
                        return Err(element(i, format!("{x:?} is out of range for float16")));
                    }
                    Ok(y)
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::BFloat16 => TensorData::BF16(
            leaves
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let x = float_value(i, v, dtype)?;
                    let y = crate::float8::bf16_from_f64(x);
                    if y.is_infinite() && x.is_finite() {
                        return Err(element(i, format!("{x:?} is out of range for bfloat16")));
                    }
                    Ok(y)
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::Float8E4M3FN => TensorData::F8E4M3FN(float8s(leaves, dtype, Float8E4M3FN::from_f64)?),
        DType::Float8E4M3FNUZ => TensorData::F8E4M3FNUZ(float8s(leaves, dtype, Float8E4M3FNUZ::from_f64)?),
        DType::Float8E5M2 => TensorData::F8E5M2(float8s(leaves, dtype, Float8E5M2::from_f64)?),
        DType::Float8E5M2FNUZ => TensorData::F8E5M2FNUZ(float8s(leaves, dtype, Float8E5M2FNUZ::from_f64)?),
        DType::Int4 => TensorData::I4(nibbles(leaves, dtype, &crate::int4::I4_RANGE)?),
        DType::Uint4 => TensorData::U4(nibbles(leaves, dtype, &crate::int4::U4_RANGE)?),
        DType::Int8 => TensorData::I8(ints!(leaves, dtype, i8)),
        DType::Int16 => TensorData::I16(ints!(leaves, dtype, i16)),
        DType::Int32 => TensorData::I32(ints!(leaves, dtype, i32)),
        DType::Int64 => TensorData::I64(ints!(leaves, dtype, i64)),
        DType::Uint8 => TensorData::U8(ints!(leaves, dtype, u8)),
        DType::Uint16 => TensorData::U16(ints!(leaves, dtype, u16)),
        DType::Uint32 => TensorData::U32(ints!(leaves, dtype, u32)),
        DType::Uint64 => TensorData::U64(ints!(leaves, dtype, u64)),
        DType::Bool => TensorData::Bool(
            leaves
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Bool(b) => Ok(*b),
                    other => Err(element(
                        i,
                        format!("expected true or false, got {} in a bool tensor", kind(other)),
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::String => TensorData::String(
            leaves
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => {
                        Err(element(i, format!("expected a string, got {} in a string tensor", kind(other))))
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A float8 element is read as an `f64` and rounded to the nearest code (ties to even): NaN (`null`) is
/// the type's NaN; a finite value that rounds past the largest finite one, or an infinity the type does
/// not have (all but float8e5m2), is refused rather than turned into NaN or infinity.
fn float8s<T: Copy + Into<Float8Value>>(
    leaves: &[&Value],
    dtype: DType,
    from_f64: fn(f64) -> T,
) -> Result<Vec<T>, TensorError> {
    leaves
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = float_value(i, v, dtype)?;
            let y = from_f64(x);
            let Float8Value { value, max } = y.into();
            if x.is_infinite() && !value.is_infinite() {
                return Err(element(
                    i,
                    format!("{dtype} has no infinity (its largest finite value is {max})"),
                ));
            }
            if x.is_finite() && !value.is_finite() {
                return Err(element(i, format!("{x:?} is out of range for {dtype} (largest finite {max})")));
            }
            Ok(y)
        })
        .collect()
}

/// A float8 element's value and its type's largest finite value, for [`float8s`]' checks.
pub(crate) struct Float8Value {
    value: f32,
    max: f32,
}

macro_rules! float8_value {
    ($($t:ty),*) => {$(
        impl From<$t> for Float8Value {
            fn from(x: $t) -> Float8Value {
                Float8Value { value: x.to_f32(), max: <$t>::MAX.to_f32() }
            }
        }
    )*};
}
float8_value!(Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ);

/// int4/uint4 elements: integers in `range`.
fn nibbles<T: Copy + TryFrom<i128> + PartialOrd>(
    leaves: &[&Value],
    dtype: DType,
    range: &std::ops::RangeInclusive<T>,
) -> Result<Vec<T>, TensorError> {
    leaves
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = int_value(i, v, dtype)?;
            T::try_from(x)
                .ok()
                .filter(|y| range.contains(y))
                .ok_or_else(|| element(i, format!("{x} is out of range for {dtype}")))
        })
        .collect()
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Non-finite floats have no JSON number: NaN is `null`, infinities are strings.
fn non_finite(x: f64) -> &'static str {
    if x.is_nan() {
        "null"
    } else if x > 0.0 {
        "\"Infinity\""
    } else {
        "\"-Infinity\""
    }
}

/// The shortest decimal that reads back (through f64, as the reader parses) to exactly `x`.
fn fmt_f32(x: f32) -> String {
    if !x.is_finite() {
        return non_finite(f64::from(x)).to_owned();
    }
    // `{:?}` is the shortest repr that round-trips as f32; reading goes through f64 first, so confirm the
    // double rounding lands on `x` and otherwise fall back to the exact value's f64 repr.
    let s = format!("{x:?}");
    #[allow(clippy::cast_possible_truncation)]
    let ok = s.parse::<f64>().map(|y| (y as f32).to_bits() == x.to_bits()).unwrap_or(false);
    if ok { s } else { format!("{:?}", f64::from(x)) }
}

fn fmt_f64(x: f64) -> String {
    if x.is_finite() { format!("{x:?}") } else { non_finite(x).to_owned() }
}

/// The shortest decimal that reads back to exactly `x`: `{:?}` of the widened value would print f32
/// digits (0.1 as 0.099975586).
fn fmt_f16(x: f16) -> String {
    fmt_narrow(x.to_f64(), |y| f16::from_f64(y).to_bits() == x.to_bits())
}

/// [`fmt_f16`] for any type narrower than f32 whose value is `v`: `same(y)` says whether `y` reads back
/// as the same element (bfloat16 and float8 read a JSON number through f64, as float16 does).
fn fmt_narrow(v: f64, same: impl Fn(f64) -> bool) -> String {
    if !v.is_finite() {
        return non_finite(v).to_owned();
    }
    let reads_back = |s: &str| s.parse::<f64>().map(&same).unwrap_or(false);
    for precision in 0..5 {
        let sci = format!("{v:.precision$e}");
        if reads_back(&sci) {
            // Prefer the plain form (0.1 over 1e-1) when it reads back the same.
            let plain = sci.parse::<f64>().map(|y| format!("{y:?}")).unwrap_or_default();
            return if reads_back(&plain) { plain } else { sci };
        }
    }
    format!("{v:?}")
}

fn push_joined<T>(out: &mut String, items: &[T], f: impl Fn(&mut String, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        f(out, item);
    }
}

pub(crate) fn push_data(out: &mut String, data: &TensorData) {
    // Every float8 value is a short dyadic fraction: written exactly (0.1015625, not 0.1, which would also
    // read back), so what a person or another tool reads is the value itself.
    macro_rules! float8 {
        ($v:expr) => {
            push_joined(out, $v, |o, x| o.push_str(&fmt_f64(x.to_f64())))
        };
    }
    match data {
        TensorData::BF16(v) => push_joined(out, v, |o, x| {
            o.push_str(&fmt_narrow(x.to_f64(), |y| crate::float8::bf16_from_f64(y).to_bits() == x.to_bits()))
        }),
        TensorData::F8E4M3FN(v) => float8!(v),
        TensorData::F8E4M3FNUZ(v) => float8!(v),
        TensorData::F8E5M2(v) => float8!(v),
        TensorData::F8E5M2FNUZ(v) => float8!(v),
        TensorData::I4(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::U4(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::F16(v) => push_joined(out, v, |o, x| o.push_str(&fmt_f16(*x))),
        TensorData::F32(v) => push_joined(out, v, |o, x| o.push_str(&fmt_f32(*x))),
        TensorData::F64(v) => push_joined(out, v, |o, x| o.push_str(&fmt_f64(*x))),
        TensorData::I8(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::I16(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::I32(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::I64(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::U8(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::U16(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::U32(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::U64(v) => push_joined(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        TensorData::Bool(v) => push_joined(out, v, |o, x| o.push_str(if *x { "true" } else { "false" })),
        TensorData::String(v) => push_joined(out, v, |o, x| push_string(o, x)),
    }
}

/// The explicit object form, one tensor per line, names sorted.
pub(crate) fn write(tensors: &TensorMap) -> Vec<u8> {
    let mut out = String::new();
    push_tensors(&mut out, tensors, "");
    out.push('\n');
    out.into_bytes()
}

/// A golden file of both sides: `{"inputs": {...}, "outputs": {...}}`, each side as [`write`] writes
/// tensors, indented one level further.
pub(crate) fn write_golden(inputs: &TensorMap, outputs: &TensorMap) -> Vec<u8> {
    let mut out = String::from("{\n");
    for (side, tensors) in [(GoldenSide::Inputs, inputs), (GoldenSide::Outputs, outputs)] {
        let _ = write!(out, "  \"{side}\": ");
        push_tensors(&mut out, tensors, "  ");
        out.push_str(if side == GoldenSide::Inputs { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out.into_bytes()
}

/// One tensor in the explicit form, on one line.
pub(crate) fn push_tensor(out: &mut String, t: &Tensor) {
    let _ = write!(out, "{{\"dtype\": \"{}\", \"shape\": [", t.dtype());
    push_joined(out, &t.shape, |o, d| {
        let _ = write!(o, "{d}");
    });
    out.push_str("], \"data\": [");
    push_data(out, &t.data);
    out.push_str("]}");
}

/// An object of tensors, one per line at `indent` plus two spaces, names sorted; `{}` when empty.
fn push_tensors(out: &mut String, tensors: &TensorMap, indent: &str) {
    if tensors.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (name, t)) in tensors.iter().enumerate() {
        out.push_str(indent);
        out.push_str("  ");
        push_string(out, name);
        out.push_str(": ");
        push_tensor(out, t);
        if i + 1 < tensors.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str(indent);
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every f16 bit pattern survives write → read, so the shortest-repr search is never lossy.
    #[test]
    fn every_f16_round_trips_through_text() {
        for bits in 0..=u16::MAX {
            let x = f16::from_bits(bits);
            let s = fmt_f16(x);
            let v: Value = serde_json::from_str(&s).unwrap();
            let y = float_value(0, &v, DType::Float16).map(f16::from_f64).unwrap();
            if x.is_nan() {
                assert!(y.is_nan());
            } else {
                assert_eq!(y.to_bits(), bits, "{x} printed as {s}");
            }
        }
    }

    #[test]
    fn floats_print_short() {
        assert_eq!(fmt_f32(0.1), "0.1");
        assert_eq!(fmt_f32(1.0), "1.0");
        assert_eq!(fmt_f32(-0.0), "-0.0");
        assert_eq!(fmt_f32(f32::NAN), "null");
        assert_eq!(fmt_f32(f32::NEG_INFINITY), "\"-Infinity\"");
        assert_eq!(fmt_f16(f16::from_f32(0.1)), "0.1");
        assert_eq!(fmt_f16(f16::from_f32(-0.0)), "-0.0");
        assert_eq!(fmt_f64(0.1), "0.1");
    }

    /// A strided sample of f32 bit patterns (all 2^32 take minutes; see the ignored test).
    #[test]
    fn sampled_f32_round_trip_through_text() {
        for bits in (0..=u32::MAX).step_by(65_521) {
            check_f32(bits);
        }
    }

    /// Every f32 (or every `FERRY_F32_STRIDE`-th), on all cores: about an hour of CPU for all 2^32.
    #[test]
    #[ignore = "exhaustive, run with --release --ignored"]
    fn every_f32_round_trips_through_text() {
        let stride: u64 = std::env::var("FERRY_F32_STRIDE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || {
                    let mut bits = t * stride;
                    while bits < 1 << 32 {
                        check_f32(bits as u32);
                        bits += threads * stride;
                    }
                });
            }
        });
    }

    fn check_f32(bits: u32) {
        let x = f32::from_bits(bits);
        if !x.is_finite() {
            return;
        }
        let s = fmt_f32(x);
        #[allow(clippy::cast_possible_truncation)]
        let y = serde_json::from_str::<Value>(&s).unwrap().as_f64().unwrap() as f32;
        assert_eq!(y.to_bits(), bits, "{x} printed as {s}");
    }
}
