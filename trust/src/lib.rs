//! Signatures and attestations on Ferry bundles.
//!
//! A signature is an OpenSSF Model Signing v1.0 sigstore bundle over the bundle's *signed view*: every
//! file with its path and SHA-256, plus the Ferry manifest as the resource `.ferry/manifest.json` (format
//! 2; exactly what `ferry unpack` writes), stored as an OCI referrer of the bundle manifest. So a
//! signature binds the contract, pins and tolerances a runtime enforces, not only the files. An attestation is a signed in-toto statement whose subject is the bundle manifest digest and
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
pub const SIGNATURE_FILE: &str = ferry_spec::SIGNATURE_PATH;
/// Why a signature on a format 1 bundle never counts.
pub const V1_SIGNATURE: &str = "format version 1 signatures do not bind the Ferry manifest; repack: \
     ferry unpack B DIR && ferry pack DIR -o B2 && ferry sign B2 --key K";

/// What a referrer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An OMS signature over the file view.
    Signature,
    /// A signed in-toto statement about the bundle (`ferry attest`).
    Attestation,
    /// An OMS signature a producer made over the source directory before it was packed
    /// (`model_signing sign`): it covers the bundled source files, not the manifest or the generated
    /// files, so no trust policy counts it.
    SourceSignature,
}

impl Kind {
    /// The `dev.ferry.kind` annotation value.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Signature => "signature",
            Kind::Attestation => "attestation",
            Kind::SourceSignature => "source-signature",
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

/// The file view: every file of the bundle with its SHA-256 (what a format 1 signature covered).
pub fn file_view(bundle: &Bundle) -> Vec<(String, [u8; 32])> {
    files_of(bundle.manifest())
}

fn files_of(manifest: &ferry_spec::Manifest) -> Vec<(String, [u8; 32])> {
    manifest
        .files
        .iter()
        .filter_map(|f| {
            let mut d = [0u8; 32];
            hex::decode_to_slice(&f.sha256, &mut d).ok().map(|()| (f.path.clone(), d))
        })
        .collect()
}

/// The signed view of a bundle (format 2 on): the file view plus the resource
/// [`MANIFEST_FILE`](ferry_spec::media::MANIFEST_FILE) whose digest is the Ferry manifest's (the config
/// blob's). `None` for a format 1 bundle, whose signatures never bind the manifest.
pub fn signed_view(bundle: &Bundle) -> Option<Vec<(String, [u8; 32])>> {
    if bundle.manifest().format_version < 2 {
        return None;
    }
    Some(signed_view_of(bundle.manifest(), &bundle.image_manifest().config.digest))
}

/// The signed view of a manifest whose config blob has OCI digest `config_digest` (`sha256:<hex>`).
pub fn signed_view_of(manifest: &ferry_spec::Manifest, config_digest: &str) -> Vec<(String, [u8; 32])> {
    let mut view = files_of(manifest);
    if let Ok(d) = config_digest.parse::<ferry_bundle::digest::Sha256Digest>() {
        view.push((ferry_spec::media::MANIFEST_FILE.to_owned(), *d.as_bytes()));
    }
    view
}

/// The bundled source files: the file view less the generated files under `.ferry/`. A source
/// signature must cover each of them.
fn source_files(manifest: &ferry_spec::Manifest) -> Vec<(String, [u8; 32])> {
    files_of(manifest).into_iter().filter(|(p, _)| !is_generated(p)).collect()
}

fn is_generated(path: &str) -> bool {
    path.split('/').next() == Some(ferry_spec::media::RESERVED_DIR)
}

/// The options Ferry signs with: the model name as subject, and model_signing's default ignore paths
/// plus [`REFERRERS_DIR`](ferry_spec::media::REFERRERS_DIR), where `ferry unpack` writes the other
/// signatures, so a `model_signing` verifier skips them.
fn sign_options(bundle: &Bundle) -> ferry_sign::SignOptions {
    let mut options =
        ferry_sign::SignOptions { model_name: bundle.manifest().model.name.clone(), ..Default::default() };
    options.ignore_paths.push(ferry_spec::media::REFERRERS_DIR.to_owned());
    options
}

fn signable_view(bundle: &Bundle) -> Result<Vec<(String, [u8; 32])>, TrustError> {
    signed_view(bundle).ok_or_else(|| {
        rule(
            "format_version",
            "a format version 1 bundle cannot be signed: its signatures would not bind the Ferry manifest; \
             repack it first: ferry unpack B DIR && ferry pack DIR -o B2"
                .to_owned(),
        )
    })
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
    let blob = ferry_sign::sign_with(&signable_view(bundle)?, key, &sign_options(bundle))?;
    let referrer = referrer(Kind::Signature, blob, Some(&key.verifying_key().hint()));
    Ok(bundle.write_with_referrer(out, &referrer)?)
}

#[cfg(feature = "keyless-sign")]
/// Signs the bundle's file view keylessly through the Sigstore public-good instance (needs the network
/// and an OIDC identity token; see [`ferry_keyless::sign_statement`]) and writes the bundle with the
/// signature added to `out`. Nothing is written when signing fails.
pub fn sign_keyless(bundle: &Bundle, identity_token: Option<&str>, out: &Path) -> Result<String, TrustError> {
    let statement = ferry_sign::statement_payload(&signable_view(bundle)?, &sign_options(bundle))?;
    let blob = ferry_keyless::sign_statement(&statement, identity_token)?;
    Ok(bundle.write_with_referrer(out, &referrer(Kind::Signature, blob, None))?)
}

/// What a packer is about to write, for classifying the signatures found in a source directory.
#[derive(Debug, Clone, Copy)]
pub struct PackTarget<'a> {
    /// The new bundle's Ferry manifest, `files` filled in.
    pub manifest: &'a ferry_spec::Manifest,
    /// The OCI digest of its config blob.
    pub config_digest: &'a str,
    /// The OCI digest of its bundle manifest (the subject of attestations).
    pub manifest_digest: &'a str,
}

