//! OpenSSF Model Signing (OMS) v1.0 signatures over a file view, interoperable with `model_signing` 1.1.x.
//!
//! A file view is a list of (relative POSIX path, SHA-256 digest) pairs. Format decisions, each checked
//! against model_signing 1.1.1's source:
//!
//! - **Resource order**: sorted by path *components* (`sub/b.bin` < `sub/deep/c` < `sub.txt`), not by
//!   string: `Manifest.resource_descriptors()` in `manifest.py` yields `sorted(self._item_to_digest.items())`
//!   whose keys are `_File(PurePosixPath)` dataclasses, and `PurePath` orders by its parts.
//! - **Subject digest**: SHA-256 over the concatenated raw 32-byte resource digests, in the order the
//!   resources appear in the predicate (`Payload.__init__` and `dsse_payload_to_manifest` in
//!   `_signing/signing.py`). Verification recomputes it in the bundle's order, without re-sorting.
//! - **Subject name**: the model directory's final path component (`model_path.name` in
//!   `_serialization/file.py`); informational only, never compared on verification. Ferry takes it from
//!   [`SignOptions::model_name`], default [`DEFAULT_MODEL_NAME`].
//! - **Serialization**: `{method: "files", hash_type: "sha256", allow_symlinks: false, ignore_paths: [...]}`,
//!   `ignore_paths` omitted when empty (`_FileSerialization.serialization_parameters` in `manifest.py`).
//!   model_signing's CLI records the signature file and the git paths there, in a random (frozenset)
//!   order; Ferry writes [`DEFAULT_IGNORE_PATHS`] sorted.
//! - **Resource entries**: `{name, algorithm: "sha256", digest: lowercase hex}`.
//! - **Payload bytes**: the statement as 2-space indented JSON without a trailing newline, the layout of
//!   protobuf's `MessageToJson` that model_signing uses; fields in a fixed order so bytes are
//!   reproducible (model_signing's own key order inside the predicate varies between runs).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bundle;
use crate::error::{SignError, VerifyError};
use crate::intoto::{self, STATEMENT_TYPE};
use crate::keys::{SigningKey, VerifyingKey};

/// The OMS v1.0 predicate type.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";

/// The subject name [`sign`] uses.
pub const DEFAULT_MODEL_NAME: &str = "model";

/// The ignore paths [`sign`] records: the ones model_signing's CLI records when signing a directory
/// with its default `--signature model.sig` inside it, sorted.
pub const DEFAULT_IGNORE_PATHS: [&str; 5] = [".git", ".gitattributes", ".github", ".gitignore", "model.sig"];

/// Choices recorded in the statement that do not change what is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// The statement's subject name (model_signing uses the model directory's name).
    pub model_name: String,
    /// `predicate.serialization.ignore_paths`: paths a model_signing verifier skips when hashing a
    /// directory. No file of the view may lie under one of them.
    pub ignore_paths: Vec<String>,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            model_name: DEFAULT_MODEL_NAME.to_owned(),
            ignore_paths: DEFAULT_IGNORE_PATHS.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// One signed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Relative POSIX path, as written in the signature.
    pub name: String,
    /// SHA-256 of the file's bytes.
    pub digest: [u8; 32],
}

/// `predicate.serialization` as read from a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serialization {
    /// Always `files` (anything else is rejected).
    pub method: String,
    /// Always `sha256` (anything else is rejected).
    pub hash_type: String,
    /// Whether the signer followed symlinks; informational.
    pub allow_symlinks: bool,
    /// Paths the signer excluded; a caller building a file view from a directory should skip them.
    pub ignore_paths: Vec<String>,
}

impl Serialization {
    /// Whether `path` equals or lies under one of the signature's ignore paths, the way model_signing's
    /// `should_ignore` (`Path.is_relative_to`) decides.
    pub fn is_ignored(&self, path: &str) -> bool {
        self.ignore_paths.iter().any(|ignored| is_under(path, ignored))
    }
}

