//! Ferry: deterministic, signed, portable model bundles.
//!
//! This crate is the one dependency a host service needs. It re-exports the runtime (open a bundle,
//! check it, run it), the packager and the bundle reader; the `ferry` command-line tool is built on
//! exactly these calls.
//!
//! ```no_run
//! use ferry::runtime::{Runtime, RuntimeOptions, OpenOptions};
//! let runtime = Runtime::new(RuntimeOptions::default())?;
//! let model = runtime.open(std::path::Path::new("credit-risk.ferry"), OpenOptions::default())?;
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
    let text = std::fs::read_to_string(path)
        .map_err(|e| PolicyLoadError::Read { path: path.display().to_string(), message: e.to_string() })?;
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
    let keys = trust
        .keys
        .iter()
        .map(|k| ferry_trust::load_public_key(&policy_dir.join(k)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(TrustCheck { trust: trust.clone(), keys }))
}

struct TrustCheck {
    trust: spec::policy::Trust,
    keys: Vec<ferry_sign::VerifyingKey>,
}

impl runtime::BundleCheck for TrustCheck {
    fn name(&self) -> &str {
        "trust"
    }

    fn check(&self, bundle: &bundle::Bundle) -> Result<(), String> {
        ferry_trust::check(bundle, &self.trust, &self.keys).map(|_| ()).map_err(|e| e.to_string())
    }
}
