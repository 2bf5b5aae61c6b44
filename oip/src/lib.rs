//! The Open Inference Protocol v2's tensors: datatype names, JSON `data` (flat or nested), the binary
//! tensor data extension, and the decoded request a server hands to its batcher. The one home of the
//! protocol's tensor rules: `ferry serve` (REST and gRPC) decodes through it, and so does the fuzz target
//! `oip_request`, without a server or ONNX Runtime.
//!
//! Every decoder checks what a tensor *declares* (name, datatype, shape, byte size) against the
//! bundle's contract before it decodes or allocates its data, so an oversized claim costs nothing.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use ferry_contract::ContractError;

/// Why a request could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The request is malformed: not an OIP v2 request, a shape that its data does not fill, an unknown
    /// datatype, a binary size past the end of the body.
    #[error("{0}")]
    BadRequest(String),
    /// A tensor declares what the data contract refuses (dtype, rank, dims, size): refused before its
    /// data was decoded.
    #[error(transparent)]
    Contract(Box<ContractError>),
}
use ferry_contract::Contract;
use ferry_spec::DType;
use ferry_tensor::{Tensor, TensorData, TensorMap};
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The OIP v2 datatype of a Ferry dtype (`BF16` is Triton's, which tritonclient speaks); `None` for the
/// dtypes the protocol has no name for (float8, int4).
pub fn datatype(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Bool => "BOOL",
        DType::Uint8 => "UINT8",
        DType::Uint16 => "UINT16",
        DType::Uint32 => "UINT32",
        DType::Uint64 => "UINT64",
        DType::Int8 => "INT8",
        DType::Int16 => "INT16",
        DType::Int32 => "INT32",
        DType::Int64 => "INT64",
        DType::Float16 => "FP16",
        DType::Float32 => "FP32",
        DType::Float64 => "FP64",
        DType::String => "BYTES",
        DType::BFloat16 => "BF16",
        _ => return None,
    })
}

/// The Ferry dtype of an OIP v2 datatype name.
pub fn dtype_of(name: &str) -> Option<DType> {
    [
        DType::Bool,
        DType::Uint8,
        DType::Uint16,
        DType::Uint32,
        DType::Uint64,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::Float16,
        DType::Float32,
        DType::Float64,
        DType::String,
        DType::BFloat16,
    ]
    .into_iter()
    .find(|&d| datatype(d) == Some(name))
}

/// A decoded inference request, whichever protocol it came in.
#[derive(Debug, Clone)]
pub struct InferRequest {
    /// The client's `id`, echoed in the answer.
    pub id: Option<String>,
    /// The input tensors, checked against the contract's declared dtypes and shapes.
    pub inputs: TensorMap,
    /// The outputs asked for, in the order asked; empty means all of them.
    pub outputs: Vec<RequestedOutput>,
    /// `binary_data_output`: every output binary unless it says otherwise.
    pub binary_output: bool,
    /// The client's `timeout` parameter (microseconds, as Triton reads it).
    pub timeout: Option<Duration>,
}

/// One output a request asks for.
#[derive(Debug, Clone)]
pub struct RequestedOutput {
    /// The output's name.
    pub name: String,
    /// Its `binary_data` parameter, when given.
    pub binary: Option<bool>,
}

/// One JSON scalar of a tensor's `data`.
#[derive(Debug, Clone)]
enum Scalar {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    /// JSON `null`: NaN in a float tensor, as Ferry's JSON tensor files write it.
    Null,
}

/// A tensor's `data`, flat or nested arrays, flattened in row-major order as it is parsed (no JSON
/// tree is built).
#[derive(Debug, Default)]
pub struct FlatData(Vec<Scalar>);

/// Nested arrays deeper than this are refused: no tensor of the protocol needs it, and recursion is
/// bounded.
const MAX_NESTING: usize = 32;

