//! Signatures and attestations on Ferry bundles.
//!
//! A signature is an OpenSSF Model Signing v1.0 sigstore bundle over the bundle's file view (every file,
//! its path and SHA-256, exactly what `ferry unpack` writes), stored as an OCI referrer of the bundle
//! manifest. An attestation is a signed in-toto statement whose subject is the bundle manifest digest and
//! whose predicate is a verifier report. Neither changes a byte of signed content.
//!
//! A signature or attestation is made either with a key (the sigstore bundle names the key by a hint) or
//! keylessly through Sigstore (the bundle carries a Fulcio certificate and a Rekor entry, checked by
//! `ferry-keyless` against a trusted root). Both kinds can coexist on one bundle.
//!
//! [`check`] applies the `[trust]` table of a policy: which keys or identities may sign, how many
//! signatures are needed, whether an attestation is required. The runtime refuses to open a bundle it
//! rejects.

use ferry_bundle::{Bundle, FoundReferrer, Referrer};
pub use ferry_keyless::{Certified, TrustRoot};
use ferry_sign::{SigningKey, VerifyingKey};
use ferry_spec::policy::{Identity, Trust};
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
    #[error(transparent)]
    Keyless(#[from] ferry_keyless::KeylessError),
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
    /// Index into [`Anchors::keys`] of the key it verified with.
    pub verified_by: Option<usize>,
    /// For a keyless signature whose certificate, log entry and signature verified: who signed.
    pub signer: Option<Certified>,
    /// Index into [`Anchors::identities`] of the identity that [`Found::signer`] matched.
    pub verified_identity: Option<usize>,
    /// Why it is not verified (`None` when it verified, or when nothing was given to check it against).
    pub error: Option<String>,
    /// The signed in-toto statement (signature or attestation), read without a key.
    pub statement: Option<Value>,
}

impl Found {
    /// Whether a trusted key or a trusted identity made it.
    pub fn verified(&self) -> bool {
        self.verified_by.is_some() || self.verified_identity.is_some()
    }

    /// Whether it was made keylessly (a certificate, not a key).
    pub fn is_keyless(&self) -> bool {
        self.key_hint.is_none()
    }
}

/// What signatures and attestations are checked against.
#[derive(Debug, Default)]
pub struct Anchors {
    /// Public keys.
    pub keys: Vec<VerifyingKey>,
    /// Keyless signer identities (OIDC issuer and certificate subject).
    pub identities: Vec<Identity>,
    /// The Sigstore trusted root for keyless signatures; without one they are reported unverified.
    pub root: Option<TrustRoot>,
}

impl Anchors {
    /// Only keys: keyless signatures are not checked.
    pub fn keys(keys: Vec<VerifyingKey>) -> Self {
        Self { keys, ..Self::default() }
    }
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
    let text = ferry_spec::file::read_to_string(path, ferry_spec::file::SMALL_FILE_LIMIT)
        .map_err(|e| TrustError::Key { path: path.display().to_string(), message: e.reason() })?;
    VerifyingKey::from_pem(&text)
        .map_err(|e| TrustError::Key { path: path.display().to_string(), message: e.to_string() })
}

/// Loads a PEM private key file; `passphrase` for encrypted keys.
pub fn load_signing_key(path: &Path, passphrase: Option<&[u8]>) -> Result<SigningKey, TrustError> {
    let text = ferry_spec::file::read_to_string(path, ferry_spec::file::SMALL_FILE_LIMIT)
        .map_err(|e| TrustError::Key { path: path.display().to_string(), message: e.reason() })?;
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
    let referrer = referrer(Kind::Signature, blob, Some(&key.verifying_key().hint()));
    Ok(bundle.write_with_referrer(out, &referrer)?)
}

/// Signs the bundle's file view keylessly through the Sigstore public-good instance (needs the network
/// and an OIDC identity token; see [`ferry_keyless::sign_statement`]) and writes the bundle with the
/// signature added to `out`. Nothing is written when signing fails.
pub fn sign_keyless(bundle: &Bundle, identity_token: Option<&str>, out: &Path) -> Result<String, TrustError> {
    let options =
        ferry_sign::SignOptions { model_name: bundle.manifest().model.name.clone(), ..Default::default() };
    let statement = ferry_sign::statement_payload(&file_view(bundle), &options)?;
    let blob = ferry_keyless::sign_statement(&statement, identity_token)?;
    Ok(bundle.write_with_referrer(out, &referrer(Kind::Signature, blob, None))?)
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
    let hint = parsed.public_key_hint.filter(|_| !ferry_keyless::is_keyless(&blob));
    Ok(referrer(Kind::Signature, blob, hint.as_deref()))
}