/// Turns a signature or attestation found in a bundle source (`model.sig`, `.ferry/referrers/*.json`)
/// into the referrer that keeps it in the new bundle, classified by content (`spec/FORMAT.md` §5): an
/// attestation whose subject is the new bundle; a signature whose resources are exactly the new signed
/// view; or a *source signature* whose resources cover every bundled source file with the same digest.
/// `name` is the file it came from, for errors. The cryptographic check needs a key: `ferry verify
/// --key`, `ferry audit --key` or the runtime's trust policy.
pub fn kept_referrer(name: &str, blob: Vec<u8>, target: PackTarget<'_>) -> Result<Referrer, TrustError> {
    let keyless = ferry_keyless::is_keyless(&blob);
    let envelope = ferry_sign::bundle::decode(&blob).map_err(|e| rule(name, e.to_string()))?;
    let hint = envelope.public_key_hint.clone().filter(|_| !keyless);
    let statement: Value = serde_json::from_slice(&envelope.envelope.payload)
        .map_err(|e| rule(name, format!("the signed statement is not JSON: {e}")))?;
    if statement["predicateType"].as_str() == Some(ATTESTATION_PREDICATE) {
        let subject = ferry_bundle::digest::strip_prefix(target.manifest_digest).unwrap_or_default();
        attestation_subject_ok(&statement, subject).map_err(|e| rule(name, e))?;
        return Ok(referrer(Kind::Attestation, blob, hint.as_deref()));
    }
    let parsed = ferry_sign::parse(&blob).map_err(|e| rule(name, e.to_string()))?;
    if is_source_signature(&parsed) {
        covers_sources(&parsed, target.manifest)
            .map_err(|e| rule(name, format!("source signature: {e}; delete it to pack without it")))?;
        return Ok(referrer(Kind::SourceSignature, blob, hint.as_deref()));
    }
    let view = signed_view_of(target.manifest, target.config_digest);
    ferry_sign::check_view(&parsed, &view).map_err(|e| {
        rule(name, format!("no longer signs the bundle: {}; delete it to pack without it", describe(&e)))
    })?;
    Ok(referrer(Kind::Signature, blob, hint.as_deref()))
}

