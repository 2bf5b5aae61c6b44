//! Keyless (Sigstore) signatures: a Fulcio certificate binds an ephemeral key to an OIDC identity, and a
//! Rekor transparency-log entry records the signing event.
//!
//! Verification is offline: the certificate chain, its embedded SCT, the Rekor inclusion proof and
//! checkpoint (or signed entry timestamp), the DSSE signature and the statement's subject are all
//! checked against a *trusted root* (`trusted_root.json`, the Sigstore format), with no network call.
//! The default root is the Sigstore public-good instance's, as shipped in `sigstore-trust-root`
//! 0.15.1; a policy can name another file for a private instance or a fresher copy.
//!
//! Verification says *who* signed (the certificate's subject and OIDC issuer); whether that signer is
//! allowed is the caller's decision ([`Certified::matches`]), so that an audit can name an untrusted
//! signer instead of only refusing it.
//!
//! Signing needs the network (Fulcio for the certificate, Rekor for the log entry) and an OIDC identity
//! token; without either it fails with [`KeylessError::NoToken`] or [`KeylessError::Offline`], and
//! nothing is written. Keyless signatures are not deterministic: the key is ephemeral and the log
//! records a time.
//!
//! The cryptography is Sigstore's own Rust implementation (`sigstore-verify`, `sigstore-sign` from
//! sigstore/sigstore-rust), not a re-implementation.

use ferry_spec::policy::Identity;
use sigstore_verify::VerificationPolicy;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Bundle, Sha256Hash};
use std::path::Path;

/// The Sigstore public-good Fulcio URL, named in errors.
pub const PUBLIC_GOOD_FULCIO: &str = "https://fulcio.sigstore.dev";
/// The Sigstore public-good Rekor URL, named in errors.
pub const PUBLIC_GOOD_REKOR: &str = "https://rekor.sigstore.dev";

/// Why keyless verification or signing failed.
#[derive(Debug, thiserror::Error)]
pub enum KeylessError {
    /// The trusted root could not be read or is not a valid Sigstore trusted root.
    #[error("trusted root {origin}: {reason}")]
    TrustRoot {
        /// The file, or `sigstore public-good (built in)`.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The signature is not a sigstore bundle this crate can read.
    #[error("malformed sigstore bundle: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
    },
    /// The signature, certificate, SCT or transparency-log entry does not verify.
    #[error("keyless signature does not verify: {reason}")]
    Verify {
        /// The first check that failed.
        reason: String,
    },
    /// No OIDC identity token was given and none could be detected from the CI environment.
    #[error(
        "keyless signing needs an OIDC identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, or run \
         in a CI system with ambient OIDC credentials (GitHub Actions with `id-token: write`)"
    )]
    NoToken,
    /// The identity token is not a usable JWT.
    #[error("identity token: {reason}")]
    Token {
        /// What is wrong with it.
        reason: String,
    },
    /// Fulcio or Rekor could not be reached.
    #[error(
        "keyless signing needs the Sigstore services ({PUBLIC_GOOD_FULCIO}, {PUBLIC_GOOD_REKOR}), which could \
         not be reached: {reason}; sign with --key when offline"
    )]
    Offline {
        /// The transport error.
        reason: String,
    },
    /// A Sigstore service refused the request, or its answer did not verify.
    #[error("keyless signing failed: {reason}")]
    Sign {
        /// What the service or the check said.
        reason: String,
    },
}

/// The roots keyless signatures are checked against: Fulcio CAs, Rekor and CT log keys, TSAs.
pub struct TrustRoot {
    verifier: sigstore_verify::Verifier,
    origin: String,
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoot").field("origin", &self.origin).finish_non_exhaustive()
    }
}

impl TrustRoot {
    /// The Sigstore public-good instance's trusted root, built in (a snapshot taken when
    /// `sigstore-trust-root` 0.15.1 was released).
    pub fn public_good() -> Result<Self, KeylessError> {
        Self::from_json(
            sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT,
            "sigstore public-good (built in)",
        )
    }

    /// Reads a `trusted_root.json` file (`application/vnd.dev.sigstore.trustedroot+json`).
    pub fn from_file(path: &Path) -> Result<Self, KeylessError> {
        let origin = path.display().to_string();
        let text = ferry_spec::file::read_to_string(path, ferry_spec::file::SMALL_FILE_LIMIT)
            .map_err(|e| KeylessError::TrustRoot { origin: origin.clone(), reason: e.reason() })?;
        Self::from_json(&text, &origin)
    }

    /// Parses a trusted root; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, KeylessError> {
        let bad = |reason: String| KeylessError::TrustRoot { origin: origin.to_owned(), reason };
        let root = TrustedRoot::from_json(text).map_err(|e| bad(e.to_string()))?;
        let verifier = sigstore_verify::Verifier::new(&root).map_err(|e| bad(e.to_string()))?;
        Ok(Self { verifier, origin: origin.to_owned() })
    }

    /// Where the root came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Who made a keyless signature, as its verified certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    /// The certificate's subject alternative name: an e-mail address or a URI (for CI, the workflow).
    pub subject: String,
    /// The OIDC issuer that authenticated the signer.
    pub issuer: String,
    /// When the transparency log recorded the signature (RFC 3339), when it says.
    pub logged_at: Option<String>,
}

impl Certified {
    /// The index of the first identity in `allowed` that names this signer (issuer and subject equal).
    pub fn matches(&self, allowed: &[Identity]) -> Option<usize> {
        allowed.iter().position(|id| id.issuer == self.issuer && id.subject == self.subject)
    }
}

impl std::fmt::Display for Certified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (issuer {})", self.subject, self.issuer)
    }
}

