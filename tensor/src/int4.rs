//! int4 and uint4 in ONNX's packed layout: two elements per byte, the first in the low nibble, the last
//! byte's high nibble zero when the count is odd (ONNX `TensorProto` and ONNX Runtime buffers). Ferry's
//! [`TensorData::I4`](crate::TensorData::I4)/[`U4`](crate::TensorData::U4) keep one element per entry;
//! these convert.

use std::ops::RangeInclusive;

/// The values an int4 holds.
pub const I4_RANGE: RangeInclusive<i8> = -8..=7;
/// The values a uint4 holds.
pub const U4_RANGE: RangeInclusive<u8> = 0..=15;

/// Packs nibbles two per byte, first element low. Only the low four bits of each entry are kept: callers
/// pass values already in range.
pub fn pack(nibbles: impl ExactSizeIterator<Item = u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(nibbles.len().div_ceil(2));
    let mut nibbles = nibbles;
    while let Some(lo) = nibbles.next() {
        let hi = nibbles.next().unwrap_or(0);
        out.push((lo & 0x0f) | (hi << 4));
    }
    out
}

/// Packs int4 values (two's complement nibbles).
pub fn pack_i4(values: &[i8]) -> Vec<u8> {
    pack(values.iter().map(|&v| v.to_le_bytes()[0] & 0x0f))
}

/// Packs uint4 values.
pub fn pack_u4(values: &[u8]) -> Vec<u8> {
    pack(values.iter().map(|&v| v & 0x0f))
}

/// The first `n` nibbles of `bytes`, low nibble first; `None` when `bytes` is not exactly
/// `n.div_ceil(2)` long.
fn nibbles(bytes: &[u8], n: usize) -> Option<impl Iterator<Item = u8> + '_> {
    (bytes.len() == n.div_ceil(2)).then(|| bytes.iter().flat_map(|&b| [b & 0x0f, b >> 4]).take(n))
}

/// Unpacks `n` int4 values (sign-extending each nibble); `None` on a length mismatch.
pub fn unpack_i4(bytes: &[u8], n: usize) -> Option<Vec<i8>> {
    Some(nibbles(bytes, n)?.map(|x| i8::from_le_bytes([x << 4]) >> 4).collect())
}

/// Unpacks `n` uint4 values; `None` on a length mismatch.
pub fn unpack_u4(bytes: &[u8], n: usize) -> Option<Vec<u8>> {
    Some(nibbles(bytes, n)?.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_element_low_nibble() {
        assert_eq!(pack_i4(&[1, -1, -8]), vec![0xf1, 0x08]);
        assert_eq!(unpack_i4(&[0xf1, 0x08], 3), Some(vec![1, -1, -8]));
        assert_eq!(pack_u4(&[15, 0, 7]), vec![0x0f, 0x07]);
        assert_eq!(unpack_u4(&[0x0f, 0x07], 3), Some(vec![15, 0, 7]));
        assert_eq!(unpack_u4(&[0x0f], 3), None);
        assert_eq!(unpack_u4(&[], 0), Some(vec![]));
    }
}
