//! Fixed-size element encoding shared by npy, npz and safetensors.

use ferry_spec::DType;
use half::{bf16, f16};

use crate::{Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, TensorData, TensorError};

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

/// Bytes one element takes in Ferry's binary tensor files: a whole number of bytes, so int4 and uint4
/// take one byte each, in its low four bits (as `ml_dtypes` stores them in `.npy`; ONNX's two-per-byte
/// packing is the runtime's, [`crate::int4`]). `None` for strings.
pub(crate) fn stored_size(dtype: DType) -> Option<usize> {
    match dtype {
        DType::Int4 | DType::Uint4 => Some(1),
        other => other.bits().map(|b| b / 8),
    }
}

/// Decodes `bytes` as elements of a fixed-size `dtype` ([`stored_size`] bytes each). The caller has
/// checked that the length is a multiple of the element size. Booleans must be 0 or 1, int4 and uint4
/// bytes 0x00..=0x0f: any other byte means the producer and this reader disagree about the layout, and
/// guessing would hide it.
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
        DType::BFloat16 => TensorData::BF16(decode_as!(bytes, endian, bf16, 2)),
        DType::Float8E4M3FN => {
            TensorData::F8E4M3FN(bytes.iter().map(|&b| Float8E4M3FN::from_bits(b)).collect())
        }
        DType::Float8E4M3FNUZ => {
            TensorData::F8E4M3FNUZ(bytes.iter().map(|&b| Float8E4M3FNUZ::from_bits(b)).collect())
        }
        DType::Float8E5M2 => TensorData::F8E5M2(bytes.iter().map(|&b| Float8E5M2::from_bits(b)).collect()),
        DType::Float8E5M2FNUZ => {
            TensorData::F8E5M2FNUZ(bytes.iter().map(|&b| Float8E5M2FNUZ::from_bits(b)).collect())
        }
        // ml_dtypes keeps one int4 in a byte's low four bits (two's complement: -8 is 0x08, -1 is 0x0f)
        // and the high four bits zero; a set high bit means another layout, refused rather than dropped.
        DType::Int4 => TensorData::I4(
            bytes
                .iter()
                .enumerate()
                .map(|(index, &b)| {
                    if b <= 0x0f {
                        Ok(i8::from_le_bytes([b << 4]) >> 4)
                    } else {
                        Err(nibble_err(index, b, dtype))
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
        DType::Uint4 => TensorData::U4(
            bytes
                .iter()
                .enumerate()
                .map(|(index, &b)| if b <= 0x0f { Ok(b) } else { Err(nibble_err(index, b, dtype)) })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn nibble_err(index: usize, byte: u8, dtype: DType) -> TensorError {
    TensorError::Element {
        index,
        reason: format!(
            "{dtype} stored as byte 0x{byte:02x}: one {dtype} is the low four bits of its byte, the high four zero"
        ),
    }
}

macro_rules! encode_as {
    ($v:expr) => {
        $v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };
}

/// Little-endian bytes of a fixed-size tensor, [`stored_size`] bytes per element (int4 entries are
/// assumed in range: writers check first); `None` for strings.
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
        TensorData::BF16(v) => encode_as!(v),
        TensorData::F8E4M3FN(v) => v.iter().map(|x| x.to_bits()).collect(),
        TensorData::F8E4M3FNUZ(v) => v.iter().map(|x| x.to_bits()).collect(),
        TensorData::F8E5M2(v) => v.iter().map(|x| x.to_bits()).collect(),
        TensorData::F8E5M2FNUZ(v) => v.iter().map(|x| x.to_bits()).collect(),
        TensorData::I4(v) => v.iter().map(|&x| x.to_le_bytes()[0] & 0x0f).collect(),
        TensorData::U4(v) => v.clone(),
    })
}
