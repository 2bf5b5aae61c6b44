//! `TensorProto`, `SequenceProto` and `OptionalProto` values, as stored in ONNX test data (`input_0.pb`).

use ferry_spec::DType;

use crate::error::{OnnxError, display_name};
use crate::model::ValueKind;
use crate::wire::{Field, Fields, Span, check_depth};

/// A dense tensor read from a `TensorProto`.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorProtoData {
    /// `TensorProto.name`; empty when absent.
    pub name: String,
    /// The element type.
    pub dtype: DType,
    /// The shape; empty for a scalar.
    pub dims: Vec<i64>,
    /// The elements in row-major order; the variant always matches `dtype`.
    pub data: TensorValues,
}

/// The elements of a tensor, one variant per [`DType`].
#[derive(Debug, Clone, PartialEq)]
pub enum TensorValues {
    /// float32.
    F32(Vec<f32>),
    /// float64.
    F64(Vec<f64>),
    /// float16, as raw IEEE 754 half-precision bits.
    F16(Vec<u16>),
    /// int8.
    I8(Vec<i8>),
    /// int16.
    I16(Vec<i16>),
    /// int32.
    I32(Vec<i32>),
    /// int64.
    I64(Vec<i64>),
    /// uint8.
    U8(Vec<u8>),
    /// uint16.
    U16(Vec<u16>),
    /// uint32.
    U32(Vec<u32>),
    /// uint64.
    U64(Vec<u64>),
    /// bool.
    Bool(Vec<bool>),
    /// string, as the raw bytes ONNX stores (UTF-8 by convention, not checked).
    String(Vec<Vec<u8>>),
    /// bfloat16, as raw bits.
    BF16(Vec<u16>),
    /// float8 E4M3FN, as raw bits.
    F8E4M3FN(Vec<u8>),
    /// float8 E4M3FNUZ, as raw bits.
    F8E4M3FNUZ(Vec<u8>),
    /// float8 E5M2, as raw bits.
    F8E5M2(Vec<u8>),
    /// float8 E5M2FNUZ, as raw bits.
    F8E5M2FNUZ(Vec<u8>),
    /// int4, one value (-8..=7) per entry, unpacked from ONNX's two per byte.
    I4(Vec<i8>),
    /// uint4, one value (0..=15) per entry, unpacked from ONNX's two per byte.
    U4(Vec<u8>),
}

impl TensorValues {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorValues::F32(v) => v.len(),
            TensorValues::F64(v) => v.len(),
            TensorValues::F16(v) | TensorValues::U16(v) => v.len(),
            TensorValues::I8(v) => v.len(),
            TensorValues::I16(v) => v.len(),
            TensorValues::I32(v) => v.len(),
            TensorValues::I64(v) => v.len(),
            TensorValues::U8(v) => v.len(),
            TensorValues::U32(v) => v.len(),
            TensorValues::U64(v) => v.len(),
            TensorValues::Bool(v) => v.len(),
            TensorValues::String(v) => v.len(),
            TensorValues::BF16(v) => v.len(),
            TensorValues::F8E4M3FN(v)
            | TensorValues::F8E4M3FNUZ(v)
            | TensorValues::F8E5M2(v)
            | TensorValues::F8E5M2FNUZ(v)
            | TensorValues::U4(v) => v.len(),
            TensorValues::I4(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type the variant holds (`U16` is uint16; float16 bits use `F16`).
    pub fn dtype(&self) -> DType {
        match self {
            TensorValues::F32(_) => DType::Float32,
            TensorValues::F64(_) => DType::Float64,
            TensorValues::F16(_) => DType::Float16,
            TensorValues::I8(_) => DType::Int8,
            TensorValues::I16(_) => DType::Int16,
            TensorValues::I32(_) => DType::Int32,
            TensorValues::I64(_) => DType::Int64,
            TensorValues::U8(_) => DType::Uint8,
            TensorValues::U16(_) => DType::Uint16,
            TensorValues::U32(_) => DType::Uint32,
            TensorValues::U64(_) => DType::Uint64,
            TensorValues::Bool(_) => DType::Bool,
            TensorValues::String(_) => DType::String,
            TensorValues::BF16(_) => DType::BFloat16,
            TensorValues::F8E4M3FN(_) => DType::Float8E4M3FN,
            TensorValues::F8E4M3FNUZ(_) => DType::Float8E4M3FNUZ,
            TensorValues::F8E5M2(_) => DType::Float8E5M2,
            TensorValues::F8E5M2FNUZ(_) => DType::Float8E5M2FNUZ,
            TensorValues::I4(_) => DType::Int4,
            TensorValues::U4(_) => DType::Uint4,
        }
    }
}

/// A value of ONNX test data: a tensor, a sequence or an optional.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A dense tensor.
    Tensor(TensorProtoData),
    /// A sequence of values of one kind.
    Sequence(Vec<Value>),
    /// An optional value; `None` when empty.
    Optional(Option<Box<Value>>),
}