/// A signature's content, read without checking any key.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSignature {
    /// The sigstore bundle media type.
    pub media_type: String,
    /// `verificationMaterial.publicKey.hint`, when present.
    pub public_key_hint: Option<String>,
    /// How many signatures the DSSE envelope holds.
    pub signature_count: usize,
    /// The subject name.
    pub model_name: String,
    /// The subject's SHA-256 (already checked to match the resources).
    pub subject_digest: [u8; 32],
    /// The serialization parameters.
    pub serialization: Serialization,
    /// The signed files, in the order of the signature.
    pub resources: Vec<Resource>,
    /// The whole in-toto statement, for audit output.
    pub statement: Value,
}

/// A signature that verified with a key and matched a file view exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedSignature {
    /// The signature's content.
    pub signature: ParsedSignature,
    /// The hint of the key it verified with (hex SHA-256 of its SPKI PEM).
    pub key_hint: String,
}

#[derive(Serialize)]
struct StatementOut<'a> {
    #[serde(rename = "_type")]
    type_: &'a str,
    subject: [SubjectOut<'a>; 1],
    #[serde(rename = "predicateType")]
    predicate_type: &'a str,
    predicate: PredicateOut<'a>,
}

#[derive(Serialize)]
struct SubjectOut<'a> {
    name: &'a str,
    digest: DigestOut,
}

#[derive(Serialize)]
struct DigestOut {
    sha256: String,
}

#[derive(Serialize)]
struct PredicateOut<'a> {
    serialization: SerializationOut<'a>,
    resources: Vec<ResourceOut<'a>>,
}

#[derive(Serialize)]
struct SerializationOut<'a> {
    method: &'a str,
    hash_type: &'a str,
    allow_symlinks: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    ignore_paths: &'a [String],
}

#[derive(Serialize)]
struct ResourceOut<'a> {
    name: &'a str,
    algorithm: &'a str,
    digest: String,
}

/// Signs a file view with [`SignOptions::default`] and returns the sigstore bundle JSON (`model.sig`).
pub fn sign(files: &[(String, [u8; 32])], key: &SigningKey) -> Result<Vec<u8>, SignError> {
    sign_with(files, key, &SignOptions::default())
}

/// Signs a file view and returns the sigstore bundle JSON. Same inputs and key give the same bytes.
pub fn sign_with(
    files: &[(String, [u8; 32])],
    key: &SigningKey,
    options: &SignOptions,
) -> Result<Vec<u8>, SignError> {
    intoto::sign_payload(statement_payload(files, options)?, key)
}

/// The OMS in-toto statement over a file view, as the exact payload bytes a signature covers; for
/// signers that hold no key here (keyless signing through Sigstore).
pub fn statement_payload(files: &[(String, [u8; 32])], options: &SignOptions) -> Result<Vec<u8>, SignError> {
    if files.is_empty() {
        return Err(SignError::NoFiles);
    }
    let mut ignore_paths = options.ignore_paths.clone();
    for p in &ignore_paths {
        check_path(p).map_err(|reason| SignError::InvalidIgnorePath { path: p.clone(), reason })?;
    }
    ignore_paths.sort();
    ignore_paths.dedup();

    let mut seen = BTreeSet::new();
    for (path, _) in files {
        check_path(path).map_err(|reason| SignError::InvalidPath { path: path.clone(), reason })?;
        if !seen.insert(path.as_str()) {
            return Err(SignError::DuplicatePath { path: path.clone() });
        }
        if let Some(ignored) = ignore_paths.iter().find(|i| is_under(path, i)) {
            return Err(SignError::IgnoredPath { path: path.clone(), ignored: ignored.clone() });
        }
    }

    let mut ordered: Vec<&(String, [u8; 32])> = files.iter().collect();
    ordered.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
    let subject_digest = digest_of(ordered.iter().map(|(_, d)| d));

    let statement = StatementOut {
        type_: STATEMENT_TYPE,
        subject: [SubjectOut {
            name: &options.model_name,
            digest: DigestOut { sha256: hex::encode(subject_digest) },
        }],
        predicate_type: PREDICATE_TYPE,
        predicate: PredicateOut {
            serialization: SerializationOut {
                method: "files",
                hash_type: "sha256",
                allow_symlinks: false,
                ignore_paths: &ignore_paths,
            },
            resources: ordered
                .iter()
                .map(|(name, digest)| ResourceOut { name, algorithm: "sha256", digest: hex::encode(digest) })
                .collect(),
        },
    };
    serde_json::to_vec_pretty(&statement).map_err(|e| SignError::Json { reason: e.to_string() })
}

