//! ECDSA P-256 keys: generation, PEM encoding and decoding, the public key hint.
//!
//! Private keys are written as PKCS#8 PEM (`PRIVATE KEY`), or, with a passphrase, as PKCS#8
//! `EncryptedPrivateKeyInfo` (`ENCRYPTED PRIVATE KEY`, PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC) —
//! both load with OpenSSL, Python `cryptography` (so `model_signing sign key --password`) and Go. Reading
//! also accepts scrypt-based PBES2, SEC1 `EC PRIVATE KEY` (what `openssl ecparam -genkey` prints) and
//! cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` / `ENCRYPTED COSIGN PRIVATE KEY` (scrypt + NaCl secretbox).
//! Public keys are SubjectPublicKeyInfo PEM (`PUBLIC KEY`).

use std::fmt;

use base64ct::{Base64, Encoding};
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature};
use p256::pkcs8::der::pem;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding, PrivateKeyInfo,
};
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::KeyError;

/// PBKDF2-HMAC-SHA256 iterations for passphrase-encrypted keys (OWASP 2023 guidance).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// The most memory a cosign key's scrypt parameters may ask for; cosign itself uses 32 MiB (N=2^15, r=8).
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;

/// A private key as PKCS#8 PEM text (encrypted or not). The text is wiped from memory on drop.
#[derive(Clone)]
pub struct SigningKeyPem(Zeroizing<String>);

impl SigningKeyPem {
    /// The PEM text, to write to a file (mode 0600).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SigningKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKeyPem(<redacted>)")
    }
}

/// A public key as SubjectPublicKeyInfo PEM text (`-----BEGIN PUBLIC KEY-----`, LF line endings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyPem(String);

impl PublicKeyPem {
    /// The PEM text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Generates a fresh ECDSA P-256 key pair from the OS random number generator.
///
/// With a passphrase the private key is PKCS#8-encrypted (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC).
pub fn keygen(passphrase: Option<&[u8]>) -> Result<(SigningKeyPem, PublicKeyPem), KeyError> {
    let key = SigningKey::generate()?;
    Ok((key.to_pem(passphrase)?, key.verifying_key().to_pem()))
}

/// An ECDSA P-256 private key that signs with SHA-256 and deterministic nonces (RFC 6979).
#[derive(Clone)]
pub struct SigningKey {
    inner: p256::ecdsa::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("public_key_hint", &self.verifying_key().hint()).finish()
    }
}

