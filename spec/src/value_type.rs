//! What kind of value a declared input or output is: a tensor, or one of the containers ONNX builds from
//! tensors (a sequence, a map, an optional). skl2onnx classifiers answer with `sequence<map<int64, tensor>>`
//! (ZipMap), sequence operators take and give `sequence<tensor>`.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::DType;

/// How deep containers may nest in a declared type. ONNX Runtime itself runs nothing deeper than
/// `optional<sequence<map<…>>>`; the bound keeps the parser's recursion and every walk over a value small.
pub const MAX_TYPE_DEPTH: usize = 4;

/// The kind of a declared value, written in `ferry.toml` as `type = "sequence<map<int64, tensor>>"`.
///
/// The innermost `tensor` is the spec's `dtype` and `shape`; a container adds structure around it. A
/// missing `type` is a plain tensor, so bundles that declare only tensors keep their bytes.
///
/// ```
/// use ferry_spec::{DType, ValueType};
/// let zipmap: ValueType = "sequence<map<int64, tensor>>".parse().unwrap();
/// assert_eq!(zipmap, ValueType::Sequence(Box::new(ValueType::Map { key: DType::Int64 })));
/// assert_eq!(zipmap.to_string(), "sequence<map<int64, tensor>>");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ValueType {
    /// A dense tensor of the spec's dtype and shape.
    #[default]
    Tensor,
    /// An ordered list of values of one type; it may be empty.
    Sequence(Box<ValueType>),
    /// Keys of dtype `key` to scalar values of the spec's dtype, as ONNX Runtime supports maps.
    Map {
        /// The key dtype: an integer type or string.
        key: DType,
    },
    /// A value that may be absent (`null` in JSON).
    Optional(Box<ValueType>),
}

impl ValueType {
    /// Whether this is a plain tensor.
    pub fn is_tensor(&self) -> bool {
        matches!(self, ValueType::Tensor)
    }

    /// Whether the innermost tensors are a map's values (scalars).
    pub fn has_map(&self) -> bool {
        match self {
            ValueType::Tensor => false,
            ValueType::Map { .. } => true,
            ValueType::Sequence(inner) | ValueType::Optional(inner) => inner.has_map(),
        }
    }

    /// How many containers wrap the innermost tensor.
    pub fn depth(&self) -> usize {
        match self {
            ValueType::Tensor => 0,
            ValueType::Map { .. } => 1,
            ValueType::Sequence(inner) | ValueType::Optional(inner) => 1 + inner.depth(),
        }
    }

    /// Why ONNX (and so ONNX Runtime) cannot hold this type, if it cannot: sequences hold tensors, maps or
    /// sequences; optionals hold tensors or sequences; map keys are integers or strings.
    pub fn problem(&self) -> Option<String> {
        match self {
            ValueType::Tensor => None,
            ValueType::Map { key } => {
                (!is_map_key(*key)).then(|| format!("a map key must be an integer type or string, not {key}"))
            }
            ValueType::Sequence(inner) => match **inner {
                ValueType::Optional(_) => Some("a sequence cannot hold optional values".into()),
                _ => inner.problem(),
            },
            ValueType::Optional(inner) => match **inner {
                ValueType::Optional(_) => Some("an optional cannot hold an optional".into()),
                ValueType::Map { .. } => Some("an optional cannot hold a map".into()),
                _ => inner.problem(),
            },
        }
    }
}

/// Whether ONNX allows `d` as a map key.
fn is_map_key(d: DType) -> bool {
    matches!(
        d,
        DType::Int8
            | DType::Int16
            | DType::Int32
            | DType::Int64
            | DType::Uint8
            | DType::Uint16
            | DType::Uint32
            | DType::Uint64
            | DType::String
    )
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueType::Tensor => f.write_str("tensor"),
            ValueType::Sequence(inner) => write!(f, "sequence<{inner}>"),
            ValueType::Map { key } => write!(f, "map<{key}, tensor>"),
            ValueType::Optional(inner) => write!(f, "optional<{inner}>"),
        }
    }
}

/// Why a `type` string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a value type ({reason}); write tensor, sequence<T>, map<KEY, tensor> or optional<T>"
)]
pub struct ValueTypeError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for ValueType {
    type Err = ValueTypeError;

    fn from_str(text: &str) -> Result<ValueType, ValueTypeError> {
        let err = |reason: &str| ValueTypeError { text: text.to_owned(), reason: reason.to_owned() };
        let (t, rest) = parse(text.trim(), 0).map_err(|r| err(&r))?;
        if !rest.trim().is_empty() {
            return Err(err(&format!("unexpected `{}` after the type", rest.trim())));
        }
        Ok(t)
    }
}

