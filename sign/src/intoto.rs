//! in-toto Statement v1 signing and verification, wrapped in DSSE inside a sigstore bundle.
//!
//! Generic over the predicate: the OMS model signature ([`crate::oms`]) is one user, a promotion
//! attestation with an arbitrary JSON predicate is another.

use serde_json::{Map, Value};

use crate::bundle;
use crate::dsse::Envelope;
use crate::error::{SignError, VerifyError};
use crate::keys::{SigningKey, VerifyingKey};

/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The `_type` of an in-toto v1 statement.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// Signs an in-toto v1 statement and returns the sigstore bundle JSON.
///
/// The statement must be an object with `_type` = [`STATEMENT_TYPE`], a non-empty `subject` array and a
/// string `predicateType`. The payload is the statement as 2-space indented JSON with object keys sorted,
/// so the same statement and key always give the same bytes.
pub fn sign_statement(statement: &Value, key: &SigningKey) -> Result<Vec<u8>, SignError> {
    check_statement(statement).map_err(|reason| SignError::InvalidStatement { reason })?;
    let payload = serde_json::to_vec_pretty(&sorted(statement))
        .map_err(|e| SignError::Json { reason: e.to_string() })?;
    sign_payload(payload, key)
}

/// Signs already-serialized statement bytes; the caller guarantees they are an in-toto statement.
pub(crate) fn sign_payload(payload: Vec<u8>, key: &SigningKey) -> Result<Vec<u8>, SignError> {
    let envelope = Envelope::sign(PAYLOAD_TYPE, payload, key);
    bundle::encode(&envelope, &key.verifying_key().hint())
}

/// Verifies a sigstore bundle holding a DSSE-signed in-toto v1 statement and returns the statement.
///
/// Checks, in order: bundle structure, the public key hint (when present) against `key`, the signature
/// over the DSSE PAE, the payload type, and the statement's `_type`. The predicate is not interpreted.
pub fn verify_statement(bundle_json: &[u8], key: &VerifyingKey) -> Result<Value, VerifyError> {
    let bundle = bundle::decode(bundle_json)?;
    check_hint(bundle.public_key_hint.as_deref(), key)?;
    bundle.envelope.verify(key)?;
    statement_of(&bundle.envelope)
}

/// Rejects a bundle whose hint names another key. An absent hint is accepted (older model_signing
/// bundles have none; model_signing itself only warns).
pub(crate) fn check_hint(bundle_hint: Option<&str>, key: &VerifyingKey) -> Result<(), VerifyError> {
    let key_hint = key.hint();
    match bundle_hint {
        Some(h) if !h.eq_ignore_ascii_case(&key_hint) => {
            Err(VerifyError::KeyMismatch { bundle_hint: h.to_owned(), key_hint })
        }
        _ => Ok(()),
    }
}

/// Checks the payload type and parses the payload as an in-toto v1 statement.
pub(crate) fn statement_of(envelope: &Envelope) -> Result<Value, VerifyError> {
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(VerifyError::PayloadType { found: envelope.payload_type.clone() });
    }
    let statement: Value = serde_json::from_slice(&envelope.payload)
        .map_err(|e| VerifyError::MalformedStatement { reason: format!("payload is not JSON: {e}") })?;
    let Some(object) = statement.as_object() else {
        return Err(VerifyError::MalformedStatement { reason: "payload is not a JSON object".into() });
    };
    match object.get("_type") {
        Some(Value::String(t)) if t == STATEMENT_TYPE => Ok(statement),
        Some(Value::String(t)) => Err(VerifyError::StatementType { found: t.clone() }),
        Some(_) => Err(VerifyError::MalformedStatement { reason: "`_type` is not a string".into() }),
        None => Err(VerifyError::MalformedStatement { reason: "`_type` is missing".into() }),
    }
}

fn check_statement(statement: &Value) -> Result<(), String> {
    let object = statement.as_object().ok_or("the statement is not a JSON object")?;
    match object.get("_type") {
        Some(Value::String(t)) if t == STATEMENT_TYPE => {}
        _ => return Err(format!("`_type` must be \"{STATEMENT_TYPE}\"")),
    }
    match object.get("subject") {
        Some(Value::Array(s)) if !s.is_empty() => {}
        _ => return Err("`subject` must be a non-empty array".into()),
    }
    match object.get("predicateType") {
        Some(Value::String(t)) if !t.is_empty() => Ok(()),
        _ => Err("`predicateType` must be a non-empty string".into()),
    }
}

/// A copy of `value` whose objects have their keys inserted in sorted order, so the output is the same
/// whether or not serde_json's `preserve_order` feature is enabled somewhere in the build.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if let Some(v) = map.get(k) {
                    out.insert(k.clone(), sorted(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attestation() -> Value {
        json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": "model", "digest": {"sha256": "00".repeat(32)}}],
            "predicateType": "https://ferry.dev/promotion/v1",
            "predicate": {"stage": "prod", "checks": ["golden", "contract"], "approved_by": "alice"}
        })
    }

    #[test]
    fn sign_verify_arbitrary_predicate() {
        let key = SigningKey::generate().unwrap();
        let bundle = sign_statement(&attestation(), &key).unwrap();
        assert_eq!(bundle, sign_statement(&attestation(), &key).unwrap());
        let statement = verify_statement(&bundle, &key.verifying_key()).unwrap();
        assert_eq!(statement, attestation());
    }

    #[test]
    fn rejects_non_statements() {
        let key = SigningKey::generate().unwrap();
        for bad in [
            json!([]),
            json!({"_type": "x", "subject": [{}], "predicateType": "p"}),
            json!({"_type": STATEMENT_TYPE, "subject": [], "predicateType": "p"}),
            json!({"_type": STATEMENT_TYPE, "subject": [{}]}),
        ] {
            assert!(matches!(sign_statement(&bad, &key), Err(SignError::InvalidStatement { .. })), "{bad}");
        }
    }

    #[test]
    fn verify_checks_type_and_key() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let bundle = sign_statement(&attestation(), &key).unwrap();
        assert!(matches!(
            verify_statement(&bundle, &other.verifying_key()),
            Err(VerifyError::KeyMismatch { .. })
        ));

        let env = Envelope::sign("text/plain", b"{}".to_vec(), &key);
        let b = bundle::encode(&env, &key.verifying_key().hint()).unwrap();
        assert!(matches!(verify_statement(&b, &key.verifying_key()), Err(VerifyError::PayloadType { .. })));

        let b = sign_payload(br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec(), &key).unwrap();
        assert!(matches!(verify_statement(&b, &key.verifying_key()), Err(VerifyError::StatementType { .. })));

        let b = sign_payload(b"not json".to_vec(), &key).unwrap();
        assert!(matches!(
            verify_statement(&b, &key.verifying_key()),
            Err(VerifyError::MalformedStatement { .. })
        ));
    }
}