impl SigningKey {
    /// Generates a fresh key from the OS random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        // Draw the scalar ourselves so a failing OS RNG is an error, not a panic inside `random()`.
        for _ in 0..16 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            OsRng.try_fill_bytes(bytes.as_mut()).map_err(|e| KeyError::Rng { reason: e.to_string() })?;
            // Rejects zero and values >= the group order (probability ~2^-32): draw again.
            if let Ok(inner) = p256::ecdsa::SigningKey::from_slice(bytes.as_ref()) {
                return Ok(Self { inner });
            }
        }
        Err(KeyError::Rng { reason: "no valid P-256 scalar after 16 draws".into() })
    }

    /// Reads a private key from PEM text.
    ///
    /// Accepted labels: `PRIVATE KEY` (PKCS#8), `ENCRYPTED PRIVATE KEY` (PKCS#8 PBES2, PBKDF2 or scrypt),
    /// `EC PRIVATE KEY` (SEC1; a preceding `EC PARAMETERS` block is skipped), `ENCRYPTED SIGSTORE PRIVATE
    /// KEY` and `ENCRYPTED COSIGN PRIVATE KEY` (cosign). The passphrase is only used for encrypted keys
    /// (cosign keys may have an empty one); it is ignored for plain keys.
    pub fn from_pem(pem_text: &str, passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        let (label, block) = find_pem_block(pem_text, "private")?;
        let malformed = |e: &dyn fmt::Display| KeyError::Malformed { kind: "private", reason: e.to_string() };
        let inner = match label {
            "PRIVATE KEY" => p256::ecdsa::SigningKey::from_pkcs8_pem(block).map_err(|e| malformed(&e))?,
            "EC PRIVATE KEY" => {
                let secret = p256::SecretKey::from_sec1_pem(block).map_err(|e| malformed(&e))?;
                p256::ecdsa::SigningKey::from(secret)
            }
            "ENCRYPTED PRIVATE KEY" => {
                let pass = passphrase.ok_or_else(|| KeyError::PassphraseRequired { label: label.into() })?;
                decrypt_pkcs8(block, pass, label)?
            }
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                let pass = passphrase.ok_or_else(|| KeyError::PassphraseRequired { label: label.into() })?;
                decrypt_cosign(block, pass, label)?
            }
            other => return Err(KeyError::UnsupportedLabel { label: other.into(), kind: "private" }),
        };
        Ok(Self { inner })
    }

    /// Writes the key as PKCS#8 PEM, encrypted with the passphrase when one is given.
    pub fn to_pem(&self, passphrase: Option<&[u8]>) -> Result<SigningKeyPem, KeyError> {
        let encode = |e: &dyn fmt::Display| KeyError::Encode { reason: e.to_string() };
        let der = self.inner.to_pkcs8_der().map_err(|e| encode(&e))?;
        let Some(pass) = passphrase else {
            let pem = der.to_pem("PRIVATE KEY", LineEnding::LF).map_err(|e| encode(&e))?;
            return Ok(SigningKeyPem(pem));
        };
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        OsRng.try_fill_bytes(&mut salt).map_err(|e| KeyError::Rng { reason: e.to_string() })?;
        OsRng.try_fill_bytes(&mut iv).map_err(|e| KeyError::Rng { reason: e.to_string() })?;
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
            .map_err(|e| encode(&e))?;
        let info = PrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| encode(&e))?;
        let encrypted = info.encrypt_with_params(params, pass).map_err(|e| encode(&e))?;
        let pem = encrypted.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF).map_err(|e| encode(&e))?;
        Ok(SigningKeyPem(pem))
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey { inner: *self.inner.verifying_key() }
    }

    /// Signs `message` (hashed with SHA-256) and returns the ASN.1 DER signature.
    pub(crate) fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.inner.sign(message);
        let der: DerSignature = signature.to_der();
        der.as_bytes().to_vec()
    }
}

/// An ECDSA P-256 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: p256::ecdsa::VerifyingKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("hint", &self.hint()).finish()
    }
}

