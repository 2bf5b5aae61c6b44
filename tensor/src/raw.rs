//! Fixed-size element encoding shared by npy, npz and safetensors.

use ferry_spec::DType;
use half::f16;

use crate::{TensorData, TensorError};

/// Byte order of stored elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    /// The host's order, for npy descrs that say "native" (`=`) or "not applicable" (`|`).
    pub(crate) const NATIVE: Endian = if cfg!(target_endian = "big") { Endian::Big } else { Endian::Little };
}

macro_rules! decode_as {
    ($bytes:expr, $endian:expr, $t:ty, $n:literal) => {
        $bytes
            .chunks_exact($n)
            .map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                match $endian {
                    Endian::Little => <$t>::from_le_bytes(a),
                    Endian::Big => <$t>::from_be_bytes(a),
                }
            })
            .collect::<Vec<$t>>()
    };
}

/// Decodes `bytes` as elements of a fixed-size `dtype`. The caller has checked that the length is a
/// multiple of the element size. Booleans must be 0 or 1: any other byte means the producer and this reader
/// disagree about the layout, and guessing would hide it.
pub(crate) fn decode(dtype: DType, bytes: &[u8], endian: Endian) -> Result<TensorData, TensorError> {
    Ok(match dtype {
        DType::Float16 => TensorData::F16(decode_as!(bytes, endian, f16, 2)),
        DType::Float32 => TensorData::F32(decode_as!(bytes, endian, f32, 4)),
        DType::Float64 => TensorData::F64(decode_as!(bytes, endian, f64, 8)),
        DType::Int8 => TensorData::I8(decode_as!(bytes, endian, i8, 1)),
        DType::Int16 => TensorData::I16(decode_as!(bytes, endian, i16, 2)),
        DType::Int32 => TensorData::I32(decode_as!(bytes, endian, i32, 4)),
        DType::Int64 => TensorData::I64(decode_as!(bytes, endian, i64, 8)),
        DType::Uint8 => TensorData::U8(bytes.to_vec()),
        DType::Uint16 => TensorData::U16(decode_as!(bytes, endian, u16, 2)),
        DType::Uint32 => TensorData::U32(decode_as!(bytes, endian, u32, 4)),
        DType::Uint64 => TensorData::U64(decode_as!(bytes, endian, u64, 8)),
        DType::Bool => TensorData::Bool(
            bytes
                .iter()
                .enumerate()
                .map(|(index, &b)| match b {
                    0 => Ok(false),
                    1 => Ok(true),
                    other => Err(TensorError::Element {
                        index,
                        reason: format!("bool stored as byte {other} (expected 0 or 1)"),
                    }),
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::String => {
            return Err(TensorError::UnsupportedDType { dtype: "string as fixed-size elements".to_owned() });
        }
    })
}

macro_rules! encode_as {
    ($v:expr) => {
        $v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };
}

/// Little-endian bytes of a fixed-size tensor; `None` for strings.
pub(crate) fn encode_le(data: &TensorData) -> Option<Vec<u8>> {
    Some(match data {
        TensorData::F16(v) => encode_as!(v),
        TensorData::F32(v) => encode_as!(v),
        TensorData::F64(v) => encode_as!(v),
        TensorData::I8(v) => encode_as!(v),
        TensorData::I16(v) => encode_as!(v),
        TensorData::I32(v) => encode_as!(v),
        TensorData::I64(v) => encode_as!(v),
        TensorData::U8(v) => v.clone(),
        TensorData::U16(v) => encode_as!(v),
        TensorData::U32(v) => encode_as!(v),
        TensorData::U64(v) => encode_as!(v),
        TensorData::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
        TensorData::String(_) => return None,
    })
}