/// Reads one `TensorProto` (e.g. an ONNX backend test's `input_0.pb`) with its data inline.
///
/// Data may be in `raw_data` (little-endian) or in the typed field for the data type, packed or not.
/// Fails on external data, on data types Ferry does not support and when the number of elements does not
/// equal the product of `dims`.
pub fn read_tensor(bytes: &[u8]) -> Result<TensorProtoData, OnnxError> {
    decode_tensor(Span::new(bytes), 0)
}

/// Reads a value of the given kind: the kind comes from the model's input/output type, because a
/// serialized `SequenceProto` or `OptionalProto` does not say what it is.
///
/// Maps, sparse tensors and opaque values are refused with [`OnnxError::UnsupportedValue`].
pub fn read_value(bytes: &[u8], kind: ValueKind) -> Result<Value, OnnxError> {
    let span = Span::new(bytes);
    match kind {
        ValueKind::Tensor => decode_tensor(span, 0).map(Value::Tensor),
        ValueKind::Sequence => decode_sequence(span, 0),
        ValueKind::Optional => decode_optional(span, 0),
        other => Err(OnnxError::UnsupportedValue { what: "value".to_owned(), kind: other.name() }),
    }
}

// `SequenceProto.DataType` / `OptionalProto.DataType`.
const ELEM_TENSOR: i32 = 1;
const ELEM_SPARSE_TENSOR: i32 = 2;
const ELEM_SEQUENCE: i32 = 3;
const ELEM_MAP: i32 = 4;
const ELEM_OPTIONAL: i32 = 5;

fn elem_kind_name(elem_type: i32) -> &'static str {
    match elem_type {
        ELEM_SPARSE_TENSOR => "sparse tensor",
        ELEM_MAP => "map",
        _ => "unknown",
    }
}

fn decode_sequence(span: Span<'_>, depth: u32) -> Result<Value, OnnxError> {
    let mut fields = Fields::new(span, "SequenceProto");
    let mut name = String::new();
    let mut elem_type = 0;
    // (field number, payload) in wire order; decoded once elem_type is known.
    let mut values: Vec<Field<'_>> = Vec::new();
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => name = f.string()?,
            2 => elem_type = f.int32()?,
            3..=7 => {
                f.bytes()?;
                values.push(f);
            }
            _ => {}
        }
    }
    let what = || format!("SequenceProto `{}`", display_name(&name));
    let wanted = match elem_type {
        ELEM_TENSOR => 3,
        ELEM_SEQUENCE => 5,
        ELEM_OPTIONAL => 7,
        // An empty sequence of unspecified type carries no data to misread.
        0 if values.is_empty() => return Ok(Value::Sequence(Vec::new())),
        t => return Err(OnnxError::UnsupportedValue { what: what(), kind: elem_kind_name(t) }),
    };
    let mut out = Vec::with_capacity(values.len());
    for f in values {
        if f.number != wanted {
            return Err(OnnxError::ElemTypeMismatch { what: what(), elem_type, field: f.number });
        }
        let span = f.bytes()?;
        out.push(decode_element(&f, span, wanted, depth + 1)?);
    }
    Ok(Value::Sequence(out))
}