impl VerifyingKey {
    /// Reads a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`) holding a P-256 key.
    pub fn from_pem(pem_text: &str) -> Result<Self, KeyError> {
        let (label, block) = find_pem_block(pem_text, "public")?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::UnsupportedLabel { label: label.into(), kind: "public" });
        }
        let inner = p256::ecdsa::VerifyingKey::from_public_key_pem(block)
            .map_err(|e| KeyError::Malformed { kind: "public", reason: e.to_string() })?;
        Ok(Self { inner })
    }

    /// Reads a SubjectPublicKeyInfo DER holding a P-256 key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let inner = p256::ecdsa::VerifyingKey::from_public_key_der(der)
            .map_err(|e| KeyError::Malformed { kind: "public", reason: e.to_string() })?;
        Ok(Self { inner })
    }

    /// The key as SubjectPublicKeyInfo PEM, uncompressed point, 64-column lines, LF line endings: the
    /// exact bytes Python `cryptography` writes with `Encoding.PEM, PublicFormat.SubjectPublicKeyInfo`.
    pub fn to_pem(&self) -> PublicKeyPem {
        PublicKeyPem(spki_pem(&self.inner))
    }

    /// The sigstore bundle `publicKey.hint`: lowercase hex SHA-256 of [`Self::to_pem`]'s bytes.
    ///
    /// model_signing computes it in `_signing/sign_ec_key.py` (`Signer._get_verification_material` and
    /// `Verifier._verify_bundle`) as `hashlib.sha256(public_key.public_bytes(PEM, SubjectPublicKeyInfo))`,
    /// i.e. over the re-encoded PEM text, not over the DER nor over the key file's own bytes.
    pub fn hint(&self) -> String {
        hex::encode(Sha256::digest(spki_pem(&self.inner).as_bytes()))
    }

    /// Verifies an ASN.1 DER ECDSA-P256-SHA256 signature over `message`.
    pub(crate) fn verify_der(&self, message: &[u8], signature_der: &[u8]) -> bool {
        // OpenSSL emits high-S signatures half the time and accepts them; so do we (no low-S rule).
        match Signature::from_der(signature_der) {
            Ok(sig) => self.inner.verify(message, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

fn spki_pem(key: &p256::ecdsa::VerifyingKey) -> String {
    // Encoding a valid point into SPKI cannot fail; an empty string would only make the hint mismatch.
    key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
}

/// Finds the first PEM block in `text` whose label is not `EC PARAMETERS`; returns its label and the
/// block text from `-----BEGIN` through the end of its `-----END ...-----` line.
fn find_pem_block<'a>(text: &'a str, kind: &'static str) -> Result<(&'a str, &'a str), KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let from_begin = &rest[start..];
        let after_begin = &from_begin[BEGIN.len()..];
        let Some(label_end) = after_begin.find("-----") else { break };
        let label = &after_begin[..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end_pos) = from_begin.find(&end_marker) else {
            return Err(KeyError::Malformed { kind, reason: format!("PEM block `{label}` has no END line") });
        };
        let block = &from_begin[..end_pos + end_marker.len()];
        if label != "EC PARAMETERS" {
            return Ok((label, block));
        }
        rest = &from_begin[end_pos + end_marker.len()..];
    }
    Err(KeyError::NotPem { kind })
}

fn decrypt_pkcs8(block: &str, passphrase: &[u8], label: &str) -> Result<p256::ecdsa::SigningKey, KeyError> {
    let (_, der) = pem::decode_vec(block.as_bytes())
        .map_err(|e| KeyError::Malformed { kind: "private", reason: e.to_string() })?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| KeyError::Malformed { kind: "private", reason: e.to_string() })?;
    // Wrong passphrases surface as padding or DER errors after decryption; both mean the same to a user.
    let plain = info.decrypt(passphrase).map_err(|_| KeyError::Decrypt { label: label.into() })?;
    p256::ecdsa::SigningKey::from_pkcs8_der(plain.as_bytes())
        .map_err(|e| KeyError::Malformed { kind: "private", reason: e.to_string() })
}

