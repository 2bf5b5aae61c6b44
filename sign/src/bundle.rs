//! The sigstore bundle (v0.3, JSON) that carries a DSSE envelope and a public key hint.
//!
//! Written exactly as model_signing 1.1.1 writes key-signed bundles (`_signing/sign_ec_key.py`
//! `Signer.sign`, serialized by `sigstore_models` `Bundle.to_json()`): compact JSON with keys in the order
//! `mediaType`, `verificationMaterial {publicKey {hint}, tlogEntries: []}`, `dsseEnvelope {payload,
//! payloadType, signatures [{sig, keyid: ""}]}`, bytes as standard padded base64.
//!
//! Read leniently: `keyid`, `tlogEntries`, `hint` and the whole `verificationMaterial` may be absent,
//! `publicKey.rawBytes`/`keyDetails` and unknown fields are ignored, proto field names (`payload_type`)
//! are accepted next to the JSON names, and base64 may be padded, unpadded, standard or URL-safe.

use base64ct::{Base64, Base64Unpadded, Base64Url, Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

use crate::dsse::{Envelope, EnvelopeSignature};
use crate::error::{SignError, VerifyError};

/// The media type model_signing writes and requires.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The alternative spelling of the same bundle version that sigstore clients also accept.
const BUNDLE_MEDIA_TYPE_ALT: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";

/// A decoded sigstore bundle carrying a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreBundle {
    /// The bundle's `mediaType`.
    pub media_type: String,
    /// `verificationMaterial.publicKey.hint`: hex SHA-256 of the signer's SPKI PEM, when present.
    pub public_key_hint: Option<String>,
    /// The DSSE envelope.
    pub envelope: Envelope,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleOut<'a> {
    media_type: &'a str,
    verification_material: MaterialOut<'a>,
    dsse_envelope: EnvelopeOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MaterialOut<'a> {
    public_key: PublicKeyOut<'a>,
    tlog_entries: [(); 0],
}

#[derive(Serialize)]
struct PublicKeyOut<'a> {
    hint: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeOut<'a> {
    payload: String,
    payload_type: &'a str,
    signatures: Vec<SignatureOut<'a>>,
}

#[derive(Serialize)]
struct SignatureOut<'a> {
    sig: String,
    keyid: &'a str,
}

/// Encodes the bundle JSON for `envelope` signed by the key whose hint is `public_key_hint`.
pub fn encode(envelope: &Envelope, public_key_hint: &str) -> Result<Vec<u8>, SignError> {
    let out = BundleOut {
        media_type: BUNDLE_MEDIA_TYPE,
        verification_material: MaterialOut {
            public_key: PublicKeyOut { hint: public_key_hint },
            tlog_entries: [],
        },
        dsse_envelope: EnvelopeOut {
            payload: Base64::encode_string(&envelope.payload),
            payload_type: &envelope.payload_type,
            signatures: envelope
                .signatures
                .iter()
                .map(|s| SignatureOut {
                    sig: Base64::encode_string(&s.sig),
                    keyid: s.keyid.as_deref().unwrap_or(""),
                })
                .collect(),
        },
    };
    serde_json::to_vec(&out).map_err(|e| SignError::Json { reason: e.to_string() })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleIn {
    #[serde(alias = "media_type")]
    media_type: String,
    #[serde(default, alias = "verification_material")]
    verification_material: Option<MaterialIn>,
    #[serde(default, alias = "dsse_envelope")]
    dsse_envelope: Option<EnvelopeIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaterialIn {
    #[serde(default, alias = "public_key")]
    public_key: Option<PublicKeyIn>,
}

#[derive(Deserialize)]
struct PublicKeyIn {
    #[serde(default)]
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeIn {
    payload: String,
    #[serde(alias = "payload_type")]
    payload_type: String,
    #[serde(default)]
    signatures: Vec<SignatureIn>,
}

#[derive(Deserialize)]
struct SignatureIn {
    sig: String,
    #[serde(default)]
    keyid: Option<String>,
}

/// Decodes any of the base64 spellings protobuf JSON readers accept.
pub(crate) fn decode_base64(text: &str, field: &str) -> Result<Vec<u8>, VerifyError> {
    Base64::decode_vec(text)
        .or_else(|_| Base64Unpadded::decode_vec(text))
        .or_else(|_| Base64Url::decode_vec(text))
        .or_else(|_| Base64UrlUnpadded::decode_vec(text))
        .map_err(|_| VerifyError::Base64 { field: field.to_owned() })
}

/// Decodes a sigstore bundle holding a DSSE envelope. Checks structure only, no cryptography.
pub fn decode(bundle_json: &[u8]) -> Result<SigstoreBundle, VerifyError> {
    let raw: BundleIn = serde_json::from_slice(bundle_json)
        .map_err(|e| VerifyError::MalformedBundle { reason: e.to_string() })?;
    if raw.media_type != BUNDLE_MEDIA_TYPE && raw.media_type != BUNDLE_MEDIA_TYPE_ALT {
        return Err(VerifyError::UnsupportedMediaType { media_type: raw.media_type });
    }
    let env = raw.dsse_envelope.ok_or(VerifyError::MissingEnvelope)?;
    let payload = decode_base64(&env.payload, "dsseEnvelope.payload")?;
    let signatures = env
        .signatures
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let sig = decode_base64(&s.sig, &format!("dsseEnvelope.signatures[{i}].sig"))?;
            Ok(EnvelopeSignature { sig, keyid: s.keyid })
        })
        .collect::<Result<Vec<_>, VerifyError>>()?;
    let public_key_hint =
        raw.verification_material.and_then(|m| m.public_key).and_then(|k| k.hint).filter(|h| !h.is_empty());
    Ok(SigstoreBundle {
        media_type: raw.media_type,
        public_key_hint,
        envelope: Envelope { payload, payload_type: env.payload_type, signatures },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let env = Envelope {
            payload: b"{}".to_vec(),
            payload_type: "application/vnd.in-toto+json".into(),
            signatures: vec![EnvelopeSignature { sig: vec![1, 2, 3], keyid: Some(String::new()) }],
        };
        let json = encode(&env, "abcd").unwrap();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"abcd"},"tlogEntries":[]},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AQID","keyid":""}]}}"#
        );
        let back = decode(&json).unwrap();
        assert_eq!(back.envelope, env);
        assert_eq!(back.public_key_hint.as_deref(), Some("abcd"));
    }

    #[test]
    fn lenient_reading() {
        let json = br#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.3",
            "verificationMaterial":{"publicKey":{"rawBytes":"AAAA"}},
            "dsse_envelope":{"payload":"e30","payload_type":"x","signatures":[{"sig":"AQID"}]}}"#;
        let b = decode(json).unwrap();
        assert_eq!(b.public_key_hint, None);
        assert_eq!(b.envelope.payload, b"{}");
        assert_eq!(b.envelope.signatures[0].keyid, None);
    }

    #[test]
    fn structural_errors() {
        assert!(matches!(decode(b"{"), Err(VerifyError::MalformedBundle { .. })));
        assert!(matches!(decode(br#"{"mediaType":"x"}"#), Err(VerifyError::UnsupportedMediaType { .. })));
        assert!(matches!(
            decode(br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{}}"#),
            Err(VerifyError::MissingEnvelope)
        ));
        assert!(matches!(
            decode(br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"!!","payloadType":"x","signatures":[]}}"#),
            Err(VerifyError::Base64 { .. })
        ));
    }
}