fn decode_element(f: &Field<'_>, span: Span<'_>, field: u32, depth: u32) -> Result<Value, OnnxError> {
    check_depth(depth, f.offset)?;
    match field {
        3 => decode_tensor(span, depth).map(Value::Tensor),
        5 => decode_sequence(span, depth),
        _ => decode_optional(span, depth),
    }
}

fn decode_optional(span: Span<'_>, depth: u32) -> Result<Value, OnnxError> {
    let mut fields = Fields::new(span, "OptionalProto");
    let mut name = String::new();
    let mut elem_type = 0;
    let mut value: Option<Field<'_>> = None;
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => name = f.string()?,
            2 => elem_type = f.int32()?,
            3..=7 => {
                f.bytes()?;
                value = Some(f);
            }
            _ => {}
        }
    }
    let what = || format!("OptionalProto `{}`", display_name(&name));
    let Some(f) = value else {
        return Ok(Value::Optional(None));
    };
    let wanted = match elem_type {
        ELEM_TENSOR => 3,
        ELEM_SEQUENCE => 5,
        ELEM_OPTIONAL => 7,
        t => return Err(OnnxError::UnsupportedValue { what: what(), kind: elem_kind_name(t) }),
    };
    if f.number != wanted {
        return Err(OnnxError::ElemTypeMismatch { what: what(), elem_type, field: f.number });
    }
    let inner = decode_element(&f, f.bytes()?, wanted, depth + 1)?;
    Ok(Value::Optional(Some(Box::new(inner))))
}

/// The ONNX name of a `TensorProto.DataType` code, for error messages.
pub(crate) fn onnx_type_name(code: i32) -> &'static str {
    match code {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        14 => "COMPLEX64",
        15 => "COMPLEX128",
        16 => "BFLOAT16",
        17 => "FLOAT8E4M3FN",
        18 => "FLOAT8E4M3FNUZ",
        19 => "FLOAT8E5M2",
        20 => "FLOAT8E5M2FNUZ",
        21 => "UINT4",
        22 => "INT4",
        23 => "FLOAT4E2M1",
        24 => "FLOAT8E8M0",
        _ => "unknown",
    }
}

// TensorProto field numbers.
pub(crate) const T_DIMS: u32 = 1;
pub(crate) const T_DATA_TYPE: u32 = 2;
pub(crate) const T_SEGMENT: u32 = 3;
pub(crate) const T_FLOAT_DATA: u32 = 4;
pub(crate) const T_INT32_DATA: u32 = 5;
pub(crate) const T_STRING_DATA: u32 = 6;
pub(crate) const T_INT64_DATA: u32 = 7;
pub(crate) const T_NAME: u32 = 8;
pub(crate) const T_RAW_DATA: u32 = 9;
pub(crate) const T_DOUBLE_DATA: u32 = 10;
pub(crate) const T_UINT64_DATA: u32 = 11;
pub(crate) const T_EXTERNAL_DATA: u32 = 13;
pub(crate) const T_DATA_LOCATION: u32 = 14;

/// `TensorProto.DataLocation.EXTERNAL`.
pub(crate) const EXTERNAL: i32 = 1;

pub(crate) fn field_name(number: u32) -> &'static str {
    match number {
        T_FLOAT_DATA => "float_data",
        T_INT32_DATA => "int32_data",
        T_STRING_DATA => "string_data",
        T_INT64_DATA => "int64_data",
        T_DOUBLE_DATA => "double_data",
        T_UINT64_DATA => "uint64_data",
        _ => "raw_data",
    }
}