fn rule(rule: &str, message: String) -> TrustError {
    TrustError::Rule { rule: rule.to_owned(), message }
}

/// Adds a signed promotion attestation: an in-toto statement whose subject is the bundle manifest and
/// whose predicate is `report` (the verifier's JSON report).
pub fn attest(bundle: &Bundle, key: &SigningKey, report: Value, out: &Path) -> Result<String, TrustError> {
    let statement = attestation_statement(bundle, report);
    let blob = ferry_sign::sign_statement(&statement, key)?;
    let referrer = referrer(Kind::Attestation, blob, Some(&key.verifying_key().hint()));
    Ok(bundle.write_with_referrer(out, &referrer)?)
}

/// [`attest`], keylessly through Sigstore (see [`sign_keyless`]).
pub fn attest_keyless(
    bundle: &Bundle,
    report: Value,
    identity_token: Option<&str>,
    out: &Path,
) -> Result<String, TrustError> {
    let statement = serde_json::to_vec(&attestation_statement(bundle, report))
        .map_err(|e| rule("attestation", e.to_string()))?;
    let blob = ferry_keyless::sign_statement(&statement, identity_token)?;
    Ok(bundle.write_with_referrer(out, &referrer(Kind::Attestation, blob, None))?)
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

fn referrer(kind: Kind, blob: Vec<u8>, hint: Option<&str>) -> Referrer {
    let mut annotations = BTreeMap::from([(KIND_ANNOTATION.to_owned(), kind.name().to_owned())]);
    if let Some(hint) = hint.filter(|h| !h.is_empty()) {
        annotations.insert(KEY_HINT_ANNOTATION.to_owned(), hint.to_owned());
    }
    Referrer {
        artifact_type: SIGSTORE_BUNDLE.to_owned(),
        media_type: SIGSTORE_BUNDLE.to_owned(),
        blob,
        annotations,
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

/// Lists every signature and attestation and checks each against `anchors`.
///
/// A key signature verifies when its DSSE signature checks with a key and its resources equal the
/// bundle's file view exactly; a keyless one when its certificate, log entry and signature verify
/// against the trusted root, its resources equal the file view, and its signer is one of the
/// identities. An attestation needs the same, with this bundle as its subject.
pub fn inspect(bundle: &Bundle, anchors: &Anchors) -> Vec<Found> {
    let view = file_view(bundle);
    let subject = bundle.manifest_digest().strip_prefix("sha256:").unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for r in bundle.referrers() {
        let Some(kind) = kind_of(r) else { continue };
        let blob = bundle.blob(&r.blob_digest).unwrap_or_default();
        let keyless = ferry_keyless::is_keyless(blob);
        let key_hint = if keyless {
            None
        } else {
            Some(r.annotations.get(KEY_HINT_ANNOTATION).cloned().unwrap_or_default())
        };
        let statement = match kind {
            Kind::Signature => ferry_sign::parse(blob).ok().map(|p| p.statement),
            Kind::Attestation => ferry_sign::bundle::decode(blob)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b.envelope.payload).ok()),
        };
        let mut found = Found {
            digest: r.digest.clone(),
            kind,
            key_hint,
            verified_by: None,
            signer: None,
            verified_identity: None,
            error: None,
            statement,
        };
        if keyless {
            check_keyless(&mut found, blob, &view, &subject, anchors);
        } else {
            check_keys(&mut found, blob, &view, &subject, &anchors.keys);
        }
        out.push(found);
    }
    out
}

fn attestation_subject_ok(statement: &Value, subject: &str) -> Result<(), String> {
    let ok = statement["subject"][0]["digest"]["sha256"].as_str() == Some(subject)
        && statement["predicateType"].as_str() == Some(ATTESTATION_PREDICATE);
    if ok { Ok(()) } else { Err("the attestation's subject is another bundle".to_owned()) }
}

fn check_keys(
    found: &mut Found,
    blob: &[u8],
    view: &[(String, [u8; 32])],
    subject: &str,
    keys: &[VerifyingKey],
) {
    let mut last_error = None;
    for (i, key) in keys.iter().enumerate() {
        let result = match found.kind {
            Kind::Signature => ferry_sign::verify(blob, view, key).map(|_| ()).map_err(|e| e.to_string()),
            Kind::Attestation => ferry_sign::verify_statement(blob, key)
                .map_err(|e| e.to_string())
                .and_then(|st| attestation_subject_ok(&st, subject)),
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
}

fn check_keyless(
    found: &mut Found,
    blob: &[u8],
    view: &[(String, [u8; 32])],
    subject: &str,
    anchors: &Anchors,
) {
    let Some(root) = &anchors.root else {
        found.error = Some("keyless signature: no Sigstore trusted root to check it against".into());
        return;
    };
    // The statement is bound to the bundle first (cheap, and names the file at fault); then Sigstore's
    // verifier checks certificate, log entry and signature over that same statement.
    let digest = match found.kind {
        Kind::Signature => ferry_sign::parse(blob).map_err(|e| e.to_string()).and_then(|parsed| {
            ferry_sign::check_view(&parsed, view).map_err(|e| e.to_string())?;
            Ok(parsed.subject_digest)
        }),
        Kind::Attestation => {
            let st = found.statement.clone().unwrap_or_default();
            attestation_subject_ok(&st, subject).and_then(|()| {
                let mut d = [0u8; 32];
                hex::decode_to_slice(subject, &mut d).map_err(|e| e.to_string())?;
                Ok(d)
            })
        }
    };
    let digest = match digest {
        Ok(d) => d,
        Err(binding) => {
            // Not a signature over this bundle. Still say who made it, if its Sigstore material holds
            // for what it does sign: an auditor wants "signed by X, but over other files".
            found.signer = signed_subject(blob).and_then(|d| ferry_keyless::verify(blob, &d, root).ok());
            found.error = Some(binding);
            return;
        }
    };
    match ferry_keyless::verify(blob, &digest, root) {
        Err(e) => found.error = Some(e.to_string()),
        Ok(signer) => {
            found.verified_identity = signer.matches(&anchors.identities);
            if found.verified_identity.is_none() && !anchors.identities.is_empty() {
                found.error = Some(format!("signed by {signer}, which is not among trust.identities"));
            }
            found.signer = Some(signer);
        }
    }
}

/// The SHA-256 of the first subject of the statement a sigstore bundle signs, whatever the statement.
fn signed_subject(blob: &[u8]) -> Option<[u8; 32]> {
    let bundle = ferry_sign::bundle::decode(blob).ok()?;
    let statement: Value = serde_json::from_slice(&bundle.envelope.payload).ok()?;
    let mut d = [0u8; 32];
    hex::decode_to_slice(statement["subject"][0]["digest"]["sha256"].as_str()?, &mut d).ok()?;
    Some(d)
}

/// Applies a `[trust]` table with its keys, identities and trusted root already loaded in `anchors`.
/// Returns what was found; fails with the rule that rejected the bundle.
pub fn check(bundle: &Bundle, trust: &Trust, anchors: &Anchors) -> Result<Vec<Found>, TrustError> {
    let found = inspect(bundle, anchors);
    let needed = trust.required_signatures() as usize;
    // Distinct signers: a key and an identity are different signers; one key signing twice is one.
    let mut signers: Vec<(bool, usize)> = found
        .iter()
        .filter(|f| f.kind == Kind::Signature)
        .filter_map(|f| f.verified_by.map(|i| (false, i)).or(f.verified_identity.map(|i| (true, i))))
        .collect();
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
                "{needed} signature(s) from distinct trusted keys or identities required, {} found valid among {seen} signature(s){why}",
                signers.len()
            ),
        });
    }
    if trust.require_attestation && !found.iter().any(|f| f.kind == Kind::Attestation && f.verified()) {
        return Err(TrustError::Rule {
            rule: "trust.require_attestation".into(),
            message: "no promotion attestation signed by a trusted key or identity (run `ferry attest`)"
                .into(),
        });
    }
    Ok(found)
}

/// Loads what a `[trust]` table names: its keys and trusted root (paths relative to `policy_dir`; the
/// root defaults to the Sigstore public-good one when identities are listed).
pub fn anchors(trust: &Trust, policy_dir: &Path) -> Result<Anchors, TrustError> {
    let keys =
        trust.keys.iter().map(|k| load_public_key(&policy_dir.join(k))).collect::<Result<Vec<_>, _>>()?;
    let root = match &trust.trusted_root {
        Some(path) => Some(TrustRoot::from_file(&policy_dir.join(path))?),
        None if !trust.identities.is_empty() => Some(TrustRoot::public_good()?),
        None => None,
    };
    Ok(Anchors { keys, identities: trust.identities.clone(), root })
}
