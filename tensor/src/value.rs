//! Values that are not plain tensors: the sequences, maps and optionals ONNX builds from tensors
//! (skl2onnx's ZipMap answers with a sequence of maps), and their JSON form.
//!
//! Only JSON carries them, typed by the contract ([`ValueType`]): a sequence is an array of its elements,
//! a map an object from keys (integers written as decimal strings) to scalars, an optional `null` or its
//! value, a tensor any tensor form of the `.json` format. `[{"0": 0.9, "1": 0.1}]` is a ZipMap output.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::path::Path;

use ferry_spec::{DType, ValueType};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use crate::{Format, HeaderCheck, Part, Tensor, TensorData, TensorError, TensorMap, json};

/// A value of any kind ONNX Runtime exchanges.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A dense tensor.
    Tensor(Tensor),
    /// An ordered list of values of one type.
    Sequence(Vec<Value>),
    /// Keys to scalar values.
    Map(MapValue),
    /// A value that may be absent.
    Optional(Option<Box<Value>>),
}

/// A map's entries as two equally long columns, sorted by key, keys unique. The order is canonical, so
/// two maps with the same entries are equal whatever order they were built or read in.
#[derive(Debug, Clone, PartialEq)]
pub struct MapValue {
    keys: TensorData,
    values: TensorData,
}

/// Values by name, sorted so that writers are deterministic.
pub type ValueMap = BTreeMap<String, Value>;

/// A declared value's type: its kind and the dtype of its innermost tensors (a map's values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    /// The kind of value.
    pub ty: ValueType,
    /// The innermost dtype.
    pub dtype: DType,
}

impl MapValue {
    /// A map from `keys` (an integer or string column) to `values` (a column of any dtype), sorted by key.
    /// Refused when the columns differ in length, the key dtype cannot be a key, or a key repeats.
    pub fn new(keys: TensorData, values: TensorData) -> Result<MapValue, TensorError> {
        let bad = |reason: String| TensorError::ValueStructure { reason };
        if keys.len() != values.len() {
            return Err(bad(format!("a map has {} keys but {} values", keys.len(), values.len())));
        }
        let order = key_order(&keys).ok_or_else(|| bad(format!("a map key cannot be {}", keys.dtype())))?;
        for pair in order.windows(2) {
            if let [a, b] = pair
                && key_text(&keys, *a) == key_text(&keys, *b)
            {
                return Err(bad(format!("the key {} appears twice in a map", key_text(&keys, *a))));
            }
        }
        Ok(MapValue { keys: keys.select(&order), values: values.select(&order) })
    }

    /// The keys, sorted.
    pub fn keys(&self) -> &TensorData {
        &self.keys
    }

    /// The values, in key order.
    pub fn values(&self) -> &TensorData {
        &self.values
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Key `i` as text (a decimal integer or the string itself), as JSON writes it.
    pub fn key_text(&self, i: usize) -> String {
        key_text(&self.keys, i)
    }
}

/// The permutation that sorts a key column, numerically for integers; `None` for a non-key dtype.
fn key_order(keys: &TensorData) -> Option<Vec<usize>> {
    fn sorted<T: Ord>(v: &[T]) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].cmp(&v[b]));
        idx
    }
    Some(match keys {
        TensorData::I8(v) => sorted(v),
        TensorData::I16(v) => sorted(v),
        TensorData::I32(v) => sorted(v),
        TensorData::I64(v) => sorted(v),
        TensorData::U8(v) => sorted(v),
        TensorData::U16(v) => sorted(v),
        TensorData::U32(v) => sorted(v),
        TensorData::U64(v) => sorted(v),
        TensorData::String(v) => sorted(v),
        _ => return None,
    })
}

fn key_text(keys: &TensorData, i: usize) -> String {
    match keys {
        TensorData::I8(v) => v.get(i).map(ToString::to_string),
        TensorData::I16(v) => v.get(i).map(ToString::to_string),
        TensorData::I32(v) => v.get(i).map(ToString::to_string),
        TensorData::I64(v) => v.get(i).map(ToString::to_string),
        TensorData::U8(v) => v.get(i).map(ToString::to_string),
        TensorData::U16(v) => v.get(i).map(ToString::to_string),
        TensorData::U32(v) => v.get(i).map(ToString::to_string),
        TensorData::U64(v) => v.get(i).map(ToString::to_string),
        TensorData::String(v) => v.get(i).cloned(),
        _ => None,
    }
    .unwrap_or_default()
}