/// The typed field that holds data of `dtype` when `raw_data` is not used.
fn typed_field(dtype: DType) -> u32 {
    match dtype {
        DType::Float32 => T_FLOAT_DATA,
        DType::Float64 => T_DOUBLE_DATA,
        DType::Int64 => T_INT64_DATA,
        DType::Uint32 | DType::Uint64 => T_UINT64_DATA,
        DType::String => T_STRING_DATA,
        DType::Float16
        | DType::Int8
        | DType::Int16
        | DType::Int32
        | DType::Uint8
        | DType::Uint16
        | DType::Bool
        | DType::BFloat16
        | DType::Float8E4M3FN
        | DType::Float8E4M3FNUZ
        | DType::Float8E5M2
        | DType::Float8E5M2FNUZ
        | DType::Int4
        | DType::Uint4 => T_INT32_DATA,
    }
}

/// Reads `key`/`value` of a `StringStringEntryProto`.
pub(crate) fn read_entry(f: &Field<'_>, depth: u32) -> Result<(String, String), OnnxError> {
    let mut fields = f.message(depth, "StringStringEntryProto")?;
    let (mut key, mut value) = (String::new(), String::new());
    while let Some(e) = fields.next_field()? {
        match e.number {
            1 => key = e.string()?,
            2 => value = e.string()?,
            _ => {}
        }
    }
    Ok((key, value))
}

fn decode_tensor(span: Span<'_>, depth: u32) -> Result<TensorProtoData, OnnxError> {
    let mut fields = Fields::new(span, "TensorProto");
    let mut name = String::new();
    let mut code = 0;
    let mut dims = Vec::new();
    let mut segmented = false;
    let mut location: Option<i32> = None;
    let mut ext_location = String::new();
    let mut raw: Option<Span<'_>> = None;
    let mut typed: Vec<Field<'_>> = Vec::new();
    while let Some(f) = fields.next_field()? {
        match f.number {
            T_DIMS => {
                dims.reserve(f.varint_count());
                f.for_each_varint(|d| {
                    dims.push(d as i64);
                    Ok(())
                })?;
            }
            T_DATA_TYPE => code = f.int32()?,
            T_SEGMENT => {
                f.bytes()?;
                segmented = true;
            }
            T_NAME => name = f.string()?,
            T_RAW_DATA => raw = Some(f.bytes()?),
            T_DATA_LOCATION => location = Some(f.int32()?),
            T_EXTERNAL_DATA => {
                let (k, v) = read_entry(&f, depth + 1)?;
                if k == "location" {
                    ext_location = v;
                }
            }
            T_FLOAT_DATA | T_INT32_DATA | T_STRING_DATA | T_INT64_DATA | T_DOUBLE_DATA | T_UINT64_DATA => {
                typed.push(f)
            }
            _ => {}
        }
    }
    let tensor = display_name(&name);
    if segmented {
        return Err(OnnxError::Segmented { tensor });
    }
    if location == Some(EXTERNAL) {
        return Err(OnnxError::ExternalData { tensor, location: ext_location });
    }
    let dtype = DType::from_onnx_code(code).ok_or_else(|| OnnxError::UnsupportedDataType {
        tensor: tensor.clone(),
        code,
        type_name: onnx_type_name(code),
    })?;
    let expected = element_count(&tensor, &dims)?;

    let data = match raw {
        Some(raw) => {
            if let Some(f) = typed.first() {
                return Err(OnnxError::ConflictingData { tensor, field: field_name(f.number) });
            }
            if dtype == DType::String {
                return Err(OnnxError::WrongDataField {
                    tensor,
                    dtype,
                    found: "raw_data",
                    expected: "string_data",
                });
            }
            decode_raw(&tensor, dtype, raw.bytes, expected)?
        }
        None => {
            let wanted = typed_field(dtype);
            if let Some(f) = typed.iter().find(|f| f.number != wanted) {
                return Err(OnnxError::WrongDataField {
                    tensor,
                    dtype,
                    found: field_name(f.number),
                    expected: field_name(wanted),
                });
            }
            decode_typed(&tensor, dtype, &typed, expected)?
        }
    };
    let actual = data.len() as u64;
    if actual != expected {
        return Err(OnnxError::ElementCount { tensor, dims, expected, actual });
    }
    Ok(TensorProtoData { name, dtype, dims, data })
}

