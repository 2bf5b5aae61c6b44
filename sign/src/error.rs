//! Error types. Each failure a caller may want to tell apart has its own variant.

/// Loading, generating or encoding a key failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text holds no PEM block at all.
    #[error("no PEM block found in the {kind} key text")]
    NotPem {
        /// `private` or `public`.
        kind: &'static str,
    },
    /// The PEM block has a label this crate does not read.
    #[error("unsupported PEM label `{label}` for a {kind} key")]
    UnsupportedLabel {
        /// The label found after `-----BEGIN `.
        label: String,
        /// `private` or `public`.
        kind: &'static str,
    },
    /// The private key is encrypted and no passphrase was given.
    #[error("the private key `{label}` is encrypted: a passphrase is required")]
    PassphraseRequired {
        /// The PEM label of the encrypted key.
        label: String,
    },
    /// Decryption failed: the passphrase is wrong or the key is corrupt.
    #[error("cannot decrypt the private key `{label}`: wrong passphrase or corrupt key")]
    Decrypt {
        /// The PEM label of the encrypted key.
        label: String,
    },
    /// The key encryption scheme is not one this crate supports.
    #[error("unsupported private key encryption in `{label}`: {reason}")]
    UnsupportedEncryption {
        /// The PEM label of the encrypted key.
        label: String,
        /// What is unsupported.
        reason: String,
    },
    /// The key bytes do not decode to an ECDSA P-256 key.
    #[error("malformed {kind} key: {reason}")]
    Malformed {
        /// `private` or `public`.
        kind: &'static str,
        /// What the decoder reported (wrong curve, bad DER, bad PEM...).
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed: {reason}")]
    Rng {
        /// The error from the OS.
        reason: String,
    },
    /// Encoding the private key (possibly encrypted) failed.
    #[error("cannot encode the private key: {reason}")]
    Encode {
        /// What the encoder reported.
        reason: String,
    },
}

/// Signing failed: the input cannot be turned into a valid signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The file view is empty: a signature over nothing proves nothing.
    #[error("the file view is empty: nothing to sign")]
    NoFiles,
    /// A path is not a normalized relative POSIX path.
    #[error("invalid path `{path}` in the file view: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The same path appears twice in the file view.
    #[error("duplicate path `{path}` in the file view")]
    DuplicatePath {
        /// The repeated path.
        path: String,
    },
    /// A path lies under one of the signature's `ignore_paths`: a verifier honouring them would skip it.
    #[error("path `{path}` lies under the ignored path `{ignored}`: model_signing verifiers would skip it")]
    IgnoredPath {
        /// The file view path.
        path: String,
        /// The ignore path it falls under.
        ignored: String,
    },
    /// An ignore path is not a normalized relative POSIX path.
    #[error("invalid ignore path `{path}`: {reason}")]
    InvalidIgnorePath {
        /// The offending ignore path.
        path: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The statement given to `sign_statement` is not an in-toto v1 statement.
    #[error("invalid in-toto statement: {reason}")]
    InvalidStatement {
        /// What is wrong with it.
        reason: String,
    },
    /// JSON encoding failed.
    #[error("cannot encode JSON: {reason}")]
    Json {
        /// The serializer's message.
        reason: String,
    },
}

/// Reading or verifying a signature failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bundle is not valid JSON or lacks required fields.
    #[error("malformed sigstore bundle JSON: {reason}")]
    MalformedBundle {
        /// The parser's message (with line and column).
        reason: String,
    },
    /// The bundle's `mediaType` is not a sigstore bundle v0.3.
    #[error("unsupported sigstore bundle mediaType `{media_type}`")]
    UnsupportedMediaType {
        /// The media type found.
        media_type: String,
    },
    /// The bundle holds no `dsseEnvelope` (e.g. a `messageSignature` bundle).
    #[error("the sigstore bundle holds no dsseEnvelope")]
    MissingEnvelope,
    /// A base64 field does not decode.
    #[error("field `{field}` is not valid base64")]
    Base64 {
        /// The JSON path of the field.
        field: String,
    },
    /// The envelope has no signatures.
    #[error("the DSSE envelope has no signatures")]
    NoSignatures,
    /// The bundle's public key hint names another key than the one given.
    #[error("key mismatch: the signature's publicKey.hint is {bundle_hint}, the given key's is {key_hint}")]
    KeyMismatch {
        /// The hint in the bundle.
        bundle_hint: String,
        /// The hint of the given key (hex SHA-256 of its SPKI PEM).
        key_hint: String,
    },
    /// No signature in the envelope verifies with the given key over the DSSE PAE.
    #[error("no DSSE signature verifies with the given key")]
    BadSignature,
    /// The envelope's payloadType is not in-toto JSON.
    #[error("unexpected DSSE payloadType `{found}`, expected application/vnd.in-toto+json")]
    PayloadType {
        /// The payload type found.
        found: String,
    },
    /// The payload is not a well-formed statement.
    #[error("malformed in-toto statement: {reason}")]
    MalformedStatement {
        /// What is wrong.
        reason: String,
    },
    /// The statement's `_type` is not in-toto Statement v1.
    #[error("unexpected statement _type `{found}`, expected https://in-toto.io/Statement/v1")]
    StatementType {
        /// The `_type` found.
        found: String,
    },
    /// The predicate type is not OMS v1.0.
    #[error("unexpected predicateType `{found}`, expected https://model_signing/signature/v1.0")]
    PredicateType {
        /// The predicate type found.
        found: String,
    },
    /// The statement does not have exactly one subject.
    #[error("expected exactly one subject, found {count}")]
    SubjectCount {
        /// The number of subjects found.
        count: usize,
    },
    /// The serialization method or hash is not `files` with `sha256`.
    #[error("unsupported serialization: {reason}")]
    UnsupportedSerialization {
        /// What is unsupported.
        reason: String,
    },
    /// A resource entry is malformed (bad algorithm, bad digest hex).
    #[error("malformed resource #{index} `{name}`: {reason}")]
    BadResource {
        /// Position in `predicate.resources`.
        index: usize,
        /// The resource name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two resources share a name.
    #[error("duplicate resource `{path}` in the signature")]
    DuplicateResource {
        /// The repeated name.
        path: String,
    },
    /// The subject digest does not match the resource digests.
    #[error("subject digest mismatch: the statement says {expected}, the resources hash to {actual}")]
    SubjectDigestMismatch {
        /// Hex digest recorded in the subject.
        expected: String,
        /// Hex digest computed over the resources.
        actual: String,
    },
    /// The same path appears twice in the file view given to `verify`.
    #[error("duplicate path `{path}` in the file view")]
    DuplicateFile {
        /// The repeated path.
        path: String,
    },
    /// A signed file is absent from the file view.
    #[error("file `{path}` is signed but missing from the file view")]
    MissingFile {
        /// The signed path.
        path: String,
    },
    /// A file in the file view is not covered by the signature.
    #[error("file `{path}` is in the file view but not signed")]
    UnsignedFile {
        /// The unsigned path.
        path: String,
    },
    /// A file's digest differs from the signed digest.
    #[error("digest mismatch for `{path}`: signed {signed}, actual {actual}")]
    DigestMismatch {
        /// The path.
        path: String,
        /// Hex digest in the signature.
        signed: String,
        /// Hex digest in the file view.
        actual: String,
    },
}