/// cosign's encrypted key envelope (sigstore `pkg/cryptoutils`, secure-systems-lab `encrypted`):
/// base64 JSON with scrypt parameters and a NaCl secretbox around the PKCS#8 DER private key.
#[derive(Deserialize)]
struct CosignEnvelope {
    kdf: CosignKdf,
    cipher: CosignCipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct CosignKdf {
    name: String,
    params: CosignScryptParams,
    salt: String,
}

#[derive(Deserialize)]
struct CosignScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct CosignCipher {
    name: String,
    nonce: String,
}

fn decrypt_cosign(block: &str, passphrase: &[u8], label: &str) -> Result<p256::ecdsa::SigningKey, KeyError> {
    let malformed = |reason: String| KeyError::Malformed { kind: "private", reason };
    let unsupported = |reason: String| KeyError::UnsupportedEncryption { label: label.into(), reason };
    let (_, json) = pem::decode_vec(block.as_bytes()).map_err(|e| malformed(e.to_string()))?;
    let env: CosignEnvelope =
        serde_json::from_slice(&json).map_err(|e| malformed(format!("cosign key envelope: {e}")))?;
    if env.kdf.name != "scrypt" {
        return Err(unsupported(format!("kdf `{}`", env.kdf.name)));
    }
    if env.cipher.name != "nacl/secretbox" {
        return Err(unsupported(format!("cipher `{}`", env.cipher.name)));
    }
    let CosignScryptParams { n, r, p } = env.kdf.params;
    if n < 2 || !n.is_power_of_two() {
        return Err(unsupported(format!("scrypt N={n} is not a power of two")));
    }
    let memory = 128u64.saturating_mul(u64::from(r)).saturating_mul(n);
    if memory > MAX_SCRYPT_MEMORY || p == 0 || p > 16 {
        return Err(unsupported(format!("scrypt N={n} r={r} p={p} exceeds the allowed cost")));
    }
    let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| unsupported(format!("scrypt N={n}")))?;
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| unsupported(format!("scrypt N={n} r={r} p={p}: {e}")))?;
    let salt =
        Base64::decode_vec(&env.kdf.salt).map_err(|_| malformed("cosign kdf.salt is not base64".into()))?;
    let nonce = Base64::decode_vec(&env.cipher.nonce)
        .map_err(|_| malformed("cosign cipher.nonce is not base64".into()))?;
    let ciphertext = Base64::decode_vec(&env.ciphertext)
        .map_err(|_| malformed("cosign ciphertext is not base64".into()))?;
    let nonce: [u8; 24] = nonce
        .as_slice()
        .try_into()
        .map_err(|_| malformed(format!("cosign nonce is {} bytes, expected 24", nonce.len())))?;

    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, &salt, &params, key.as_mut())
        .map_err(|e| unsupported(format!("scrypt output length: {e}")))?;
    let cipher = XSalsa20Poly1305::new(&(*key).into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(&nonce.into(), ciphertext.as_slice())
            .map_err(|_| KeyError::Decrypt { label: label.into() })?,
    );
    p256::ecdsa::SigningKey::from_pkcs8_der(&plain).map_err(|e| malformed(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Written by `openssl ec -pubout`; model_signing 1.1.1 (`sign key`) put the hint below in the bundle
    /// it signed with the matching private key, so this pins the hint bytes to the reference tool.
    const OPENSSL_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEE6HNWaTywhJSh/vOiPiLAVEDi92s
TV1Plh4Kbrm3/pa29oJMxQrl+D3jiYuPBaK2Zp5Xaj7eATSfIoyOq0Z/6A==
-----END PUBLIC KEY-----
";
    const OPENSSL_PUB_HINT: &str = "c493689eb930c9aa47f0bf94256cc6459d144cafeaadcb2e7220078f14ec4eb9";

    /// The public half of `COSIGN_KEY`, as Python `cryptography` wrote it.
    const COSIGN_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDlVuoBH6Dtj8sx/JxiWbL7onFqCW
hGi1tLc8bY8V0cjRnsc1CY1rpRz5iR0RlugqKh44t690+Jg8+UXeWh8NXw==
-----END PUBLIC KEY-----
";

    /// A cosign-format key made independently with Python (hashlib.scrypt N=2^15 r=8 p=1 + PyNaCl
    /// SecretBox over the PKCS#8 DER written by `cryptography`), passphrase `ferry-test-passphrase`.
    const COSIGN_KEY: &str = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiJTU0JpdHFGcUlYaW1BS0wycnhDRmMyd3o4cXdjQTJF
NU1QZVRJaThyMjNnPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJxMWUrQ3ZLYXBNWU1OL3dveklmT2Y5cjZTL2dsc0FsZSJ9LCJj
aXBoZXJ0ZXh0IjoiQUtTenJ4Vk05T3MrYnhYUWc3azRwd1JuN2hjaC9uZ0RKTGJY
c0Zram1nNkx0WWxGNkxWNHFRdXcra09nSUR2Qm83TXFFN0NtUkpRM29BYXU4VSt6
MGdIcE01V3hiaGZDbXIzRjZXdVpVdFh2clUxMmJCbDFweSt6T252Z2xMVlBNRzZN
Z01ZdXE5K2x6c1QwTEJidisra1dRcjlmWkF2VWVTTWxORzJBYTdaNW9WdXk1MGda
bmgxSmZVOW8rQ3R5VTFFSm5jdFRLZUxUUFE9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
";

    #[test]
    fn public_pem_round_trips_byte_for_byte() {
        let key = VerifyingKey::from_pem(OPENSSL_PUB).unwrap();
        assert_eq!(key.to_pem().as_str(), OPENSSL_PUB);
        assert_eq!(key.hint(), OPENSSL_PUB_HINT);
        let cosign = VerifyingKey::from_pem(COSIGN_PUB).unwrap();
        assert_eq!(cosign.to_pem().as_str(), COSIGN_PUB);
    }

    #[test]
    fn keygen_plain_and_encrypted() {
        let (private, public) = keygen(None).unwrap();
        assert!(private.as_str().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let key = SigningKey::from_pem(private.as_str(), None).unwrap();
        assert_eq!(key.verifying_key(), VerifyingKey::from_pem(public.as_str()).unwrap());

        let encrypted = key.to_pem(Some(b"correct horse")).unwrap();
        assert!(encrypted.as_str().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        assert!(matches!(
            SigningKey::from_pem(encrypted.as_str(), None),
            Err(KeyError::PassphraseRequired { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(encrypted.as_str(), Some(b"wrong")),
            Err(KeyError::Decrypt { .. })
        ));
        let back = SigningKey::from_pem(encrypted.as_str(), Some(b"correct horse")).unwrap();
        assert_eq!(back.verifying_key(), key.verifying_key());
    }

    #[test]
    fn cosign_key_decrypts() {
        let key = SigningKey::from_pem(COSIGN_KEY, Some(b"ferry-test-passphrase")).unwrap();
        assert_eq!(key.verifying_key().to_pem().as_str(), COSIGN_PUB);
        assert!(matches!(SigningKey::from_pem(COSIGN_KEY, Some(b"nope")), Err(KeyError::Decrypt { .. })));
        assert!(matches!(SigningKey::from_pem(COSIGN_KEY, None), Err(KeyError::PassphraseRequired { .. })));
    }

    #[test]
    fn sec1_with_parameters_block() {
        let key = SigningKey::generate().unwrap();
        let secret = p256::SecretKey::from(key.inner.as_nonzero_scalar());
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        let text = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            *sec1
        );
        let back = SigningKey::from_pem(&text, None).unwrap();
        assert_eq!(back.verifying_key(), key.verifying_key());
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(matches!(VerifyingKey::from_pem("hello"), Err(KeyError::NotPem { .. })));
        assert!(matches!(
            VerifyingKey::from_pem("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"),
            Err(KeyError::UnsupportedLabel { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n", None),
            Err(KeyError::Malformed { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(
                "-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n",
                None
            ),
            Err(KeyError::UnsupportedLabel { .. })
        ));
    }

    #[test]
    fn high_s_signatures_verify() {
        let key = SigningKey::generate().unwrap();
        let msg = b"message";
        let sig = Signature::from_der(&key.sign_der(msg)).unwrap();
        let (r, s) = sig.split_scalars();
        let flipped = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        let vk = key.verifying_key();
        assert!(vk.verify_der(msg, sig.to_der().as_bytes()));
        assert!(vk.verify_der(msg, flipped.to_der().as_bytes()));
        assert!(!vk.verify_der(b"other", flipped.to_der().as_bytes()));
    }

    proptest::proptest! {
        #[test]
        fn random_text_never_panics(text in ".{0,400}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = VerifyingKey::from_pem(&text);
            let _ = SigningKey::from_pem(&text, Some(b"x"));
            let _ = VerifyingKey::from_der(&bytes);
            let wrapped = format!("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n", Base64::encode_string(&bytes));
            let _ = SigningKey::from_pem(&wrapped, Some(b""));
            let wrapped = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", Base64::encode_string(&bytes));
            let _ = SigningKey::from_pem(&wrapped, None);
        }
    }
}
