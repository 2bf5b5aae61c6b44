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

/// Blobs at least this large are hashed with [`sha256_warmed`] when a core is free for its helper.
pub const WARM_ABOVE: usize = 8 << 20;

/// How far ahead of the hasher the helper reads, and in what steps: little enough that what it read is
/// still cached when the hasher gets there.
const WARM_AHEAD: usize = 512 << 10;
const WARM_STEP: usize = 32 << 10;
const CACHE_LINE: usize = 64;

/// The SHA-256 of a large region (typically of a memory-mapped bundle), with a helper thread that reads
/// one byte per cache line a little ahead of the hasher.
///
/// SHA-256 with CPU extensions hashes faster than one core streams a mapping from memory: the hardware
/// prefetchers stop at every 4 KiB page and each page's first touch may fault. The helper takes the
/// faults and the cache misses on another core, so the hasher reads from cache. On a 1 GiB blob this
/// hashes at about the speed of SHA-256 over an L2-resident buffer (BENCHMARKS.md), 10–25% faster than
/// hashing the mapping directly. It costs a second core for the duration; callers use it only when one
/// is free.
///
/// ```
/// let big = vec![7u8; 9 << 20];
/// assert_eq!(ferry_bundle::digest::sha256_warmed(&big), ferry_bundle::digest::sha256(&big));
/// ```
pub fn sha256_warmed(bytes: &[u8]) -> [u8; 32] {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Bytes hashed so far; `usize::MAX` once the hasher is done.
    let hashed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut sum = 0u8;
            let mut pos = 0;
            while pos < bytes.len() {
                let h = hashed.load(Ordering::Relaxed);
                if h == usize::MAX {
                    break;
                }
                if pos >= h.saturating_add(WARM_AHEAD) {
                    std::hint::spin_loop();
                    continue;
                }
                let end = pos.saturating_add(WARM_STEP).min(bytes.len());
                for line in bytes[pos..end].chunks(CACHE_LINE) {
                    sum ^= line[0];
                }
                pos = end;
            }
            std::hint::black_box(sum);
        });
        // Releases the helper however the hasher ends.
        struct Finished<'a>(&'a AtomicUsize);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.store(usize::MAX, Ordering::Relaxed);
            }
        }
        let _finished = Finished(&hashed);
        let mut h = Sha256::new();
        let mut done = 0;
        for step in bytes.chunks(WARM_STEP) {
            h.update(step);
            done += step.len();
            hashed.store(done, Ordering::Relaxed);
        }
        h.finalize()
    })
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
        let big: Vec<u8> = data.iter().copied().cycle().take(33 << 20).collect();
        assert_eq!(sha256_warmed(&big), <[u8; 32]>::from(sha2::Sha256::digest(&big)));
        assert_eq!(sha256_warmed(&data), expected);
        assert_eq!(
            sha256_warmed(&big[..WARM_STEP * 3 + 1]),
            <[u8; 32]>::from(sha2::Sha256::digest(&big[..WARM_STEP * 3 + 1]))
        );
        assert_eq!(sha256_warmed(&[]), <[u8; 32]>::from(sha2::Sha256::digest([])));
        assert_eq!(
            hex::encode(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
