//! SHA-256 for blob digests, through AWS-LC.
//!
//! Hashing is most of the cost of packing, opening and verifying a bundle. AWS-LC picks its assembly at
//! run time (SHA-NI, AVX2, SSSE3, ARMv8 crypto extensions); on x86-64 CPUs without SHA-NI it runs about
//! twice as fast as the portable `sha2` crate, on par with OpenSSL, which is what Python's `hashlib`
//! (and so `model_signing`) uses. Measured in BENCHMARKS.md.

/// An incremental SHA-256.
pub struct Sha256(aws_lc_rs::digest::Context);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// A hasher with nothing fed yet.
    pub fn new() -> Self {
        Self(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> [u8; 32] {
        to_array(self.0.finish())
    }
}

/// The SHA-256 of `bytes`.
///
/// ```
/// let d = ferry_bundle::digest::sha256(b"abc");
/// assert_eq!(hex::encode(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// ```
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    to_array(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

fn to_array(d: aws_lc_rs::digest::Digest) -> [u8; 32] {
    let mut out = [0u8; 32];
    // A SHA-256 digest is always 32 bytes.
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn agrees_with_sha2_across_update_boundaries() {
        let data: Vec<u8> = (0..100_003u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let expected: [u8; 32] = sha2::Sha256::digest(&data).into();
        assert_eq!(sha256(&data), expected);
        for split in [0, 1, 63, 64, 65, 4096, 99_999, data.len()] {
            let mut h = Sha256::new();
            h.update(&data[..split]);
            h.update(&data[split..]);
            assert_eq!(h.finalize(), expected, "split at {split}");
        }
        assert_eq!(
            hex::encode(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