/// The product of `dims`, checked.
fn element_count(tensor: &str, dims: &[i64]) -> Result<u64, OnnxError> {
    let mut n: u64 = 1;
    for &d in dims {
        let d = u64::try_from(d)
            .map_err(|_| OnnxError::NegativeDim { tensor: tensor.to_owned(), dims: dims.to_vec() })?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| OnnxError::DimsOverflow { tensor: tensor.to_owned(), dims: dims.to_vec() })?;
    }
    Ok(n)
}

/// int4/uint4 as ONNX packs them, two per byte, first element in the low nibble: the `expected` count
/// decides whether the last byte holds one or two. `None` when `packed` is not `expected.div_ceil(2)`
/// bytes long.
fn unpack_nibbles(packed: &[u8], expected: u64, signed: bool) -> Option<TensorValues> {
    if packed.len() as u64 != expected.div_ceil(2) {
        return None;
    }
    let n = usize::try_from(expected).ok()?;
    let nibbles = packed.iter().flat_map(|&b| [b & 0x0f, b >> 4]).take(n);
    Some(if signed {
        TensorValues::I4(nibbles.map(|x| i8::from_le_bytes([x << 4]) >> 4).collect())
    } else {
        TensorValues::U4(nibbles.collect())
    })
}

fn decode_raw(tensor: &str, dtype: DType, raw: &[u8], expected: u64) -> Result<TensorValues, OnnxError> {
    if let DType::Int4 | DType::Uint4 = dtype {
        return unpack_nibbles(raw, expected, dtype == DType::Int4).ok_or(OnnxError::RawDataLength {
            tensor: tensor.to_owned(),
            len: raw.len(),
            size: 1,
            dtype,
        });
    }
    // String tensors never reach here; every other dtype is a whole number of bytes.
    let size = dtype.bits().map_or(1, |b| b / 8);
    if !raw.len().is_multiple_of(size) {
        return Err(OnnxError::RawDataLength { tensor: tensor.to_owned(), len: raw.len(), size, dtype });
    }
    fn le<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        raw.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    Ok(match dtype {
        DType::Float32 => TensorValues::F32(le(raw, f32::from_le_bytes)),
        DType::Float64 => TensorValues::F64(le(raw, f64::from_le_bytes)),
        DType::Float16 => TensorValues::F16(le(raw, u16::from_le_bytes)),
        DType::Int8 => TensorValues::I8(le(raw, i8::from_le_bytes)),
        DType::Int16 => TensorValues::I16(le(raw, i16::from_le_bytes)),
        DType::Int32 => TensorValues::I32(le(raw, i32::from_le_bytes)),
        DType::Int64 => TensorValues::I64(le(raw, i64::from_le_bytes)),
        DType::Uint8 => TensorValues::U8(raw.to_vec()),
        DType::Uint16 => TensorValues::U16(le(raw, u16::from_le_bytes)),
        DType::Uint32 => TensorValues::U32(le(raw, u32::from_le_bytes)),
        DType::Uint64 => TensorValues::U64(le(raw, u64::from_le_bytes)),
        // ONNX requires 0 or 1; anything nonzero reads as true, as NumPy's cast does.
        DType::Bool => TensorValues::Bool(raw.iter().map(|b| *b != 0).collect()),
        DType::String => TensorValues::String(Vec::new()),
        DType::BFloat16 => TensorValues::BF16(le(raw, u16::from_le_bytes)),
        DType::Float8E4M3FN => TensorValues::F8E4M3FN(raw.to_vec()),
        DType::Float8E4M3FNUZ => TensorValues::F8E4M3FNUZ(raw.to_vec()),
        DType::Float8E5M2 => TensorValues::F8E5M2(raw.to_vec()),
        DType::Float8E5M2FNUZ => TensorValues::F8E5M2FNUZ(raw.to_vec()),
        // Handled above.
        DType::Int4 | DType::Uint4 => TensorValues::U4(Vec::new()),
    })
}