/// Whether a sigstore bundle is keyless: its verification material is a certificate (or chain), not a
/// public-key hint. Unreadable bundles are not keyless.
pub fn is_keyless(bundle_json: &[u8]) -> bool {
    use sigstore_verify::types::bundle::VerificationMaterialContent as C;
    let Ok(text) = std::str::from_utf8(bundle_json) else { return false };
    match Bundle::from_json(text) {
        Ok(b) => {
            matches!(b.verification_material.content, C::Certificate(_) | C::X509CertificateChain { .. })
        }
        Err(_) => false,
    }
}

/// Verifies a keyless sigstore bundle holding a DSSE in-toto statement whose subject digest is
/// `subject_sha256` (for an OMS signature, SHA-256 over its resource digests; for an attestation, the
/// bundle manifest's digest), against `root`. Returns the signer, not yet authorized.
///
/// Checked, by `sigstore-verify`: the certificate chains to a Fulcio CA of the root and was valid when
/// the log recorded the signature; its SCT; the Rekor inclusion proof and signed checkpoint (or the
/// signed entry timestamp); that the log entry describes this envelope; the DSSE signature with the
/// certificate's key; and that the statement's subject is `subject_sha256`.
pub fn verify(
    bundle_json: &[u8],
    subject_sha256: &[u8; 32],
    root: &TrustRoot,
) -> Result<Certified, KeylessError> {
    let text = std::str::from_utf8(bundle_json)
        .map_err(|e| KeylessError::Malformed { reason: format!("not UTF-8: {e}") })?;
    let bundle = Bundle::from_json(text).map_err(|e| KeylessError::Malformed { reason: e.to_string() })?;
    if !is_keyless(bundle_json) {
        return Err(KeylessError::Malformed {
            reason: "the bundle carries a public-key hint, not a certificate: it was signed with a key"
                .into(),
        });
    }
    let digest = Sha256Hash::from_hex(&hex::encode(subject_sha256))
        .map_err(|e| KeylessError::Malformed { reason: e.to_string() })?;
    let result = root
        .verifier
        .verify(digest, &bundle, &VerificationPolicy::any_identity())
        .map_err(|e| KeylessError::Verify { reason: e.to_string() })?;
    if !result.certificate_verified() || !result.tlog_verified() {
        return Err(KeylessError::Verify {
            reason: "the certificate chain or the transparency-log entry was not checked".into(),
        });
    }
    let subject = result.identity().map(|s| s.as_str().to_owned()).ok_or_else(|| KeylessError::Verify {
        reason: "the certificate names no subject (no e-mail or URI subject alternative name)".into(),
    })?;
    let issuer = result
        .issuer()
        .map(str::to_owned)
        .ok_or_else(|| KeylessError::Verify { reason: "the certificate names no OIDC issuer".into() })?;
    let logged_at = result.integrated_time().or_else(|| result.verified_timestamps().first().copied());
    Ok(Certified { subject, issuer, logged_at: logged_at.map(|t| t.to_string()) })
}

#[cfg(feature = "sign")]
/// Signs an in-toto statement keylessly with the Sigstore public-good instance and returns the sigstore
/// bundle JSON (v0.3, DSSE, with the Fulcio certificate and the Rekor entry).
///
/// `identity_token` is an OIDC JWT; without one, an ambient CI token is looked for (GitHub Actions,
/// GitLab, Buildkite, CircleCI, GCP) and [`KeylessError::NoToken`] is returned when there is none.
pub fn sign_statement(statement: &[u8], identity_token: Option<&str>) -> Result<Vec<u8>, KeylessError> {
    use sigstore_sign::oidc::IdentityToken;
    use sigstore_sign::{SigningContext, SigstoreInstance};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KeylessError::Sign { reason: format!("cannot start the HTTP runtime: {e}") })?;
    runtime.block_on(async {
        let token = match identity_token {
            Some(jwt) => {
                IdentityToken::from_jwt(jwt).map_err(|e| KeylessError::Token { reason: e.to_string() })?
            }
            None => IdentityToken::detect_ambient()
                .await
                .map_err(|e| classify(&e, |reason| KeylessError::Token { reason }))?
                .ok_or(KeylessError::NoToken)?,
        };
        if token.is_expired() {
            return Err(KeylessError::Token { reason: "the token has expired".into() });
        }
        let context = SigningContext::from_embedded(SigstoreInstance::PublicGood)
            .map_err(|e| KeylessError::Sign { reason: e.to_string() })?;
        let bundle = context
            .signer(token)
            .sign_raw_statement(statement)
            .await
            .map_err(|e| classify(&e, |reason| KeylessError::Sign { reason }))?;
        let json = bundle.to_json().map_err(|e| KeylessError::Sign { reason: e.to_string() })?;
        Ok(json.into_bytes())
    })
}

#[cfg(feature = "sign")]
/// A transport failure anywhere in the error's chain means the services were unreachable.
fn classify(
    error: &(dyn std::error::Error + 'static),
    other: impl FnOnce(String) -> KeylessError,
) -> KeylessError {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<sigstore_sign::reqwest::Error>()
            && (http.is_connect() || http.is_timeout() || http.is_request())
        {
            return KeylessError::Offline { reason: chain(error) };
        }
        source = e.source();
    }
    // The Sigstore clients keep some transport errors only as text.
    let text = chain(error);
    let transport =
        ["error sending request", "dns error", "connection refused", "timed out", "network is unreachable"];
    if transport.iter().any(|t| text.to_ascii_lowercase().contains(t)) {
        return KeylessError::Offline { reason: text };
    }
    other(text)
}

#[cfg(feature = "sign")]
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}
