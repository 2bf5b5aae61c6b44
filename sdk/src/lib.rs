//! Ferry: deterministic, signed, portable model bundles.
//!
//! This crate is the one dependency a host service needs. It re-exports the runtime (open a bundle,
//! check it, run it), the packager and the bundle reader; the `ferry` command-line tool is built on
//! exactly these calls.
//!
//! ```no_run
//! use ferry::runtime::{Runtime, RuntimeOptions, OpenOptions};
//! let runtime = Runtime::new(RuntimeOptions::default())?;
//! let model = runtime.open(std::path::Path::new("credit-risk.ferry"), &OpenOptions::default())?;
//! println!("{} inputs", model.manifest().inputs.len());
//! # Ok::<(), ferry::runtime::RuntimeError>(())
//! ```

pub use ferry_bundle as bundle;
pub use ferry_packager as packager;
pub use ferry_runtime as runtime;
pub use ferry_spec as spec;
pub use ferry_tensor as tensor;
pub use ferry_verifier as verifier;

use std::path::Path;
use std::sync::Arc;

/// Why a policy's `[trust]` table could not be turned into a runtime check.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Key(#[from] ferry_trust::TrustError),
}

/// Reads a policy file (`release.toml`): its checks for the verifier and its `[trust]` table.
pub fn load_policy(path: &Path) -> Result<spec::policy::Policy, PolicyLoadError> {
    let text = spec::file::read_to_string(path, spec::file::SMALL_FILE_LIMIT)
        .map_err(|e| PolicyLoadError::Read { path: path.display().to_string(), message: e.reason() })?;
    spec::policy::Policy::from_toml_str(&text)
        .map_err(|e| PolicyLoadError::Read { path: path.display().to_string(), message: e.to_string() })
}

/// The runtime check that enforces a policy's `[trust]` table: the runtime then refuses to open a bundle
/// without the required signatures (and attestation), naming the rule. Key paths are relative to
/// `policy_dir`.
pub fn trust_check(
    trust: &spec::policy::Trust,
    policy_dir: &Path,
) -> Result<Arc<dyn runtime::BundleCheck>, PolicyLoadError> {
    let anchors = ferry_trust::anchors(trust, policy_dir)?;
    Ok(Arc::new(TrustCheck { trust: trust.clone(), anchors }))
}

struct TrustCheck {
    trust: spec::policy::Trust,
    anchors: ferry_trust::Anchors,
}

impl runtime::BundleCheck for TrustCheck {
    fn name(&self) -> &str {
        "trust"
    }

    fn check(&self, bundle: &bundle::Bundle) -> Result<(), String> {
        ferry_trust::check(bundle, &self.trust, &self.anchors).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The `artifact.signature` check of `ferry verify`: every `--key` must have made a valid OMS signature
/// over the bundle's exact file view, and the policy's `[trust]` table (keys relative to `policy_dir`)
/// must be satisfied.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// Where the policy file lives; its `[trust]` key paths are relative to it.
    pub policy_dir: std::path::PathBuf,
}

impl verifier::SignatureCheck for SignatureCheck {
    fn check(
        &self,
        bundle: &bundle::Bundle,
        _trust: &spec::policy::Trust,
        keys: &[std::path::PathBuf],
    ) -> verifier::Outcome {
        use verifier::Outcome;
        if keys.is_empty() {
            let n = bundle.referrers().len();
            return Outcome::skipped(format!(
                "skipped: no --key given ({n} signature(s) and attestation(s) present)"
            ));
        }
        let loaded = match load_keys(keys) {
            Ok(k) => k,
            Err(o) => return o,
        };
        let found = ferry_trust::inspect(bundle, &ferry_trust::Anchors::keys(loaded));
        let evidence = trust_evidence(&found, keys);
        for (i, path) in keys.iter().enumerate() {
            let signed =
                found.iter().any(|f| f.kind == ferry_trust::Kind::Signature && f.verified_by == Some(i));
            if !signed {
                return Outcome::failed(
                    format!("no valid signature by {} over this bundle's files", path.display()),
                    evidence,
                );
            }
        }
        Outcome::passed(format!("every given key ({}) signed this bundle's files", keys.len()))
            .with_evidence(evidence)
    }

    fn trust(&self, bundle: &bundle::Bundle, trust: &spec::policy::Trust) -> verifier::Outcome {
        use verifier::Outcome;
        let paths: Vec<std::path::PathBuf> = trust.keys.iter().map(|k| self.policy_dir.join(k)).collect();
        let anchors = match ferry_trust::anchors(trust, &self.policy_dir) {
            Ok(a) => a,
            Err(e) => {
                return Outcome::failed(
                    format!("cannot load the [trust] table: {e}"),
                    vec![verifier::Evidence::Error { message: e.to_string() }],
                );
            }
        };
        match ferry_trust::check(bundle, trust, &anchors) {
            Ok(found) => Outcome::passed("the [trust] table is satisfied")
                .with_evidence(trust_evidence(&found, &paths)),
            Err(e) => Outcome::failed(
                e.to_string(),
                trust_evidence(&ferry_trust::inspect(bundle, &anchors), &paths),
            ),
        }
    }
}

fn load_keys(paths: &[std::path::PathBuf]) -> Result<Vec<ferry_sign::VerifyingKey>, verifier::Outcome> {
    paths.iter().map(|p| ferry_trust::load_public_key(p)).collect::<Result<Vec<_>, _>>().map_err(|e| {
        verifier::Outcome::failed(
            format!("cannot load key: {e}"),
            vec![verifier::Evidence::Error { message: e.to_string() }],
        )
    })
}

/// One line of evidence per signature or attestation: who signed it and whether it verified.
fn trust_evidence(found: &[ferry_trust::Found], keys: &[std::path::PathBuf]) -> Vec<verifier::Evidence> {
    found
        .iter()
        .map(|f| {
            let who = match (&f.key_hint, &f.signer) {
                (Some(hint), _) => format!("key {hint}"),
                (None, Some(signer)) => format!("keyless signer {signer}"),
                (None, None) => "keyless signer".to_owned(),
            };
            let kind = f.kind.name();
            let message = match (f.verified_by, f.verified_identity, &f.error) {
                (Some(i), _, _) => format!(
                    "{kind}: verified with {}",
                    keys.get(i).map(|p| p.display().to_string()).unwrap_or_default()
                ),
                (None, Some(i), _) => format!("{kind}: verified, trust.identities[{i}]"),
                (None, None, Some(e)) => format!("{kind}: {e}"),
                (None, None, None) => format!("{kind}: nothing to check it against"),
            };
            // A signature examined is evidence of kind `signature`, verified or not: not an `error`.
            verifier::Evidence::Signature { signer: Some(who), referrer: Some(f.digest.clone()), message }
        })
        .collect()
}