fn decode_typed(
    tensor: &str,
    dtype: DType,
    fields: &[Field<'_>],
    expected: u64,
) -> Result<TensorValues, OnnxError> {
    let out_of_range =
        |index: usize, value: i128| OnnxError::OutOfRange { tensor: tensor.to_owned(), index, value, dtype };
    match dtype {
        DType::Float32 => {
            let mut v = Vec::with_capacity(fields.iter().map(|f| f.fixed_count(4)).sum());
            for f in fields {
                f.for_each_fixed32(|x| v.push(f32::from_bits(x)))?;
            }
            Ok(TensorValues::F32(v))
        }
        DType::Float64 => {
            let mut v = Vec::with_capacity(fields.iter().map(|f| f.fixed_count(8)).sum());
            for f in fields {
                f.for_each_fixed64(|x| v.push(f64::from_bits(x)))?;
            }
            Ok(TensorValues::F64(v))
        }
        DType::String => {
            let mut v = Vec::with_capacity(fields.len());
            for f in fields {
                v.push(f.bytes()?.bytes.to_vec());
            }
            Ok(TensorValues::String(v))
        }
        DType::Int64 => Ok(TensorValues::I64(varints(fields, |_, x| Ok(x as i64))?)),
        DType::Uint64 => Ok(TensorValues::U64(varints(fields, |_, x| Ok(x))?)),
        DType::Uint32 => Ok(TensorValues::U32(varints(fields, |i, x| {
            u32::try_from(x).map_err(|_| out_of_range(i, i128::from(x)))
        })?)),
        // int32_data: protobuf int32 keeps the low 32 bits of the varint; narrower types must then fit.
        DType::Int32 => Ok(TensorValues::I32(varints(fields, |_, x| Ok(x as i32))?)),
        DType::Int16 => Ok(TensorValues::I16(varints(fields, |i, x| {
            i16::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
        })?)),
        DType::Int8 => Ok(TensorValues::I8(varints(fields, |i, x| {
            i8::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
        })?)),
        DType::Uint16 => Ok(TensorValues::U16(varints(fields, |i, x| {
            u16::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
        })?)),
        DType::Float16 => Ok(TensorValues::F16(varints(fields, |i, x| {
            u16::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
        })?)),
        DType::Uint8 => Ok(TensorValues::U8(varints(fields, |i, x| {
            u8::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
        })?)),
        DType::Bool => Ok(TensorValues::Bool(varints(fields, |_, x| Ok(x as i32 != 0))?)),
        // int32_data holds bfloat16 and float8 as their bits, and int4/uint4 packed two per entry's low
        // byte (ONNX's TensorProto comments).
        DType::BFloat16 => Ok(TensorValues::BF16(varints(fields, |i, x| {
            u16::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
        })?)),
        DType::Float8E4M3FN | DType::Float8E4M3FNUZ | DType::Float8E5M2 | DType::Float8E5M2FNUZ => {
            let bits = varints(fields, |i, x| {
                u8::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
            })?;
            Ok(match dtype {
                DType::Float8E4M3FN => TensorValues::F8E4M3FN(bits),
                DType::Float8E4M3FNUZ => TensorValues::F8E4M3FNUZ(bits),
                DType::Float8E5M2 => TensorValues::F8E5M2(bits),
                _ => TensorValues::F8E5M2FNUZ(bits),
            })
        }
        DType::Int4 | DType::Uint4 => {
            let packed = varints(fields, |i, x| {
                u8::try_from(x as i32).map_err(|_| out_of_range(i, i128::from(x as i32)))
            })?;
            // A count that does not fit is reported by the caller's element-count check.
            Ok(unpack_nibbles(&packed, expected, dtype == DType::Int4).unwrap_or(TensorValues::U4(packed)))
        }
    }
}

fn varints<T>(
    fields: &[Field<'_>],
    mut convert: impl FnMut(usize, u64) -> Result<T, OnnxError>,
) -> Result<Vec<T>, OnnxError> {
    let mut v = Vec::with_capacity(fields.iter().map(Field::varint_count).sum());
    for f in fields {
        f.for_each_varint(|x| {
            v.push(convert(v.len(), x)?);
            Ok(())
        })?;
    }
    Ok(v)
}
