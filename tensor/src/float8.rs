//! The four ONNX float8 types, each its own type over one byte of bits, so that E4M3FN bits can never be
//! read as E5M2 bits by mistake.
//!
//! | type | exponent bits, bias | mantissa bits | NaN | infinity | negative zero | largest finite |
//! |---|---|---|---|---|---|---|
//! | [`Float8E4M3FN`] | 4, 7 | 3 | `0x7f`, `0xff` | none | `0x80` | 448 |
//! | [`Float8E4M3FNUZ`] | 4, 8 | 3 | `0x80` only | none | none | 240 |
//! | [`Float8E5M2`] | 5, 15 | 2 | `0x7d..=0x7f`, `0xfd..=0xff` | `0x7c`, `0xfc` | `0x80` | 57344 |
//! | [`Float8E5M2FNUZ`] | 5, 16 | 2 | `0x80` only | none | none | 57344 |
//!
//! Decoding is exact (every code is a float32). Encoding from `f64` rounds to the nearest code, ties to
//! the even one, in one step from the `f64` (no double rounding through float32), and is not saturating:
//! a value whose rounding exceeds the largest finite value becomes infinity for E5M2 and NaN for the other
//! three, and ±infinity becomes NaN where there is no infinity. NaN keeps its sign where the type has two
//! (`0x7f`/`0xff` for E4M3FN, `0x7e`/`0xfe` for E5M2); the FNUZ types have one NaN, `0x80`, and no
//! negative zero (`-0.0` and negative values that round to zero encode as `0x00`). This is exactly what
//! `ml_dtypes`' `astype` does, checked against its answers for all 256 codes and some 13 000 `f64`s in
//! `tests/low_precision.rs` (table made by `tests/data/gen_float8_vectors.py`). [`bf16_from_f64`]
//! rounds to bfloat16 the same way.

use ferry_spec::DType;

/// How a float8 layout spells its special values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Specials {
    /// IEEE-like: the all-ones exponent holds infinity (mantissa 0) and NaN (mantissa non-zero).
    Ieee,
    /// "Finite": only all-ones exponent and mantissa is NaN (either sign); no infinity.
    Fn,
    /// "Finite, unsigned zero": `0x80` (negative zero's code) is the one NaN; no infinity.
    Fnuz,
}

#[derive(Debug, Clone, Copy)]
struct Layout {
    mantissa_bits: u32,
    /// Exponent of the smallest normal number, `1 - bias`.
    min_exp: i32,
    specials: Specials,
    /// The largest finite magnitude's code (sign bit clear).
    max_code: u8,
}

impl Layout {
    fn decode(self, bits: u8) -> f32 {
        let negative = bits & 0x80 != 0;
        let mag = bits & 0x7f;
        let m = self.mantissa_bits;
        let exp_field = i32::from(mag >> m);
        let mantissa = mag & ((1 << m) - 1);
        let nan = match self.specials {
            Specials::Fnuz => bits == 0x80,
            Specials::Fn => mag == 0x7f,
            Specials::Ieee => exp_field == (0x7f >> m) && mantissa != 0,
        };
        let value = if nan {
            f32::NAN
        } else if self.specials == Specials::Ieee && exp_field == (0x7f >> m) {
            f32::INFINITY
        } else if exp_field == 0 {
            f32::from(mantissa) * pow2_f32(self.min_exp - m as i32)
        } else {
            f32::from(mantissa | (1 << m)) * pow2_f32(exp_field - 1 + self.min_exp - m as i32)
        };
        if negative { -value } else { value }
    }

    fn encode(self, x: f64) -> u8 {
        let sign: u8 = if x.is_sign_negative() { 0x80 } else { 0 };
        let nan = match self.specials {
            Specials::Fnuz => 0x80,
            Specials::Fn => sign | 0x7f,
            Specials::Ieee => sign | 0x7e,
        };
        let overflow = match self.specials {
            Specials::Ieee => sign | 0x7c,
            _ => nan,
        };
        if x.is_nan() {
            return nan;
        }
        let a = x.abs();
        if a.is_infinite() {
            return overflow;
        }
        let m = self.mantissa_bits as i32;
        // The binade of `a`, no lower than the subnormals' (f64 subnormals round to zero anyway).
        let biased = i32::try_from((a.to_bits() >> 52) & 0x7ff).unwrap_or(0);
        let e = if biased == 0 { self.min_exp } else { (biased - 1023).max(self.min_exp) };
        // Scaling by a power of two is exact, so this rounds once, from the f64.
        let steps = (a * pow2_f64(m - e)).round_ties_even();
        // `steps` is in [0, 2^(m+1)]: the code is the binade's offset plus the steps into it, which
        // carries into the next binade (or past the largest code) on its own.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let code = (i64::from(e - self.min_exp) << m) + steps as i64;
        if code > i64::from(self.max_code) {
            return overflow;
        }
        let code = u8::try_from(code).unwrap_or(self.max_code);
        if code == 0 && self.specials == Specials::Fnuz { 0 } else { sign | code }
    }
}