struct Flatten<'a> {
    out: &'a mut Vec<Scalar>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a boolean, a string or an array of them")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.push(Scalar::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.out.push(Scalar::I64(v));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.out.push(Scalar::U64(v));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.out.push(Scalar::F64(v));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.out.push(Scalar::Str(v.to_owned()));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.out.push(Scalar::Str(v));
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push(Scalar::Null);
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.out.push(Scalar::Null);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Flatten { out, depth } = self;
        if depth >= MAX_NESTING {
            return Err(serde::de::Error::custom(format!("data nests arrays more than {MAX_NESTING} deep")));
        }
        while seq.next_element_seed(Flatten { out: &mut *out, depth: depth + 1 })?.is_some() {}
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FlatData, D::Error> {
        let mut out = Vec::new();
        Flatten { out: &mut out, depth: 0 }.deserialize(d)?;
        Ok(FlatData(out))
    }
}

/// Python's `json` (and so `tritonclient`) writes non-finite floats as the bare words `NaN`, `Infinity`
/// and `-Infinity`, which are not JSON. Outside string literals they are quoted here, and the float
/// decoders read the quoted words back; a body without them is returned as it is.
pub fn quote_non_finite(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const WORDS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(w) = WORDS.iter().find(|w| body[i..].starts_with(w)) {
            let o = out.get_or_insert_with(|| body[..i].to_vec());
            o.push(b'"');
            o.extend_from_slice(w);
            o.push(b'"');
            i += w.len();
            continue;
        }
        if let Some(o) = &mut out {
            o.push(b);
        }
        i += 1;
    }
    match out {
        Some(o) => std::borrow::Cow::Owned(o),
        None => std::borrow::Cow::Borrowed(body),
    }
}

/// A request, input or output parameter. The protocol's parameters are booleans, numbers and strings; an
/// array or object is refused as it is met, so a parameter cannot hold a large JSON tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// `true` or `false`.
    Bool(bool),
    /// A negative integer.
    I64(i64),
    /// A non-negative integer.
    U64(u64),
    /// Any other number.
    F64(f64),
    /// A string.
    Str(String),
}

impl Param {
    /// The value as a non-negative integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Param::U64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as an integer, if it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Param::I64(v) => Some(*v),
            Param::U64(v) => i64::try_from(*v).ok(),
            _ => None,
        }
    }
}

struct ParamVisitor;