impl Value {
    /// The tensor, when this is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The tensor, when this is one.
    pub fn into_tensor(self) -> Option<Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// What kind of value this is, for messages: `tensor`, `sequence of 3`, `map of 2`, `empty optional`.
    pub fn kind(&self) -> String {
        match self {
            Value::Tensor(_) => "tensor".into(),
            Value::Sequence(v) => format!("sequence of {}", v.len()),
            Value::Map(m) => format!("map of {}", m.len()),
            Value::Optional(None) => "empty optional".into(),
            Value::Optional(Some(_)) => "optional".into(),
        }
    }

    /// Every element this value holds, map keys included; saturates instead of overflowing.
    pub fn elements(&self) -> usize {
        match self {
            Value::Tensor(t) => t.len(),
            Value::Sequence(v) => v.iter().fold(0usize, |n, x| n.saturating_add(x.elements())),
            Value::Map(m) => m.len().saturating_mul(2),
            Value::Optional(v) => v.as_ref().map_or(0, |x| x.elements()),
        }
    }

    /// The elements a comparison looks at: every tensor's, and every map's values (not its keys).
    pub fn compared_elements(&self) -> usize {
        match self {
            Value::Tensor(t) => t.len(),
            Value::Sequence(v) => v.iter().fold(0usize, |n, x| n.saturating_add(x.compared_elements())),
            Value::Map(m) => m.len(),
            Value::Optional(v) => v.as_ref().map_or(0, |x| x.compared_elements()),
        }
    }

