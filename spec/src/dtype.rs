use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Element type of a tensor, named as in ONNX and NumPy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    Float16,
    Float32,
    Float64,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Bool,
    String,
    // (Plain comments on these variants: doc comments would split the JSON Schema's enum.)
    // bfloat16: float32's sign and 8-bit exponent with a 7-bit mantissa.
    BFloat16,
    // float8 E4M3FN: 4-bit exponent (bias 7), 3-bit mantissa; NaN is `S.1111.111` (0x7f, 0xff), no
    // infinity; largest finite 448.
    #[serde(rename = "float8e4m3fn")]
    Float8E4M3FN,
    // float8 E4M3FNUZ: 4-bit exponent (bias 8), 3-bit mantissa; one NaN (0x80), no infinity, no
    // negative zero; largest finite 240.
    #[serde(rename = "float8e4m3fnuz")]
    Float8E4M3FNUZ,
    // float8 E5M2: IEEE-like, 5-bit exponent (bias 15), 2-bit mantissa, with infinities and NaNs;
    // largest finite 57344.
    #[serde(rename = "float8e5m2")]
    Float8E5M2,
    // float8 E5M2FNUZ: 5-bit exponent (bias 16), 2-bit mantissa; one NaN (0x80), no infinity, no
    // negative zero; largest finite 57344.
    #[serde(rename = "float8e5m2fnuz")]
    Float8E5M2FNUZ,
    // Signed 4-bit integers, -8..=7 (ONNX packs two per byte).
    Int4,
    // Unsigned 4-bit integers, 0..=15 (ONNX packs two per byte).
    Uint4,
}

impl DType {
    /// Every dtype, in declaration order.
    pub const ALL: [DType; 20] = [
        DType::Float16,
        DType::Float32,
        DType::Float64,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::Uint8,
        DType::Uint16,
        DType::Uint32,
        DType::Uint64,
        DType::Bool,
        DType::String,
        DType::BFloat16,
        DType::Float8E4M3FN,
        DType::Float8E4M3FNUZ,
        DType::Float8E5M2,
        DType::Float8E5M2FNUZ,
        DType::Int4,
        DType::Uint4,
    ];

    /// The name used in `ferry.toml` and manifests.
    pub fn name(self) -> &'static str {
        match self {
            DType::Float16 => "float16",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::Uint8 => "uint8",
            DType::Uint16 => "uint16",
            DType::Uint32 => "uint32",
            DType::Uint64 => "uint64",
            DType::Bool => "bool",
            DType::String => "string",
            DType::BFloat16 => "bfloat16",
            DType::Float8E4M3FN => "float8e4m3fn",
            DType::Float8E4M3FNUZ => "float8e4m3fnuz",
            DType::Float8E5M2 => "float8e5m2",
            DType::Float8E5M2FNUZ => "float8e5m2fnuz",
            DType::Int4 => "int4",
            DType::Uint4 => "uint4",
        }
    }

    /// Parses a dtype name as written in `ferry.toml`.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Bits one element takes in ONNX's dense layout: 4 for int4/uint4 (two per byte), else a whole
    /// number of bytes; `None` for strings, which have no fixed size.
    pub fn bits(self) -> Option<usize> {
        Some(match self {
            DType::Int4 | DType::Uint4 => 4,
            DType::Int8
            | DType::Uint8
            | DType::Bool
            | DType::Float8E4M3FN
            | DType::Float8E4M3FNUZ
            | DType::Float8E5M2
            | DType::Float8E5M2FNUZ => 8,
            DType::Float16 | DType::BFloat16 | DType::Int16 | DType::Uint16 => 16,
            DType::Float32 | DType::Int32 | DType::Uint32 => 32,
            DType::Float64 | DType::Int64 | DType::Uint64 => 64,
            DType::String => return None,
        })
    }

    /// Bytes that `numel` elements take in ONNX's dense layout (ONNX Runtime buffers, `raw_data`):
    /// int4/uint4 packed two per byte, the last byte half used when `numel` is odd. `None` for strings
    /// or when the count overflows. A tensor file may store elements differently (`.npy` keeps one
    /// int4 per byte): each format says so.
    pub fn byte_len(self, numel: usize) -> Option<usize> {
        match self.bits()? {
            4 => Some(numel.div_ceil(2)),
            bits => numel.checked_mul(bits / 8),
        }
    }

    /// Whether the dtype is a floating-point type (the only kind that can carry NaN as "null"): every
    /// float8 variant has a NaN, though only float8e5m2 has infinities.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::Float16
                | DType::Float32
                | DType::Float64
                | DType::BFloat16
                | DType::Float8E4M3FN
                | DType::Float8E4M3FNUZ
                | DType::Float8E5M2
                | DType::Float8E5M2FNUZ
        )
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::Float32 => 1,
            DType::Uint8 => 2,
            DType::Int8 => 3,
            DType::Uint16 => 4,
            DType::Int16 => 5,
            DType::Int32 => 6,
            DType::Int64 => 7,
            DType::String => 8,
            DType::Bool => 9,
            DType::Float16 => 10,
            DType::Float64 => 11,
            DType::Uint32 => 12,
            DType::Uint64 => 13,
            DType::BFloat16 => 16,
            DType::Float8E4M3FN => 17,
            DType::Float8E4M3FNUZ => 18,
            DType::Float8E5M2 => 19,
            DType::Float8E5M2FNUZ => 20,
            DType::Uint4 => 21,
            DType::Int4 => 22,
        }
    }

    /// The dtype for an ONNX `TensorProto.DataType` code, if Ferry supports it.
    pub fn from_onnx_code(code: i32) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.onnx_code() == code)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
            assert_eq!(DType::from_onnx_code(d.onnx_code()), Some(d));
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.name()));
        }
        assert_eq!(DType::from_onnx_code(0), None);
        // Complex types (14, 15) stay unsupported; FLOAT4E2M1 is 23.
        assert_eq!(DType::from_onnx_code(14), None);
        assert_eq!(DType::from_onnx_code(23), None);
    }

    #[test]
    fn byte_lengths_pack_int4_two_per_byte() {
        assert_eq!(DType::Int4.byte_len(0), Some(0));
        assert_eq!(DType::Int4.byte_len(1), Some(1));
        assert_eq!(DType::Uint4.byte_len(3), Some(2));
        assert_eq!(DType::Uint4.byte_len(usize::MAX), Some(usize::MAX / 2 + 1));
        assert_eq!(DType::BFloat16.byte_len(3), Some(6));
        assert_eq!(DType::Float8E5M2.byte_len(3), Some(3));
        assert_eq!(DType::Float64.byte_len(usize::MAX), None);
        assert_eq!(DType::String.byte_len(1), None);
    }

    #[test]
    fn new_names_are_the_documented_ones() {
        let names: Vec<&str> = DType::ALL[13..].iter().map(|d| d.name()).collect();
        assert_eq!(
            names,
            ["bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "int4", "uint4"]
        );
        assert!(DType::ALL[13..18].iter().all(|d| d.is_float()));
        assert!(!DType::Int4.is_float() && !DType::Uint4.is_float());
    }
}