impl Visitor<'_> for ParamVisitor {
    type Value = Param;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, a number or a string (a parameter)")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Param, E> {
        Ok(Param::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Param, E> {
        Ok(if v < 0 { Param::I64(v) } else { Param::U64(v.unsigned_abs()) })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Param, E> {
        Ok(Param::U64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Param, E> {
        Ok(Param::F64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Param, E> {
        Ok(Param::Str(v.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Param, D::Error> {
        d.deserialize_any(ParamVisitor)
    }
}

/// One input as a protocol declares it, before its data is decoded.
#[derive(Debug)]
pub struct Declared<'a> {
    /// The input's name.
    pub name: &'a str,
    /// Its OIP v2 datatype (`FP32`, `BYTES`...).
    pub datatype: &'a str,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// Checks a declared input against the contract (dtype, rank, fixed dims, size limits) before any of its
/// data is decoded: returns its dtype and element count.
pub fn check_declared(
    contract: &Contract,
    d: &Declared<'_>,
    data_bytes: Option<u64>,
) -> Result<(DType, usize), DecodeError> {
    let dtype = dtype_of(d.datatype).ok_or_else(|| {
        DecodeError::BadRequest(format!("input `{}`: unknown datatype `{}`", d.name, d.datatype))
    })?;
    contract.check_declared(d.name, dtype, &d.shape, data_bytes).map_err(DecodeError::Contract)?;
    let n = ferry_tensor::numel(&d.shape).ok_or_else(|| {
        DecodeError::BadRequest(format!("input `{}`: shape {:?} overflows", d.name, d.shape))
    })?;
    Ok((dtype, n))
}

/// Builds a tensor from JSON `data`.
pub fn from_json(
    name: &str,
    dtype: DType,
    shape: Vec<usize>,
    n: usize,
    data: FlatData,
) -> Result<Tensor, DecodeError> {
    let FlatData(values) = data;
    if values.len() != n {
        return Err(DecodeError::BadRequest(format!(
            "input `{name}`: shape {shape:?} holds {n} elements, `data` has {}",
            values.len()
        )));
    }
    let bad = |i: usize, want: &str, v: &Scalar| {
        DecodeError::BadRequest(format!("input `{name}` element {i}: expected {want}, found {}", describe(v)))
    };
    macro_rules! floats {
        ($variant:ident, $conv:expr) => {{
            let mut out = Vec::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                let x = match v {
                    Scalar::F64(x) => *x,
                    #[allow(clippy::cast_precision_loss)]
                    Scalar::I64(x) => *x as f64,
                    #[allow(clippy::cast_precision_loss)]
                    Scalar::U64(x) => *x as f64,
                    Scalar::Null => f64::NAN,
                    Scalar::Str(s) => match s.as_str() {
                        "NaN" => f64::NAN,
                        "Infinity" => f64::INFINITY,
                        "-Infinity" => f64::NEG_INFINITY,
                        _ => return Err(bad(i, "a number", v)),
                    },
                    other => return Err(bad(i, "a number", other)),
                };
                out.push($conv(x));
            }
            TensorData::$variant(out)
        }};
    }
    macro_rules! ints {
        ($variant:ident, $t:ty) => {{
            let mut out = Vec::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                let x: Option<$t> = match v {
                    Scalar::I64(x) => <$t>::try_from(*x).ok(),
                    Scalar::U64(x) => <$t>::try_from(*x).ok(),
                    _ => None,
                };
                match x {
                    Some(x) => out.push(x),
                    None => return Err(bad(i, concat!("an integer in the range of ", stringify!($t)), v)),
                }
            }
            TensorData::$variant(out)
        }};
    }
    #[allow(clippy::cast_possible_truncation)]
    let data = match dtype {
        DType::Float32 => floats!(F32, |x: f64| x as f32),
        DType::Float64 => floats!(F64, |x: f64| x),
        DType::Float16 => floats!(F16, half::f16::from_f64),
        DType::BFloat16 => floats!(BF16, half::bf16::from_f64),
        DType::Int8 => ints!(I8, i8),
        DType::Int16 => ints!(I16, i16),
        DType::Int32 => ints!(I32, i32),
        DType::Int64 => ints!(I64, i64),
        DType::Uint8 => ints!(U8, u8),
        DType::Uint16 => ints!(U16, u16),
        DType::Uint32 => ints!(U32, u32),
        DType::Uint64 => ints!(U64, u64),
        DType::Bool => {
            let mut out = Vec::with_capacity(n);
            for (i, v) in values.iter().enumerate() {
                match v {
                    Scalar::Bool(b) => out.push(*b),
                    other => return Err(bad(i, "a boolean", other)),
                }
            }
            TensorData::Bool(out)
        }
        DType::String => {
            let mut out = Vec::with_capacity(n);
            for (i, v) in values.into_iter().enumerate() {
                match v {
                    Scalar::Str(s) => out.push(s),
                    other => return Err(bad(i, "a string", &other)),
                }
            }
            TensorData::String(out)
        }
        other => {
            return Err(DecodeError::BadRequest(format!("input `{name}`: {other} has no OIP v2 datatype")));
        }
    };
    Tensor::new(shape, data).map_err(|e| DecodeError::BadRequest(format!("input `{name}`: {e}")))
}

fn describe(v: &Scalar) -> String {
    match v {
        Scalar::Bool(b) => format!("the boolean {b}"),
        Scalar::I64(x) => format!("the integer {x}"),
        Scalar::U64(x) => format!("the integer {x}"),
        Scalar::F64(x) => format!("the number {x}"),
        Scalar::Str(_) => "a string".to_owned(),
        Scalar::Null => "null".to_owned(),
    }
}

/// Builds a tensor from raw bytes: little-endian elements, or for `BYTES` each element as a 4-byte
/// little-endian length then its bytes (UTF-8: Ferry's strings are text).
pub fn from_raw(
    name: &str,
    dtype: DType,
    shape: Vec<usize>,
    n: usize,
    bytes: &[u8],
) -> Result<Tensor, DecodeError> {
    let bad = |m: String| DecodeError::BadRequest(format!("input `{name}`: {m}"));
    let data = if dtype == DType::String {
        let mut out = Vec::with_capacity(n.min(bytes.len() / 4));
        let mut at = 0usize;
        while at < bytes.len() {
            if out.len() == n {
                return Err(bad(format!(
                    "the binary BYTES data holds more than the shape's {n} elements (byte offset {at})"
                )));
            }
            let Some(len) = bytes.get(at..at + 4) else {
                return Err(bad(format!("binary BYTES element {} is cut at byte offset {at}", out.len())));
            };
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let start = at + 4;
            let Some(s) = bytes.get(start..start.saturating_add(len)) else {
                return Err(bad(format!(
                    "binary BYTES element {} at byte offset {at} claims {len} bytes, {} remain",
                    out.len(),
                    bytes.len() - start
                )));
            };
            let s = std::str::from_utf8(s)
                .map_err(|e| bad(format!("BYTES element {} is not UTF-8: {e}", out.len())))?;
            out.push(s.to_owned());
            at = start + len;
        }
        TensorData::String(out)
    } else {
        let size = ferry_tensor::element_size(dtype)
            .ok_or_else(|| bad(format!("{dtype} has no binary encoding")))?;
        let expected = n.checked_mul(size).ok_or_else(|| bad("shape overflows".to_owned()))?;
        if bytes.len() != expected {
            return Err(bad(format!(
                "shape {shape:?} of {} needs {expected} bytes, the binary data has {}",
                datatype(dtype).unwrap_or("?"),
                bytes.len()
            )));
        }
        ferry_tensor::from_le_bytes(dtype, bytes).map_err(|e| bad(e.to_string()))?
    };
    if data.len() != n {
        return Err(bad(format!("shape {shape:?} holds {n} elements, the binary data has {}", data.len())));
    }
    Tensor::new(shape, data).map_err(|e| bad(e.to_string()))
}

/// The raw bytes of an output (the binary extension, gRPC's `raw_output_contents`).
pub fn to_raw(t: &Tensor) -> Vec<u8> {
    match &t.data {
        TensorData::String(v) => {
            let mut out = Vec::with_capacity(v.iter().map(|s| s.len() + 4).sum());
            for s in v {
                // A string over 4 GiB cannot come out of a model whose request was within the limits.
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            out
        }
        other => ferry_tensor::to_le_bytes(other).unwrap_or_default(),
    }
}

/// An output as JSON `data` (flat, row-major). Non-finite floats, which JSON cannot hold, are `null`.
pub fn to_json(t: &Tensor) -> serde_json::Value {
    use serde_json::Value;
    fn num(x: f64) -> Value {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
    let values: Vec<Value> = match &t.data {
        TensorData::F32(v) => v.iter().map(|&x| num(f64::from(x))).collect(),
        TensorData::F64(v) => v.iter().map(|&x| num(x)).collect(),
        TensorData::F16(v) => v.iter().map(|x| num(x.to_f64())).collect(),
        TensorData::BF16(v) => v.iter().map(|x| num(x.to_f64())).collect(),
        TensorData::I8(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::I16(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::I32(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::I64(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::U8(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::U16(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::U32(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::U64(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| Value::from(x)).collect(),
        TensorData::String(v) => v.iter().map(|x| Value::from(x.as_str())).collect(),
        _ => (0..t.len()).map(|i| t.as_f64(i).map_or(Value::Null, num)).collect(),
    };
    Value::Array(values)
}

#[derive(serde::Deserialize)]
struct RestRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, Param>,
    inputs: Vec<RestInput>,
    #[serde(default)]
    outputs: Vec<RestOutput>,
}

#[derive(serde::Deserialize)]
struct RestInput {
    name: String,
    shape: Vec<u64>,
    datatype: String,
    #[serde(default)]
    parameters: BTreeMap<String, Param>,
    #[serde(default)]
    data: Option<FlatData>,
}

#[derive(serde::Deserialize)]
struct RestOutput {
    name: String,
    #[serde(default)]
    parameters: BTreeMap<String, Param>,
}

/// Decodes an inference request: the JSON part, then each input's data (JSON or binary), each checked
/// against the contract from what it declares before its data is decoded.
///
/// `header_length` is the `Inference-Header-Content-Length` header of the binary tensor data extension:
/// the JSON part's length, the binary data following it.
pub fn decode_rest(
    contract: &Contract,
    header_length: Option<&str>,
    body: &[u8],
) -> Result<InferRequest, DecodeError> {
    let split = match header_length {
        None => body.len(),
        Some(v) => {
            let n = v.trim().parse::<usize>().ok().ok_or_else(|| {
                DecodeError::BadRequest(format!(
                    "header `Inference-Header-Content-Length` is not a byte count: {v:?}"
                ))
            })?;
            if n > body.len() {
                return Err(DecodeError::BadRequest(format!(
                    "header `Inference-Header-Content-Length` is {n}, the body has {} bytes",
                    body.len()
                )));
            }
            n
        }
    };
    let (json_part, mut binary) = body.split_at(split);
    let json_part = quote_non_finite(json_part);
    let request: RestRequest = serde_json::from_slice(&json_part).map_err(|e| {
        DecodeError::BadRequest(format!("the request is not a valid OIP v2 inference request: {e}"))
    })?;
    let mut inputs = TensorMap::new();
    let mut binary_at = split;
    for input in request.inputs {
        if inputs.contains_key(&input.name) {
            return Err(DecodeError::BadRequest(format!("input `{}` is given twice", input.name)));
        }
        let shape: Vec<usize> =
            input.shape.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| {
                DecodeError::BadRequest(format!(
                    "input `{}`: shape {:?} is too large",
                    input.name, input.shape
                ))
            })?;
        let binary_size = match input.parameters.get("binary_data_size") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                DecodeError::BadRequest(format!(
                    "input `{}`: parameter `binary_data_size` is not a byte count",
                    input.name
                ))
            })?),
        };
        let declared = Declared { name: &input.name, datatype: &input.datatype, shape };
        let (dtype, n) = check_declared(contract, &declared, binary_size)?;
        let tensor = match (binary_size, input.data) {
            (Some(size), None) => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > binary.len() {
                    return Err(DecodeError::BadRequest(format!(
                        "input `{}`: binary_data_size {size} at byte offset {binary_at}, but only {} bytes remain in the body",
                        input.name,
                        binary.len()
                    )));
                }
                let (data, rest) = binary.split_at(size);
                binary = rest;
                binary_at += size;
                from_raw(&input.name, dtype, declared.shape, n, data)?
            }
            (None, Some(data)) => from_json(&input.name, dtype, declared.shape, n, data)?,
            (Some(_), Some(_)) => {
                return Err(DecodeError::BadRequest(format!(
                    "input `{}` has both `data` and `binary_data_size`",
                    input.name
                )));
            }
            (None, None) => {
                return Err(DecodeError::BadRequest(format!(
                    "input `{}` has neither `data` nor `binary_data_size`",
                    input.name
                )));
            }
        };
        inputs.insert(input.name, tensor);
    }
    if !binary.is_empty() {
        return Err(DecodeError::BadRequest(format!(
            "{} bytes of binary data at byte offset {binary_at} belong to no input",
            binary.len()
        )));
    }
    let flag = |params: &BTreeMap<String, Param>, key: &str| -> Result<Option<bool>, DecodeError> {
        match params.get(key) {
            None => Ok(None),
            Some(Param::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(DecodeError::BadRequest(format!("parameter `{key}` is not a boolean"))),
        }
    };
    let mut outputs = Vec::with_capacity(request.outputs.len());
    for o in request.outputs {
        let binary = flag(&o.parameters, "binary_data")?;
        outputs.push(RequestedOutput { name: o.name, binary });
    }
    let timeout = match request.parameters.get("timeout") {
        None => None,
        Some(v) => Some(v.as_i64().and_then(timeout_micros).ok_or_else(|| {
            DecodeError::BadRequest("parameter `timeout` is not a positive number of microseconds".into())
        })?),
    };
    Ok(InferRequest {
        id: request.id,
        inputs,
        outputs,
        binary_output: flag(&request.parameters, "binary_data_output")?.unwrap_or(false),
        timeout,
    })
}

/// A Triton-style `timeout` parameter (microseconds) from a JSON or gRPC parameter value.
pub fn timeout_micros(v: i64) -> Option<Duration> {
    u64::try_from(v).ok().filter(|&us| us > 0).map(Duration::from_micros)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn nested_and_flat_data_flatten_alike() {
        let nested: FlatData = serde_json::from_str("[[1, 2], [3, 4]]").unwrap();
        let flat: FlatData = serde_json::from_str("[1, 2, 3, 4]").unwrap();
        let a = from_json("x", DType::Int64, vec![2, 2], 4, nested).unwrap();
        let b = from_json("x", DType::Int64, vec![2, 2], 4, flat).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn non_finite_words_are_read_outside_strings_only() {
        let body = br#"{"id": "NaN \" Infinity", "data": [NaN, -Infinity, Infinity, null, 1]}"#;
        let quoted = quote_non_finite(body);
        let v: serde_json::Value = serde_json::from_slice(&quoted).unwrap();
        assert_eq!(v["id"], "NaN \" Infinity");
        let d: FlatData = serde_json::from_value(v["data"].clone()).unwrap();
        let t = from_json("x", DType::Float64, vec![5], 5, d).unwrap();
        let TensorData::F64(x) = t.data else { panic!() };
        assert!(x[0].is_nan() && x[1] == f64::NEG_INFINITY && x[2] == f64::INFINITY && x[3].is_nan());
        assert!(matches!(quote_non_finite(b"[1, 2]"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let e = serde_json::from_str::<FlatData>(&deep).unwrap_err();
        assert!(e.to_string().contains("more than 32 deep"), "{e}");
    }

    #[test]
    fn out_of_range_integers_name_the_element() {
        let d: FlatData = serde_json::from_str("[1, 300]").unwrap();
        let e = from_json("x", DType::Uint8, vec![2], 2, d).unwrap_err();
        assert!(e.to_string().contains("element 1"), "{e}");
    }

    #[test]
    fn binary_bytes_roundtrip_and_truncation() {
        let t = Tensor::new(vec![2], TensorData::String(vec!["ab".into(), "".into()])).unwrap();
        let raw = to_raw(&t);
        assert_eq!(from_raw("s", DType::String, vec![2], 2, &raw).unwrap(), t);
        let e = from_raw("s", DType::String, vec![2], 2, &raw[..5]).unwrap_err();
        assert!(e.to_string().contains("byte offset 0"), "{e}");
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.push(b'a');
        assert!(from_raw("s", DType::String, vec![1], 1, &huge).is_err());
    }

    #[test]
    fn parameters_are_scalars_and_bytes_stop_at_the_shape() {
        let contract = Contract::new(&[], &[]);
        let e =
            decode_rest(&contract, None, br#"{"parameters": {"x": [1, 2, 3]}, "inputs": []}"#).unwrap_err();
        assert!(e.to_string().contains("a boolean, a number or a string"), "{e}");
        assert!(
            decode_rest(&contract, None, br#"{"parameters": {"x": "y", "n": -1}, "inputs": []}"#).is_ok()
        );
        let t = Tensor::new(vec![2], TensorData::String(vec!["a".into(), "b".into()])).unwrap();
        let e = from_raw("s", DType::String, vec![1], 1, &to_raw(&t)).unwrap_err();
        assert!(e.to_string().contains("more than the shape's 1 elements"), "{e}");
    }

    #[test]
    fn binary_length_must_match_the_shape() {
        let e = from_raw("f", DType::Float32, vec![2], 2, &[0; 7]).unwrap_err();
        assert!(e.to_string().contains("needs 8 bytes"), "{e}");
    }

    #[test]
    fn every_datatype_name_roundtrips() {
        for name in ["BOOL", "UINT8", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16"] {
            assert_eq!(datatype(dtype_of(name).unwrap()), Some(name));
        }
        assert!(dtype_of("FP8").is_none());
    }
}

#[cfg(test)]
mod properties {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn nested() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![any::<i32>().prop_map(serde_json::Value::from), Just(serde_json::Value::Null)];
        leaf.prop_recursive(4, 64, 5, |inner| {
            prop::collection::vec(inner, 0..5).prop_map(serde_json::Value::Array)
        })
    }

    fn reference_flatten(v: &serde_json::Value, out: &mut Vec<Option<i64>>) {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| reference_flatten(x, out)),
            other => out.push(other.as_i64()),
        }
    }

    proptest! {
        /// Flattening while parsing gives the row-major order a tree walk gives.
        #[test]
        fn flattening_matches_a_tree_walk(v in nested()) {
            let mut want = Vec::new();
            reference_flatten(&v, &mut want);
            let FlatData(got) = serde_json::from_str(&v.to_string()).unwrap();
            let got: Vec<Option<i64>> = got.iter().map(|s| match s { Scalar::I64(x) => Some(*x), Scalar::U64(x) => i64::try_from(*x).ok(), _ => None }).collect();
            prop_assert_eq!(got, want);
        }

        /// The binary BYTES reader takes any bytes without panicking or over-allocating, and reads back
        /// what the writer wrote.
        #[test]
        fn binary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), n in 0usize..8) {
            let _ = from_raw("s", DType::String, vec![n], n, &bytes);
        }

        #[test]
        fn binary_bytes_round_trip(strings in prop::collection::vec(".{0,8}", 0..6)) {
            let n = strings.len();
            let t = Tensor::new(vec![n], TensorData::String(strings)).unwrap();
            prop_assert_eq!(from_raw("s", DType::String, vec![n], n, &to_raw(&t)).unwrap(), t);
        }

        /// Quoting `NaN`/`Infinity` never touches a document without them, nor anything inside a string.
        #[test]
        fn quoting_leaves_json_alone(s in ".{0,40}", x in any::<i64>()) {
            let doc = serde_json::json!({"id": s, "data": [x]}).to_string();
            let quoted = quote_non_finite(doc.as_bytes());
            prop_assert_eq!(&quoted[..], doc.as_bytes());
        }
    }
}

#[cfg(test)]
mod seeds {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// The fuzz target's seeds decode: one JSON request (with a bare `NaN`), one with binary data.
    #[test]
    fn the_fuzz_seeds_are_requests() {
        let spec = |v: serde_json::Value| -> ferry_spec::TensorSpec { serde_json::from_value(v).unwrap() };
        let inputs = [
            spec(serde_json::json!({"name": "features", "dtype": "float32", "shape": ["batch", 3]})),
            spec(serde_json::json!({"name": "text", "dtype": "string", "shape": ["batch"]})),
        ];
        let contract = Contract::new(&inputs, &[]);
        let json = include_bytes!("../../fuzz/seeds/oip_request/json");
        let r = decode_rest(&contract, None, &json[1..]).unwrap();
        let TensorData::F32(x) = &r.inputs["features"].data else { panic!() };
        assert!(x[2].is_nan());
        assert_eq!(r.outputs[0].binary, Some(true));
        let binary = include_bytes!("../../fuzz/seeds/oip_request/binary");
        let len = u16::from_le_bytes([binary[1], binary[2]]).to_string();
        let r = decode_rest(&contract, Some(&len), &binary[3..]).unwrap();
        assert_eq!(r.inputs["text"].data, TensorData::String(vec!["hi".into()]));
        assert_eq!(r.inputs["features"].data, TensorData::F32(vec![1.0, 2.0, 3.0]));
    }
}
