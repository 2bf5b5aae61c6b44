//! SHA-256 for Ferry, through AWS-LC, and [`Sha256Digest`], the `sha256:<hex>` form every digest of a
//! bundle is written in (OCI descriptors, the Ferry manifest's config digest, provenance subjects).
//! The one place that hashes and the one place that parses or prints a digest: no other crate cuts or
//! formats `"sha256:"` by hand.
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
/// let d = ferry_digest::sha256(b"abc");
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
/// assert_eq!(ferry_digest::sha256_warmed(&big), ferry_digest::sha256(&big));
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

/// The prefix of every digest Ferry writes: the algorithm, as OCI descriptors name it.
pub const SHA256_PREFIX: &str = "sha256:";

/// A SHA-256 digest, written `sha256:` and 64 lowercase hex digits, as OCI descriptors and the Ferry
/// manifest carry it. Parsing is strict: the prefix, exactly 64 digits, lowercase only (a digest is
/// compared as text in manifests, so `ABC…` and `abc…` must not both be accepted).
///
/// ```
/// use ferry_digest::Sha256Digest;
/// let d = Sha256Digest::of(b"abc");
/// assert_eq!(d.to_string(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_eq!(d.to_string().parse::<Sha256Digest>().unwrap(), d);
/// assert_eq!(d.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert!("sha512:ab".parse::<Sha256Digest>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest([u8; 32]);

/// Why a string is not a `sha256:<64 lowercase hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a sha256 digest: {reason}")]
pub struct DigestError {
    /// The text, cut to 80 characters.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha256(bytes))
    }

    /// The digest with these 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex digits, without the `sha256:` prefix (what OMS statements, SLSA and
    /// CycloneDX carry, and what Ferry's file entries store).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex digits without the prefix.
    pub fn from_hex(hex_digits: &str) -> Result<Self, DigestError> {
        let error = |reason| DigestError { text: hex_digits.chars().take(80).collect(), reason };
        if hex_digits.len() != 64 {
            return Err(error("not 64 hex digits"));
        }
        if !hex_digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(error("not lowercase hex"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut out).map_err(|_| error("not lowercase hex"))?;
        Ok(Self(out))
    }
}

/// The hex digits of a `sha256:<hex>` digest string, without parsing them: for callers that only need
/// to cut the prefix off a digest another check has already validated. `None` without the prefix.
pub fn strip_prefix(digest: &str) -> Option<&str> {
    digest.strip_prefix(SHA256_PREFIX)
}

impl std::str::FromStr for Sha256Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, DigestError> {
        match strip_prefix(text) {
            Some(hex_digits) => Self::from_hex(hex_digits),
            None => Err(DigestError { text: text.chars().take(80).collect(), reason: "no `sha256:` prefix" }),
        }
    }
}

impl std::fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SHA256_PREFIX}{}", self.hex())
    }
}

impl std::fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<[u8; 32]> for Sha256Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
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

    proptest::proptest! {
        #[test]
        fn a_digest_round_trips_through_text_and_json(bytes in proptest::array::uniform32(0u8..)) {
            let d = Sha256Digest::from_bytes(bytes);
            proptest::prop_assert_eq!(d.to_string().parse::<Sha256Digest>().unwrap(), d);
            proptest::prop_assert_eq!(Sha256Digest::from_hex(&d.hex()).unwrap(), d);
            let json = serde_json::to_string(&d).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<Sha256Digest>(&json).unwrap(), d);
        }

        #[test]
        fn parsing_never_panics_and_accepts_only_the_canonical_form(text in ".{0,80}") {
            if let Ok(d) = text.parse::<Sha256Digest>() {
                proptest::prop_assert_eq!(d.to_string(), text);
            }
        }
    }

    #[test]
    fn only_the_canonical_form_parses() {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert!(format!("sha256:{hex}").parse::<Sha256Digest>().is_ok());
        for bad in [
            hex.to_owned(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("SHA256:{hex}"),
            format!("sha256:{}", &hex[1..]),
            format!("sha256:{hex}0"),
            format!("sha256: {}", &hex[1..]),
            format!("sha512:{hex}"),
        ] {
            let e = bad.parse::<Sha256Digest>().unwrap_err();
            assert!(e.to_string().contains("is not a sha256 digest"), "{bad}: {e}");
        }
    }

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