    /// Whether the value has the structure `ty` declares, with innermost dtype `dtype` (a map's keys of
    /// its key dtype): `None` if so, else what differs, with where (`[2]`, `["7"]`) in front.
    pub fn mismatch(&self, ty: &ValueType, dtype: DType) -> Option<String> {
        match (ty, self) {
            (ValueType::Tensor, Value::Tensor(t)) => {
                (t.dtype() != dtype).then(|| format!("is a {} tensor, expected {dtype}", t.dtype()))
            }
            (ValueType::Sequence(inner), Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .find_map(|(i, x)| x.mismatch(inner, dtype).map(|m| format!("[{i}] {m}"))),
            (ValueType::Map { key }, Value::Map(m)) => {
                if m.keys.dtype() != *key {
                    Some(format!("has {} keys, expected {key}", m.keys.dtype()))
                } else if m.values.dtype() != dtype {
                    Some(format!("has {} values, expected {dtype}", m.values.dtype()))
                } else {
                    None
                }
            }
            (ValueType::Optional(_), Value::Optional(None)) => None,
            (ValueType::Optional(inner), Value::Optional(Some(v))) => v.mismatch(inner, dtype),
            // ONNX Runtime hands back a present optional as its value.
            (ValueType::Optional(inner), v) => v.mismatch(inner, dtype),
            (ty, v) => Some(format!("is a {}, expected {ty}", v.kind())),
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Tensor(t)
    }
}

/// Tensors as values.
pub fn values_from_tensors(tensors: TensorMap) -> ValueMap {
    tensors.into_iter().map(|(k, t)| (k, Value::Tensor(t))).collect()
}

/// The values that are tensors, when all of them are; else the name of the first that is not.
pub fn tensors_from_values(values: ValueMap) -> Result<TensorMap, (String, String)> {
    let mut out = TensorMap::new();
    for (name, v) in values {
        match v {
            Value::Tensor(t) => {
                out.insert(name, t);
            }
            other => return Err((name, other.kind())),
        }
    }
    Ok(out)
}

/// Reads the `part` of a value file whose declared types are `types`. A `.json` file may hold any kind of
/// value; `.npy`, `.npz` and `.safetensors` hold tensors only, so a non-tensor declared value found
/// there is refused naming the format to use. `check` sees each plain tensor's header as
/// [`crate::read_file_part`] does; elements inside containers count against `max_elements`.
pub fn read_values_part(
    path: &Path,
    types: &BTreeMap<String, Typed>,
    part: Part,
    check: &mut HeaderCheck<'_>,
    max_elements: usize,
) -> Result<ValueMap, TensorError> {
    let format =
        Format::from_path(path).ok_or_else(|| TensorError::UnknownFormat { path: path.to_owned() })?;
    let hints: BTreeMap<String, DType> = types.iter().map(|(k, t)| (k.clone(), t.dtype)).collect();
    if format != Format::Json || types.values().all(|t| t.ty.is_tensor()) {
        let tensors = crate::read_file_part(path, &hints, part, check)?;
        if let Some((name, t)) = types.iter().find(|(n, t)| !t.ty.is_tensor() && tensors.contains_key(*n)) {
            return Err(
                TensorError::NotATensor { name: name.clone(), ty: t.ty.to_string(), format }.in_file(path)
            );
        }
        return Ok(values_from_tensors(tensors));
    }
    let bytes = crate::read_file_bytes(path)?;
    read_json_values(&bytes, types, part, check, max_elements).map_err(|e| e.in_file(path))
}

/// [`read_values_part`] on the bytes of a `.json` file.
pub fn read_json_values(
    bytes: &[u8],
    types: &BTreeMap<String, Typed>,
    part: Part,
    check: &mut HeaderCheck<'_>,
    max_elements: usize,
) -> Result<ValueMap, TensorError> {
    let bytes = json::strip_bom(bytes);
    // serde_json's objects keep the last of two equal keys; a golden map that says two things about one
    // key must be refused, not half read.
    serde_json::from_slice::<NoDuplicateKeys>(bytes)
        .map_err(|e| TensorError::Json { reason: e.to_string() })?;
    let mut budget = max_elements;
    json::read_with(bytes, part, &mut |name, v| match types.get(name) {
        Some(t) if !t.ty.is_tensor() => {
            let value = from_json(v, &t.ty, t.dtype, &mut budget)?;
            Ok(value)
        }
        other => {
            let tensor = json::tensor_from_value(name, v, other.map(|t| t.dtype), check)?;
            budget = budget.saturating_sub(tensor.len());
            Ok(Value::Tensor(tensor))
        }
    })
}

fn structure(reason: impl Into<String>) -> TensorError {
    TensorError::ValueStructure { reason: reason.into() }
}

/// One value of type `ty` from JSON; errors inside a container say where (`[2]`, `["7"]`).
fn from_json(v: &Json, ty: &ValueType, dtype: DType, budget: &mut usize) -> Result<Value, TensorError> {
    let spend = |budget: &mut usize, n: usize| -> Result<(), TensorError> {
        *budget = budget.checked_sub(n).ok_or_else(|| {
            structure("the value holds more elements than a request may (its containers are too large)")
        })?;
        Ok(())
    };
    match ty {
        ValueType::Tensor => {
            let tensor = json::tensor_from_value("", v, Some(dtype), &mut |_| Ok(()))?;
            spend(budget, tensor.len())?;
            Ok(Value::Tensor(tensor))
        }
        ValueType::Sequence(inner) => {
            let Json::Array(items) = v else {
                return Err(structure(format!("expected an array (a {ty}), got {}", json::kind(v))));
            };
            spend(budget, items.len())?;
            let mut out = Vec::with_capacity(items.len());
            for (i, x) in items.iter().enumerate() {
                out.push(from_json(x, inner, dtype, budget).map_err(|e| e.at(format!("[{i}]")))?);
            }
            Ok(Value::Sequence(out))
        }
        ValueType::Map { key } => {
            let Json::Object(m) = v else {
                return Err(structure(format!(
                    "expected an object of key to value (a {ty}), got {}",
                    json::kind(v)
                )));
            };
            spend(budget, m.len().saturating_mul(2))?;
            let keys = parse_keys(m.keys(), *key)?;
            let leaves: Vec<&Json> = m.values().collect();
            let values = json::convert(&leaves, dtype).map_err(|e| match e {
                TensorError::Element { index, reason } => {
                    let k = m.keys().nth(index).cloned().unwrap_or_default();
                    structure(reason).at(format!("[{k:?}]"))
                }
                other => other,
            })?;
            Ok(Value::Map(MapValue::new(keys, values)?))
        }
        ValueType::Optional(inner) => match v {
            Json::Null => Ok(Value::Optional(None)),
            other => Ok(Value::Optional(Some(Box::new(from_json(other, inner, dtype, budget)?)))),
        },
    }
}

/// A map's keys from JSON's object keys: integers in decimal, or strings as they are.
fn parse_keys<'a>(keys: impl Iterator<Item = &'a String>, dtype: DType) -> Result<TensorData, TensorError> {
    fn ints<T: TryFrom<i128>>(
        keys: impl Iterator<Item = String>,
        dtype: DType,
    ) -> Result<Vec<T>, TensorError> {
        keys.map(|k| {
            k.parse::<i128>().ok().and_then(|i| T::try_from(i).ok()).ok_or_else(|| {
                structure(format!("the key {k:?} is not an integer {dtype} can hold")).at(format!("[{k:?}]"))
            })
        })
        .collect()
    }
    let keys = keys.cloned();
    Ok(match dtype {
        DType::Int8 => TensorData::I8(ints(keys, dtype)?),
        DType::Int16 => TensorData::I16(ints(keys, dtype)?),
        DType::Int32 => TensorData::I32(ints(keys, dtype)?),
        DType::Int64 => TensorData::I64(ints(keys, dtype)?),
        DType::Uint8 => TensorData::U8(ints(keys, dtype)?),
        DType::Uint16 => TensorData::U16(ints(keys, dtype)?),
        DType::Uint32 => TensorData::U32(ints(keys, dtype)?),
        DType::Uint64 => TensorData::U64(ints(keys, dtype)?),
        DType::String => TensorData::String(keys.collect()),
        other => return Err(structure(format!("a map key cannot be {other}"))),
    })
}

/// Parses any JSON document, refusing an object that names one key twice anywhere in it.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoDuplicateKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicateKeys, A::Error> {
                while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
                Ok(NoDuplicateKeys)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicateKeys, A::Error> {
                let mut seen = BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<NoDuplicateKeys>()?;
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!(
                            "the key {key:?} appears twice in one object"
                        )));
                    }
                }
                Ok(NoDuplicateKeys)
            }
        }
        d.deserialize_any(V)
    }
}

