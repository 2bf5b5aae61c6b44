//! Dead Simple Signing Envelope (DSSE v1.0): the pre-authentication encoding and envelope signing.
//!
//! See <https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md>. The envelope's JSON form
//! lives inside a sigstore bundle; see [`crate::bundle`].

use crate::error::VerifyError;
use crate::keys::{SigningKey, VerifyingKey};

/// The DSSE pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in
/// ASCII decimal bytes. This is what the signature covers.
///
/// model_signing's `_signing/sign_sigstore_pb.py::pae` builds the same bytes (always with the in-toto type).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len());
    let mut out = Vec::with_capacity(header.len() + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// ASN.1 DER ECDSA signature bytes.
    pub sig: Vec<u8>,
    /// Optional key identifier; model_signing writes an empty string.
    pub keyid: Option<String>,
}

/// A DSSE envelope with its payload decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The payload bytes (for in-toto: the statement JSON).
    pub payload: Vec<u8>,
    /// The payload's media type.
    pub payload_type: String,
    /// The signatures over `pae(payload_type, payload)`.
    pub signatures: Vec<EnvelopeSignature>,
}

impl Envelope {
    /// Signs `payload` as `payload_type` with one ECDSA-P256-SHA256 signature (deterministic, RFC 6979).
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &SigningKey) -> Self {
        let sig = key.sign_der(&pae(payload_type, &payload));
        Self {
            payload,
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature { sig, keyid: Some(String::new()) }],
        }
    }

    /// Succeeds when at least one signature verifies with `key` over the PAE of this envelope.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), VerifyError> {
        if self.signatures.is_empty() {
            return Err(VerifyError::NoSignatures);
        }
        let message = pae(&self.payload_type, &self.payload);
        if self.signatures.iter().any(|s| key.verify_der(&message, &s.sig)) {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The worked example from the DSSE v1.0 protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = SigningKey::generate().unwrap();
        let env = Envelope::sign("text/plain", b"hi".to_vec(), &key);
        env.verify(&key.verifying_key()).unwrap();

        let mut other_type = env.clone();
        other_type.payload_type = "text/html".into();
        assert!(matches!(other_type.verify(&key.verifying_key()), Err(VerifyError::BadSignature)));

        let mut none = env.clone();
        none.signatures.clear();
        assert!(matches!(none.verify(&key.verifying_key()), Err(VerifyError::NoSignatures)));

        let other = SigningKey::generate().unwrap();
        assert!(matches!(env.verify(&other.verifying_key()), Err(VerifyError::BadSignature)));
    }
}