/// Reads an OMS signature without a key; `None` for an attestation or anything unreadable.
pub fn parse_signature(blob: &[u8]) -> Option<ferry_sign::ParsedSignature> {
    ferry_sign::parse(blob).ok()
}

/// Whether a signature found in a source is a source signature: one that does not sign the Ferry
/// manifest (`model_signing sign` over a model directory, or a format 1 signature). Decided by content
/// alone, so the provenance can record it before the bundle's own digests exist.
pub fn is_source_signature(parsed: &ferry_sign::ParsedSignature) -> bool {
    !parsed.resources.iter().any(|r| r.name == ferry_spec::media::MANIFEST_FILE)
}

/// A verification error in words, naming the manifest when the manifest is what changed.
fn describe(e: &ferry_sign::VerifyError) -> String {
    match e {
        ferry_sign::VerifyError::DigestMismatch { path, signed, actual }
            if path == ferry_spec::media::MANIFEST_FILE =>
        {
            format!(
                "the Ferry manifest was changed after signing (contract, pins, tolerances or metadata): \
                 signed `{path}` has sha256 {signed}, the bundle's is {actual}"
            )
        }
        other => other.to_string(),
    }
}

/// Whether a signature covers every bundled source file (all but the generated `.ferry/*` files) with
/// the same digest: the binding of a source signature. Resources beyond the bundle (files of the
/// producer's directory that were not bundled) are allowed.
fn covers_sources(
    parsed: &ferry_sign::ParsedSignature,
    manifest: &ferry_spec::Manifest,
) -> Result<(), String> {
    let signed: BTreeMap<&str, [u8; 32]> =
        parsed.resources.iter().map(|r| (r.name.as_str(), r.digest)).collect();
    for (path, digest) in source_files(manifest) {
        match signed.get(path.as_str()) {
            None => return Err(format!("`{path}` is not covered")),
            Some(d) if *d != digest => return Err(format!("`{path}` differs from the signed file")),
            Some(_) => {}
        }
    }
    Ok(())
}

/// A source signature as the provenance records it: SHA-256 of its bytes, who signed (key hint or
/// `keyless`), and how many of the bundle's source files it covers.
pub fn source_signature_summary(blob: &[u8]) -> Option<(String, String, usize)> {
    let parsed = ferry_sign::parse(blob).ok()?;
    let signer = if ferry_keyless::is_keyless(blob) {
        "keyless".to_owned()
    } else {
        parsed.public_key_hint.map(|h| format!("key {h}")).unwrap_or_else(|| "key".to_owned())
    };
    Some((ferry_bundle::digest::Sha256Digest::of(blob).hex(), signer, parsed.resources.len()))
}

/// The files `ferry unpack` writes next to the file view: the Ferry manifest as
/// `.ferry/manifest.json` (format 2 on), every signature and attestation as
/// `.ferry/referrers/NNN.json` in referrer order, and the first signature as `model.sig`.
pub fn unpacked_extras(bundle: &Bundle) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if bundle.manifest().format_version >= 2
        && let Ok(config) = bundle.blob(&bundle.image_manifest().config.digest)
    {
        out.push((ferry_spec::media::MANIFEST_FILE.to_owned(), config.to_vec()));
    }
    let mut n = 0;
    for r in bundle.referrers() {
        if kind_of(r).is_none() {
            continue;
        }
        if let Ok(blob) = bundle.blob(&r.blob_digest) {
            n += 1;
            out.push((format!("{}/{n:03}.json", ferry_spec::media::REFERRERS_DIR), blob.to_vec()));
        }
    }
    if let Some(sig) = model_sig(bundle) {
        out.push((SIGNATURE_FILE.to_owned(), sig));
    }
    out
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