/// Reads a signature without a key: bundle structure, payload type, statement type, predicate type,
/// serialization, resources and the subject digest are all checked; the signature itself is not.
pub fn parse(bundle_json: &[u8]) -> Result<ParsedSignature, VerifyError> {
    let bundle = bundle::decode(bundle_json)?;
    let statement = intoto::statement_of(&bundle.envelope)?;
    read_statement(statement, bundle.media_type, bundle.public_key_hint, bundle.envelope.signatures.len())
}

/// Verifies a signature with `key` and checks that it covers exactly `files`.
///
/// Order of checks: bundle structure; the public key hint (when present) names `key`; a DSSE signature
/// verifies over the PAE; payload and statement types; OMS v1.0 predicate; `files`/`sha256`
/// serialization; the subject digest matches the resources; then the file view: a digest mismatch, a
/// signed file missing from the view, a file in the view that is not signed — each its own error naming
/// the path.
pub fn verify(
    bundle_json: &[u8],
    files: &[(String, [u8; 32])],
    key: &VerifyingKey,
) -> Result<VerifiedSignature, VerifyError> {
    let bundle = bundle::decode(bundle_json)?;
    intoto::check_hint(bundle.public_key_hint.as_deref(), key)?;
    bundle.envelope.verify(key)?;
    let statement = intoto::statement_of(&bundle.envelope)?;
    let signature = read_statement(
        statement,
        bundle.media_type,
        bundle.public_key_hint,
        bundle.envelope.signatures.len(),
    )?;
    check_view(&signature, files)?;
    Ok(VerifiedSignature { signature, key_hint: key.hint() })
}

/// Checks that a signature covers exactly `files`: each signed digest equals the file's, no signed file
/// is missing, no file is unsigned. The signature's cryptography is checked elsewhere ([`verify`] with a
/// key; keyless signatures by `ferry-keyless`).
pub fn check_view(signature: &ParsedSignature, files: &[(String, [u8; 32])]) -> Result<(), VerifyError> {
    let mut view: BTreeMap<&str, &[u8; 32]> = BTreeMap::new();
    for (path, digest) in files {
        if view.insert(path.as_str(), digest).is_some() {
            return Err(VerifyError::DuplicateFile { path: path.clone() });
        }
    }
    for r in &signature.resources {
        if let Some(actual) = view.get(r.name.as_str())
            && **actual != r.digest
        {
            return Err(VerifyError::DigestMismatch {
                path: r.name.clone(),
                signed: hex::encode(r.digest),
                actual: hex::encode(actual),
            });
        }
    }
    if let Some(r) = signature.resources.iter().find(|r| !view.contains_key(r.name.as_str())) {
        return Err(VerifyError::MissingFile { path: r.name.clone() });
    }
    let signed: BTreeSet<&str> = signature.resources.iter().map(|r| r.name.as_str()).collect();
    if let Some(path) = view.keys().find(|p| !signed.contains(*p)) {
        return Err(VerifyError::UnsignedFile { path: (*path).to_owned() });
    }
    Ok(())
}

#[derive(Deserialize)]
struct StatementIn {
    subject: Vec<SubjectIn>,
    predicate: PredicateIn,
}

