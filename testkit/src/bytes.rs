//! Finding and flipping bytes, to damage a bundle in one known place.

use std::path::Path;

/// Flips the lowest bit of the byte at `offset` in the file `path`, in place.
pub fn flip_byte_at(path: &Path, offset: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// The offset of the first occurrence of `needle` in `haystack`; panics if there is none.
pub fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).expect("needle not found")
}