#[cfg(feature = "keyless-sign")]
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
    let digest = ferry_bundle::digest::strip_prefix(bundle.manifest_digest()).unwrap_or_default();
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
        Some("source-signature") => Some(Kind::SourceSignature),
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
    // A format 1 signature is checked over the files it covers, so an auditor still sees who made it,
    // but it never verifies: it does not bind the manifest.
    let signed = signed_view(bundle);
    let view = signed.clone().unwrap_or_else(|| file_view(bundle));
    let sources = source_files(bundle.manifest());
    let subject = ferry_bundle::digest::strip_prefix(bundle.manifest_digest()).unwrap_or_default().to_owned();
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
            Kind::Signature | Kind::SourceSignature => ferry_sign::parse(blob).ok().map(|p| p.statement),
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
        if kind == Kind::SourceSignature {
            check_source(&mut found, blob, &sources, anchors);
        } else if keyless {
            check_keyless(&mut found, blob, &view, &subject, anchors);
        } else {
            check_keys(&mut found, blob, &view, &subject, &anchors.keys);
        }
        if signed.is_none() && kind == Kind::Signature {
            found.verified_by = None;
            found.verified_identity = None;
            found.error = Some(V1_SIGNATURE.to_owned());
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

/// A source signature verifies when a key or trusted identity made it over its own resources and those
/// cover every bundled source file. It is reported, never counted.
fn check_source(found: &mut Found, blob: &[u8], sources: &[(String, [u8; 32])], anchors: &Anchors) {
    let parsed = match ferry_sign::parse(blob) {
        Ok(p) => p,
        Err(e) => {
            found.error = Some(e.to_string());
            return;
        }
    };
    let signed: BTreeMap<&str, [u8; 32]> =
        parsed.resources.iter().map(|r| (r.name.as_str(), r.digest)).collect();
    if let Some((path, _)) = sources.iter().find(|(p, d)| signed.get(p.as_str()) != Some(d)) {
        found.error = Some(format!("the source signature does not cover the bundled `{path}`"));
        return;
    }
    let own: Vec<(String, [u8; 32])> = parsed.resources.iter().map(|r| (r.name.clone(), r.digest)).collect();
    if ferry_keyless::is_keyless(blob) {
        check_keyless(found, blob, &own, "", anchors);
    } else {
        check_keys(found, blob, &own, "", &anchors.keys);
    }
}

fn check_keys(
    found: &mut Found,
    blob: &[u8],
    view: &[(String, [u8; 32])],
    subject: &str,
    keys: &[VerifyingKey],
) {
    // The error shown is the one from the key that claims to have signed (its hint matches), when one
    // does: with several trusted keys, "no DSSE signature verifies" against the signer's own key says
    // what happened; "key mismatch" against whichever key was tried last would name the wrong signer.
    let mut last_error = None;
    let mut signer_error = None;
    for (i, key) in keys.iter().enumerate() {
        let result = match found.kind {
            Kind::Signature | Kind::SourceSignature => {
                ferry_sign::verify(blob, view, key).map(|_| ()).map_err(|e| describe(&e))
            }
            Kind::Attestation => ferry_sign::verify_statement(blob, key)
                .map_err(|e| e.to_string())
                .and_then(|st| attestation_subject_ok(&st, subject)),
        };
        match result {
            Ok(()) => {
                found.verified_by = Some(i);
                found.error = None;
                return;
            }
            Err(e) if signer_error.is_none() && found.key_hint.as_deref() == Some(key.hint().as_str()) => {
                signer_error = Some(e);
            }
            Err(e) => last_error = Some(e),
        }
    }
    found.error = signer_error.or(last_error);
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
        Kind::Signature | Kind::SourceSignature => {
            ferry_sign::parse(blob).map_err(|e| e.to_string()).and_then(|parsed| {
                ferry_sign::check_view(&parsed, view).map_err(|e| describe(&e))?;
                Ok(parsed.subject_digest)
            })
        }
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