/// Encodes values as JSON, deterministically: an object of values by name, one per line, tensors in the
/// explicit form, sequences as arrays, maps as objects in key order, an empty optional as `null`.
/// Tensors among them are written as [`crate::write_bytes`] writes `.json` tensors, so a map of plain
/// tensors gives the same bytes either way.
pub fn json_values_bytes(values: &ValueMap) -> Vec<u8> {
    let mut out = String::new();
    push_values(&mut out, values, "");
    out.push('\n');
    out.into_bytes()
}

/// Writes values to a file, choosing the format by extension, atomically as [`crate::write_file`] does:
/// a map of plain tensors in any format, sequences, maps and optionals in `.json` only (any other
/// extension is refused naming the value).
pub fn write_values_file(path: &Path, values: &ValueMap) -> Result<(), TensorError> {
    let format =
        Format::from_path(path).ok_or_else(|| TensorError::UnknownFormat { path: path.to_owned() })?;
    let bytes = match tensors_from_values(values.clone()) {
        Ok(tensors) => crate::write_bytes(&tensors, format).map_err(|e| e.in_file(path))?,
        Err(_) if format == Format::Json => json_values_bytes(values),
        Err((name, kind)) => {
            return Err(TensorError::NotATensor { name, ty: kind, format }.in_file(path));
        }
    };
    crate::write_atomic(path, &bytes)
}

