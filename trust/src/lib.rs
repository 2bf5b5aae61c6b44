//! Signatures and attestations on Ferry bundles.
//!
//! A signature is an OpenSSF Model Signing v1.0 sigstore bundle over the bundle's file view (every file,
//! its path and SHA-256, exactly what `ferry unpack` writes), stored as an OCI referrer of the bundle
//! manifest. An attestation is a signed in-toto statement whose subject is the bundle manifest digest and
//! whose predicate is a verifier report. Neither changes a byte of signed content.
//!
//! [`check`] applies the `[trust]` table of a policy: which keys may sign, how many signatures are
//! needed, whether an attestation is required. The runtime refuses to open a bundle it rejects.

use ferry_bundle::{Bundle, FoundReferrer, Referrer};
use ferry_sign::{SigningKey, VerifyingKey};
use ferry_spec::policy::Trust;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// The artifact type and layer media type of signature and attestation referrers.
pub const SIGSTORE_BUNDLE: &str = ferry_sign::bundle::BUNDLE_MEDIA_TYPE;
/// The referrer annotation saying what a sigstore bundle holds.
pub const KIND_ANNOTATION: &str = "dev.ferry.kind";
/// The referrer annotation carrying the signer's key hint (hex SHA-256 of the public key PEM).
pub const KEY_HINT_ANNOTATION: &str = "dev.ferry.key-hint";
/// The predicate type of a promotion attestation.
pub const ATTESTATION_PREDICATE: &str = "https://ferry.dev/attestation/verification-report/v1";
/// The name `ferry unpack` gives the first OMS signature, where `model_signing verify` looks for it.
pub const SIGNATURE_FILE: &str = "model.sig";

/// What a referrer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An OMS signature over the file view.
    Signature,
    /// A signed in-toto statement about the bundle (`ferry attest`).
    Attestation,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Signature => "signature",
            Kind::Attestation => "attestation",
        }
    }
}

/// Why signing or a trust check failed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{0}")]
    Bundle(#[from] ferry_bundle::BundleError),
    #[error("signing failed: {0}")]
    Sign(#[from] ferry_sign::SignError),
    #[error("{path}: {message}")]
    Key { path: String, message: String },
    #[error("trust policy rule `{rule}`: {message}")]
    Rule { rule: String, message: String },
}

/// One signature or attestation found in a bundle, and what checking it against the given keys said.
#[derive(Debug, Clone)]
pub struct Found {
    /// Digest of the referrer manifest.
    pub digest: String,
    pub kind: Kind,
    /// The hint the signer recorded (hex SHA-256 of its public key PEM), if any.
    pub key_hint: Option<String>,
    /// Index into the keys given to [`inspect`] of the key it verified with.
    pub verified_by: Option<usize>,
    /// Why it did not verify with any given key (`None` when it verified or no key was given).
    pub error: Option<String>,
    /// The signed in-toto statement (signature or attestation), read without a key.
    pub statement: Option<Value>,
}

/// The file view a signature covers: every file of the bundle with its SHA-256.
pub fn file_view(bundle: &Bundle) -> Vec<(String, [u8; 32])> {
    bundle
        .manifest()
        .files
        .iter()
        .filter_map(|f| {
            let mut d = [0u8; 32];
            hex::decode_to_slice(&f.sha256, &mut d).ok().map(|()| (f.path.clone(), d))
        })
        .collect()
}

/// Loads a PEM public key file.
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, TrustError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrustError::Key { path: path.display().to_string(), message: e.to_string() })?;
    VerifyingKey::from_pem(&text)
        .map_err(|e| TrustError::Key { path: path.display().to_string(), message: e.to_string() })
}

/// Loads a PEM private key file; `passphrase` for encrypted keys.
pub fn load_signing_key(path: &Path, passphrase: Option<&[u8]>) -> Result<SigningKey, TrustError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrustError::Key { path: path.display().to_string(), message: e.to_string() })?;
    SigningKey::from_pem(&text, passphrase)
        .map_err(|e| TrustError::Key { path: path.display().to_string(), message: e.to_string() })
}