#[derive(Deserialize)]
struct SubjectIn {
    #[serde(default)]
    name: String,
    digest: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct PredicateIn {
    serialization: SerializationIn,
    resources: Vec<ResourceIn>,
}

#[derive(Deserialize)]
struct SerializationIn {
    method: String,
    hash_type: String,
    #[serde(default)]
    allow_symlinks: bool,
    #[serde(default)]
    ignore_paths: Vec<String>,
}

#[derive(Deserialize)]
struct ResourceIn {
    name: String,
    algorithm: String,
    digest: String,
}

fn read_statement(
    statement: Value,
    media_type: String,
    public_key_hint: Option<String>,
    signature_count: usize,
) -> Result<ParsedSignature, VerifyError> {
    match statement.get("predicateType") {
        Some(Value::String(t)) if t == PREDICATE_TYPE => {}
        Some(Value::String(t)) => return Err(VerifyError::PredicateType { found: t.clone() }),
        _ => {
            return Err(VerifyError::MalformedStatement {
                reason: "`predicateType` is missing or not a string".into(),
            });
        }
    }
    let parsed = StatementIn::deserialize(&statement)
        .map_err(|e| VerifyError::MalformedStatement { reason: e.to_string() })?;
    let [subject] = <[SubjectIn; 1]>::try_from(parsed.subject)
        .map_err(|subjects| VerifyError::SubjectCount { count: subjects.len() })?;
    let expected = subject.digest.get("sha256").and_then(|h| decode_digest(h)).ok_or_else(|| {
        VerifyError::MalformedStatement { reason: "subject digest.sha256 is not 64 hex digits".into() }
    })?;

    let s = parsed.predicate.serialization;
    if s.method != "files" {
        return Err(VerifyError::UnsupportedSerialization {
            reason: format!("method `{}`, expected `files`", s.method),
        });
    }
    if s.hash_type != "sha256" {
        return Err(VerifyError::UnsupportedSerialization {
            reason: format!("hash_type `{}`, expected `sha256`", s.hash_type),
        });
    }

    let mut resources = Vec::with_capacity(parsed.predicate.resources.len());
    let mut names = BTreeSet::new();
    for (index, r) in parsed.predicate.resources.into_iter().enumerate() {
        if r.algorithm != "sha256" {
            return Err(VerifyError::BadResource {
                index,
                name: r.name,
                reason: format!("algorithm `{}`, expected `sha256`", r.algorithm),
            });
        }
        let Some(digest) = decode_digest(&r.digest) else {
            return Err(VerifyError::BadResource {
                index,
                name: r.name,
                reason: "digest is not 64 hex digits".into(),
            });
        };
        if !names.insert(r.name.clone()) {
            return Err(VerifyError::DuplicateResource { path: r.name });
        }
        resources.push(Resource { name: r.name, digest });
    }
    let actual = digest_of(resources.iter().map(|r| &r.digest));
    if actual != expected {
        return Err(VerifyError::SubjectDigestMismatch {
            expected: hex::encode(expected),
            actual: hex::encode(actual),
        });
    }

    Ok(ParsedSignature {
        media_type,
        public_key_hint,
        signature_count,
        model_name: subject.name,
        subject_digest: expected,
        serialization: Serialization {
            method: s.method,
            hash_type: s.hash_type,
            allow_symlinks: s.allow_symlinks,
            ignore_paths: s.ignore_paths,
        },
        resources,
        statement,
    })
}

fn digest_of<'a>(digests: impl Iterator<Item = &'a [u8; 32]>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for d in digests {
        hasher.update(d);
    }
    hasher.finalize().into()
}

fn decode_digest(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// A normalized relative POSIX path: what model_signing writes (`PurePosixPath` of a relative path).
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.contains('\\') {
        return Err("backslash in path (use `/`)");
    }
    if path.contains('\0') {
        return Err("NUL byte in path");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component (`//` or a trailing `/`)"),
            "." | ".." => return Err("`.` or `..` path component"),
            _ => {}
        }
    }
    Ok(())
}

fn is_under(path: &str, ancestor: &str) -> bool {
    match path.strip_prefix(ancestor) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}