/// A golden file of both sides with values ([`json_values_bytes`] for each side).
pub fn golden_values_bytes(inputs: &ValueMap, outputs: &ValueMap) -> Vec<u8> {
    let mut out = String::from("{\n");
    for (side, values) in
        [(ferry_spec::GoldenSide::Inputs, inputs), (ferry_spec::GoldenSide::Outputs, outputs)]
    {
        let _ = write!(out, "  \"{side}\": ");
        push_values(&mut out, values, "  ");
        out.push_str(if side == ferry_spec::GoldenSide::Inputs { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out.into_bytes()
}

fn push_values(out: &mut String, values: &ValueMap, indent: &str) {
    if values.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (name, v)) in values.iter().enumerate() {
        out.push_str(indent);
        out.push_str("  ");
        json::push_string(out, name);
        out.push_str(": ");
        push_value(out, v);
        if i + 1 < values.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str(indent);
    out.push('}');
}

/// Appends one value as JSON.
pub(crate) fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Tensor(t) => json::push_tensor(out, t),
        Value::Sequence(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_value(out, x);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for i in 0..m.len() {
                if i > 0 {
                    out.push_str(", ");
                }
                json::push_string(out, &m.key_text(i));
                out.push_str(": ");
                if let Some(one) = m.values.select_one(i) {
                    json::push_data(out, &one);
                }
            }
            out.push('}');
        }
        Value::Optional(None) => out.push_str("null"),
        Value::Optional(Some(x)) => push_value(out, x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zipmap() -> Typed {
        Typed { ty: "sequence<map<int64, tensor>>".parse().unwrap(), dtype: DType::Float32 }
    }

    fn read(text: &str, types: &[(&str, Typed)]) -> Result<ValueMap, TensorError> {
        let types: BTreeMap<String, Typed> =
            types.iter().map(|(k, t)| ((*k).to_owned(), t.clone())).collect();
        read_json_values(text.as_bytes(), &types, Part::Whole, &mut |_| Ok(()), 1 << 20)
    }

    #[test]
    fn a_zipmap_output_reads_writes_and_reads_back() {
        let text = r#"{"p": [{"1": 0.25, "0": 0.75}, {"0": "NaN", "1": 1}], "label": [0, 1]}"#;
        let types = [("p", zipmap()), ("label", Typed { ty: ValueType::Tensor, dtype: DType::Int64 })];
        let values = read(text, &types).unwrap();
        let Value::Sequence(items) = &values["p"] else { panic!("{values:?}") };
        let Value::Map(first) = &items[0] else { panic!() };
        assert_eq!(first.keys(), &TensorData::I64(vec![0, 1]));
        assert_eq!(first.values(), &TensorData::F32(vec![0.75, 0.25]));
        let written = String::from_utf8(json_values_bytes(&values)).unwrap();
        assert_eq!(
            written,
            "{\n  \"label\": {\"dtype\": \"int64\", \"shape\": [2], \"data\": [0, 1]},\n  \"p\": [{\"0\": 0.75, \
             \"1\": 0.25}, {\"0\": null, \"1\": 1.0}]\n}\n"
        );
        let again = read(&written, &types).unwrap();
        assert_eq!(format!("{again:?}"), format!("{values:?}"), "NaN compares unequal, so compare the text");
    }

    #[test]
    fn hostile_values_are_refused_saying_where() {
        for (text, want) in [
            (r#"{"p": [{"0": 1, "0": 2}]}"#, "the key \"0\" appears twice in one object"),
            (r#"{"p": [{"0": 1, "00": 2}]}"#, "the key 0 appears twice in a map"),
            (r#"{"p": [{"x": 1}]}"#, "[0][\"x\"]: the key \"x\" is not an integer int64 can hold"),
            (r#"{"p": [{"1": "a"}]}"#, "[0][\"1\"]: expected a number"),
            (r#"{"p": {"0": 1}}"#, "expected an array (a sequence<map<int64, tensor>>), got an object"),
            (r#"{"p": [[1]]}"#, "[0]: expected an object of key to value"),
            (r#"{"p": [{"99999999999999999999": 1}]}"#, "not an integer int64 can hold"),
        ] {
            let e = read(text, &[("p", zipmap())]).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn containers_count_against_the_element_budget() {
        let types: BTreeMap<String, Typed> = [("p".to_owned(), zipmap())].into();
        let text = format!("{{\"p\": [{}]}}", vec!["{}"; 50].join(","));
        let e = read_json_values(text.as_bytes(), &types, Part::Whole, &mut |_| Ok(()), 10).unwrap_err();
        assert!(e.to_string().contains("more elements than a request may"), "{e}");
    }

    #[test]
    fn optionals_and_sequences_of_tensors() {
        let seq = Typed { ty: "sequence<tensor>".parse().unwrap(), dtype: DType::Float32 };
        let opt = Typed { ty: "optional<tensor>".parse().unwrap(), dtype: DType::Int64 };
        let v = read(
            r#"{"s": [[1, 2], {"dtype": "float32", "shape": [1], "data": [3]}], "o": null}"#,
            &[("s", seq.clone()), ("o", opt.clone())],
        )
        .unwrap();
        assert_eq!(v["o"], Value::Optional(None));
        assert_eq!(v["s"].mismatch(&seq.ty, seq.dtype), None);
        assert_eq!(v["o"].mismatch(&opt.ty, opt.dtype), None);
        let e = read(r#"{"s": [[1], {"dtype": "int64", "shape": [1], "data": [3]}]}"#, &[("s", seq.clone())])
            .map(|v| v["s"].mismatch(&seq.ty, seq.dtype));
        assert_eq!(e.unwrap().as_deref(), Some("[1] is a int64 tensor, expected float32"));
    }

    #[test]
    fn a_sequence_in_a_tensor_format_is_refused_naming_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npz");
        let t = Tensor::new(vec![1], TensorData::F32(vec![1.0])).unwrap();
        crate::write_file(&path, &TensorMap::from([("p".to_owned(), t)])).unwrap();
        let types: BTreeMap<String, Typed> = [("p".to_owned(), zipmap())].into();
        let e = read_values_part(&path, &types, Part::Whole, &mut |_| Ok(()), 100).unwrap_err().to_string();
        assert!(e.contains("`p` is a sequence<map<int64, tensor>>: only a .json file can hold it"), "{e}");
    }
}