/// Signs the bundle's file view and writes the bundle with the signature added to `out` (which may be
/// the bundle's own path: the new file replaces it atomically). Deterministic: the same key and bundle
/// give the same bytes, and signing twice with one key adds nothing.
pub fn sign(bundle: &Bundle, key: &SigningKey, out: &Path) -> Result<String, TrustError> {
    let options =
        ferry_sign::SignOptions { model_name: bundle.manifest().model.name.clone(), ..Default::default() };
    let blob = ferry_sign::sign_with(&file_view(bundle), key, &options)?;
    let referrer = referrer(Kind::Signature, blob, &key.verifying_key().hint());
    Ok(bundle.write_with_referrer(out, &referrer)?)
}

/// The referrer that stores an existing OMS signature (a `model.sig` found next to a bundle source),
/// after checking that it covers exactly `files`: the same paths with the same digests. The signature's
/// cryptographic check needs a key and is left to `ferry verify --key` and the runtime's trust policy.
pub fn signature_referrer(blob: Vec<u8>, files: &[(String, [u8; 32])]) -> Result<Referrer, TrustError> {
    let parsed = ferry_sign::parse(&blob).map_err(|e| rule("model.sig", e.to_string()))?;
    let signed: BTreeMap<&str, [u8; 32]> =
        parsed.resources.iter().map(|r| (r.name.as_str(), r.digest)).collect();
    for (path, digest) in files {
        match signed.get(path.as_str()) {
            None => return Err(rule("model.sig", format!("`{path}` is not covered by the signature"))),
            Some(d) if d != digest => {
                return Err(rule("model.sig", format!("`{path}` differs from the signed file")));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = signed.keys().find(|k| !files.iter().any(|(p, _)| p == *k)) {
        return Err(rule(
            "model.sig",
            format!("the signature covers `{extra}`, which is not part of the bundle"),
        ));
    }
    let hint = parsed.public_key_hint.unwrap_or_default();
    Ok(referrer(Kind::Signature, blob, &hint))
}

fn rule(rule: &str, message: String) -> TrustError {
    TrustError::Rule { rule: rule.to_owned(), message }
}

/// Adds a signed promotion attestation: an in-toto statement whose subject is the bundle manifest and
/// whose predicate is `report` (the verifier's JSON report).
pub fn attest(bundle: &Bundle, key: &SigningKey, report: Value, out: &Path) -> Result<String, TrustError> {
    let statement = attestation_statement(bundle, report);
    let blob = ferry_sign::sign_statement(&statement, key)?;
    let referrer = referrer(Kind::Attestation, blob, &key.verifying_key().hint());
    Ok(bundle.write_with_referrer(out, &referrer)?)
}

fn attestation_statement(bundle: &Bundle, report: Value) -> Value {
    let m = bundle.manifest();
    let digest = bundle.manifest_digest().strip_prefix("sha256:").unwrap_or_default();
    json!({
        "_type": ferry_sign::intoto::STATEMENT_TYPE,
        "subject": [{"name": format!("{}:{}", m.model.name, m.model.version), "digest": {"sha256": digest}}],
        "predicateType": ATTESTATION_PREDICATE,
        "predicate": report,
    })
}

fn referrer(kind: Kind, blob: Vec<u8>, hint: &str) -> Referrer {
    Referrer {
        artifact_type: SIGSTORE_BUNDLE.to_owned(),
        media_type: SIGSTORE_BUNDLE.to_owned(),
        blob,
        annotations: BTreeMap::from([
            (KIND_ANNOTATION.to_owned(), kind.name().to_owned()),
            (KEY_HINT_ANNOTATION.to_owned(), hint.to_owned()),
        ]),
    }
}

fn kind_of(r: &FoundReferrer) -> Option<Kind> {
    if r.artifact_type != SIGSTORE_BUNDLE {
        return None;
    }
    match r.annotations.get(KIND_ANNOTATION).map(String::as_str) {
        Some("attestation") => Some(Kind::Attestation),
        _ => Some(Kind::Signature),
    }
}

/// The first OMS signature's sigstore bundle, for `model.sig`.
pub fn model_sig(bundle: &Bundle) -> Option<Vec<u8>> {
    let r = bundle.referrers().iter().find(|r| kind_of(r) == Some(Kind::Signature))?;
    bundle.blob(&r.blob_digest).ok().map(<[u8]>::to_vec)
}

/// Lists every signature and attestation and checks each against `keys`.
///
/// A signature verifies when its DSSE signature checks with a key and its resources equal the bundle's
/// file view exactly; an attestation when its signature checks and its subject is this bundle.
pub fn inspect(bundle: &Bundle, keys: &[VerifyingKey]) -> Vec<Found> {
    let view = file_view(bundle);
    let subject = bundle.manifest_digest().strip_prefix("sha256:").unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for r in bundle.referrers() {
        let Some(kind) = kind_of(r) else { continue };
        let blob = bundle.blob(&r.blob_digest).unwrap_or_default();
        let key_hint = r.annotations.get(KEY_HINT_ANNOTATION).cloned();
        let statement = match kind {
            Kind::Signature => ferry_sign::parse(blob).ok().map(|p| p.statement),
            Kind::Attestation => ferry_sign::bundle::decode(blob)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b.envelope.payload).ok()),
        };
        let mut found =
            Found { digest: r.digest.clone(), kind, key_hint, verified_by: None, error: None, statement };
        let mut last_error = None;
        for (i, key) in keys.iter().enumerate() {
            let result = match kind {
                Kind::Signature => {
                    ferry_sign::verify(blob, &view, key).map(|_| ()).map_err(|e| e.to_string())
                }
                Kind::Attestation => {
                    ferry_sign::verify_statement(blob, key).map_err(|e| e.to_string()).and_then(|st| {
                        let ok = st["subject"][0]["digest"]["sha256"].as_str() == Some(subject.as_str())
                            && st["predicateType"].as_str() == Some(ATTESTATION_PREDICATE);
                        if ok {
                            Ok(())
                        } else {
                            Err("the attestation's subject is another bundle".to_owned())
                        }
                    })
                }
            };
            match result {
                Ok(()) => {
                    found.verified_by = Some(i);
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        found.error = last_error;
        out.push(found);
    }
    out
}

/// Applies a `[trust]` table: `keys` are the policy's allowed keys (already loaded). Returns what was
/// found; fails with the rule that rejected the bundle.
pub fn check(bundle: &Bundle, trust: &Trust, keys: &[VerifyingKey]) -> Result<Vec<Found>, TrustError> {
    let found = inspect(bundle, keys);
    let needed = trust.required_signatures() as usize;
    let mut signers: Vec<usize> =
        found.iter().filter(|f| f.kind == Kind::Signature).filter_map(|f| f.verified_by).collect();
    signers.sort_unstable();
    signers.dedup();
    if signers.len() < needed {
        let seen = found.iter().filter(|f| f.kind == Kind::Signature).count();
        let why = found
            .iter()
            .filter(|f| f.kind == Kind::Signature)
            .filter_map(|f| f.error.as_deref())
            .next()
            .map(|e| format!("; {e}"))
            .unwrap_or_default();
        return Err(TrustError::Rule {
            rule: "trust.min_signatures".into(),
            message: format!(
                "{needed} signature(s) from distinct trusted keys required, {} found valid among {seen} signature(s){why}",
                signers.len()
            ),
        });
    }
    if trust.require_attestation
        && !found.iter().any(|f| f.kind == Kind::Attestation && f.verified_by.is_some())
    {
        return Err(TrustError::Rule {
            rule: "trust.require_attestation".into(),
            message: "no promotion attestation signed by a trusted key (run `ferry attest`)".into(),
        });
    }
    if !trust.identities.is_empty() {
        return Err(TrustError::Rule {
            rule: "trust.identities".into(),
            message: "keyless (sigstore identity) verification is not supported by this Ferry build".into(),
        });
    }
    Ok(found)
}