/// The bfloat16 nearest `x`, ties to even, rounded once from the `f64` (not through float32), as
/// `ml_dtypes`' `astype` does: past the largest finite value is infinity, NaN is the quiet NaN with `x`'s
/// sign. (`half::bf16::from_f64` flushes some subnormals to zero.)
pub fn bf16_from_f64(x: f64) -> half::bf16 {
    let sign: u16 = if x.is_sign_negative() { 0x8000 } else { 0 };
    if x.is_nan() {
        return half::bf16::from_bits(sign | 0x7fc0);
    }
    let a = x.abs();
    const INF: i64 = 0x7f80;
    let code = if a.is_infinite() {
        INF
    } else {
        const MIN_EXP: i32 = -126;
        let biased = i32::try_from((a.to_bits() >> 52) & 0x7ff).unwrap_or(0);
        let e = if biased == 0 { MIN_EXP } else { (biased - 1023).max(MIN_EXP) };
        #[allow(clippy::cast_possible_truncation)]
        let steps = (a * pow2_f64(7 - e)).round_ties_even() as i64;
        ((i64::from(e - MIN_EXP) << 7) + steps).min(INF)
    };
    half::bf16::from_bits(sign | u16::try_from(code).unwrap_or(0x7f80))
}

/// 2^k for the small exponents float8 needs (|k| < 127), exactly.
fn pow2_f32(k: i32) -> f32 {
    f32::from_bits(u32::try_from((k + 127).clamp(1, 254)).unwrap_or(127) << 23)
}

/// 2^k for -1022 <= k <= 1023, exactly.
fn pow2_f64(k: i32) -> f64 {
    f64::from_bits(u64::try_from((k + 1023).clamp(1, 2046)).unwrap_or(1023) << 52)
}

macro_rules! float8 {
    ($(#[$doc:meta])* $name:ident, $dtype:expr, $layout:expr) => {
        $(#[$doc])*
        ///
        /// Equality is of bits (NaN equals the same NaN). `Debug` and `Display` show the value, as
        /// `half`'s types do.
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u8);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.to_f32(), f)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.to_f32(), f)
            }
        }

        impl $name {
            /// The dtype these bits are elements of.
            pub const DTYPE: DType = $dtype;
            const LAYOUT: Layout = $layout;
            /// The largest finite value.
            pub const MAX: $name = $name(Self::LAYOUT.max_code);

            /// The element with these bits (every byte is some value of the type).
            pub const fn from_bits(bits: u8) -> $name {
                $name(bits)
            }

            /// The element's bits.
            pub const fn to_bits(self) -> u8 {
                self.0
            }

            /// The exact value (NaN keeps the code's sign bit).
            pub fn to_f32(self) -> f32 {
                Self::LAYOUT.decode(self.0)
            }

            /// The exact value, widened.
            pub fn to_f64(self) -> f64 {
                f64::from(self.to_f32())
            }

            /// The nearest element, ties to even, as `ml_dtypes`' `astype` rounds (module docs:
            /// overflow is infinity or NaN, never the largest finite value).
            pub fn from_f64(x: f64) -> $name {
                $name(Self::LAYOUT.encode(x))
            }

            /// Whether this is a NaN.
            pub fn is_nan(self) -> bool {
                self.to_f32().is_nan()
            }

            /// Whether this is an infinity (only E5M2 has them).
            pub fn is_infinite(self) -> bool {
                self.to_f32().is_infinite()
            }
        }
    };
}

float8!(
    /// float8 E4M3FN: NaN `0x7f`/`0xff`, no infinity, largest finite 448.
    Float8E4M3FN,
    DType::Float8E4M3FN,
    Layout { mantissa_bits: 3, min_exp: -6, specials: Specials::Fn, max_code: 0x7e }
);
float8!(
    /// float8 E4M3FNUZ: one NaN `0x80`, no infinity or negative zero, largest finite 240.
    Float8E4M3FNUZ,
    DType::Float8E4M3FNUZ,
    Layout { mantissa_bits: 3, min_exp: -7, specials: Specials::Fnuz, max_code: 0x7f }
);
float8!(
    /// float8 E5M2: IEEE-like, with infinities; largest finite 57344.
    Float8E5M2,
    DType::Float8E5M2,
    Layout { mantissa_bits: 2, min_exp: -14, specials: Specials::Ieee, max_code: 0x7b }
);
float8!(
    /// float8 E5M2FNUZ: one NaN `0x80`, no infinity or negative zero, largest finite 57344.
    Float8E5M2FNUZ,
    DType::Float8E5M2FNUZ,
    Layout { mantissa_bits: 2, min_exp: -15, specials: Specials::Fnuz, max_code: 0x7f }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(Float8E4M3FN::MAX.to_f32(), 448.0);
        assert_eq!(Float8E4M3FNUZ::MAX.to_f32(), 240.0);
        assert_eq!(Float8E5M2::MAX.to_f32(), 57344.0);
        assert_eq!(Float8E5M2FNUZ::MAX.to_f32(), 57344.0);
        assert_eq!(Float8E4M3FN::from_f64(1.0).to_bits(), 0x38);
        assert_eq!(Float8E5M2::from_f64(1.0).to_bits(), 0x3c);
        assert_eq!(Float8E4M3FN::from_bits(0x01).to_f32(), 2f32.powi(-9));
        assert_eq!(Float8E5M2FNUZ::from_bits(0x01).to_f32(), 2f32.powi(-17));
        assert!(Float8E4M3FNUZ::from_bits(0x80).is_nan());
        assert!(Float8E5M2::from_bits(0xfc).is_infinite());
        // Ties go to the even code; past the top it is NaN (infinity for E5M2), never saturation.
        assert_eq!(Float8E4M3FN::from_f64(464.0).to_bits(), 0x7e);
        assert_eq!(Float8E4M3FN::from_f64(465.0).to_bits(), 0x7f);
        assert_eq!(Float8E5M2::from_f64(-1e6).to_bits(), 0xfc);
        assert_eq!(Float8E4M3FNUZ::from_f64(-0.0).to_bits(), 0);
        assert_eq!(Float8E4M3FN::from_f64(-0.0).to_bits(), 0x80);
    }
}