/// Parses one type at the start of `s`, returning it and what follows.
fn parse(s: &str, depth: usize) -> Result<(ValueType, &str), String> {
    if depth > MAX_TYPE_DEPTH {
        return Err(format!("containers nest more than {MAX_TYPE_DEPTH} deep"));
    }
    let s = s.trim_start();
    let end = s.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(s.len());
    let (word, rest) = s.split_at(end);
    fn open<'a>(word: &str, rest: &'a str) -> Result<&'a str, String> {
        rest.trim_start().strip_prefix('<').ok_or_else(|| format!("`{word}` needs `<…>`"))
    }
    fn close<'a>(word: &str, rest: &'a str) -> Result<&'a str, String> {
        rest.trim_start().strip_prefix('>').ok_or_else(|| format!("`{word}<` is not closed"))
    }
    match word {
        "tensor" => Ok((ValueType::Tensor, rest)),
        "sequence" | "optional" => {
            let (inner, rest) = parse(open(word, rest)?, depth + 1)?;
            let rest = close(word, rest)?;
            let inner = Box::new(inner);
            Ok((
                if word == "sequence" { ValueType::Sequence(inner) } else { ValueType::Optional(inner) },
                rest,
            ))
        }
        "map" => {
            let rest = open(word, rest)?.trim_start();
            let end = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
            let (key, rest) = rest.split_at(end);
            let key = DType::from_name(key).ok_or_else(|| format!("`{key}` is not a dtype"))?;
            let rest = rest.trim_start().strip_prefix(',').ok_or("a map needs `map<KEY, tensor>`")?;
            let (value, rest) = parse(rest, depth + 1)?;
            if value != ValueType::Tensor {
                return Err("map values are tensors (scalars), as ONNX Runtime supports them".into());
            }
            Ok((ValueType::Map { key }, close(word, rest)?))
        }
        "" => Err("a type is missing".into()),
        other => Err(format!("`{other}` is not a kind of value")),
    }
}

impl Serialize for ValueType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ValueType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ValueType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ValueType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "tensor, sequence<T>, map<KEY, tensor> or optional<T>; the innermost tensor is the \
                            spec's dtype and shape",
            "pattern": "^[a-z0-9<>, ]+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_through_text() {
        for text in [
            "tensor",
            "sequence<tensor>",
            "sequence<map<int64, tensor>>",
            "sequence<map<string, tensor>>",
            "optional<tensor>",
            "optional<sequence<tensor>>",
            "map<int64, tensor>",
            "sequence<sequence<tensor>>",
        ] {
            let t: ValueType = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
            assert_eq!(t.problem(), None, "{text}");
        }
        let spaced: ValueType = " sequence < map < int64 ,tensor > > ".parse().unwrap();
        assert_eq!(spaced.to_string(), "sequence<map<int64, tensor>>");
    }

    #[test]
    fn bad_types_are_refused_with_the_reason() {
        for (text, reason) in [
            ("", "a type is missing"),
            ("list<tensor>", "`list` is not a kind of value"),
            ("sequence", "`sequence` needs `<…>`"),
            ("sequence<tensor", "`sequence<` is not closed"),
            ("map<int64>", "a map needs `map<KEY, tensor>`"),
            ("map<float99, tensor>", "`float99` is not a dtype"),
            ("map<int64, sequence<tensor>>", "map values are tensors"),
            ("tensor tensor", "unexpected `tensor` after the type"),
            ("optional<optional<optional<optional<optional<tensor>>>>>", "nest more than 4 deep"),
        ] {
            let e = text.parse::<ValueType>().unwrap_err();
            assert!(e.to_string().contains(reason), "{text}: {e}");
        }
        for (text, problem) in [
            ("map<float32, tensor>", "a map key must be an integer type or string, not float32"),
            ("optional<optional<tensor>>", "an optional cannot hold an optional"),
            ("optional<map<int64, tensor>>", "an optional cannot hold a map"),
            ("sequence<optional<tensor>>", "a sequence cannot hold optional values"),
        ] {
            let t: ValueType = text.parse().unwrap();
            assert_eq!(t.problem().as_deref(), Some(problem), "{text}");
        }
    }

    #[test]
    fn a_deep_nest_does_not_recurse_unboundedly() {
        let text = "sequence<".repeat(100_000) + "tensor" + &">".repeat(100_000);
        assert!(text.parse::<ValueType>().is_err());
    }
}
