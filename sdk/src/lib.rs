//! Ferry: deterministic, signed, portable model bundles.
//!
//! This crate is the one dependency a host service needs: open a bundle (digests, format version, pins
//! and a trust policy checked), run it with every request held to its data contract, verify it as CI
//! does, and check who signed it. It carries no command line: the `ferry` binary (package `ferry-cli`)
//! is argument parsing and printing over exactly these calls.
//!
//! Keyless (Sigstore) signatures are *verified* with the default features. Keyless *signing* needs an
//! HTTP client and an async runtime and sits behind the `keyless-sign` feature, which the CLI turns on.
//!
//! # Open, run, handle errors, require signatures
//!
//! ```
//! use ferry::runtime::{OpenOptions, Runtime, RuntimeError, RuntimeOptions, TrustPolicy};
//! use ferry::tensor::{Tensor, TensorData, TensorMap};
//! use std::path::Path;
//!
//! # let dir = tempfile::tempdir()?;
//! # let bundle = dir.path().join("credit-risk.ferry");
//! # ferry::packager::pack(Path::new("../fixtures/credit-risk"), &bundle)?;
//! // A runtime is cheap to share; open each bundle once and score from many threads.
//! let runtime = Runtime::new(RuntimeOptions::default())?;
//! let model = runtime.open(&bundle, &OpenOptions::default())?;
//!
//! // One applicant, 14 features, as the bundle's contract declares.
//! let row = vec![35.0, 60000.0, 0.3, 0.4, 5.0, 0.0, 24.0, 15000.0, 36.0, 6.0, 1.0, 1.0, 1.0, 8000.0];
//! let request = TensorMap::from([("features".to_owned(), Tensor::new(vec![1, 14], TensorData::F32(row))?)]);
//! let scores = model.infer(&request)?;
//! assert!(scores.contains_key("probability"));
//!
//! // A request that breaks the contract never reaches ONNX Runtime: it comes back as a typed error
//! // naming the tensor and the feature.
//! let mut bad = vec![35.0_f32; 14];
//! bad[0] = -1.0; // age below its declared minimum
//! let request = TensorMap::from([("features".to_owned(), Tensor::new(vec![1, 14], TensorData::F32(bad))?)]);
//! match model.infer(&request) {
//!     Err(RuntimeError::Contract(e)) => assert!(e.to_string().contains("age")),
//!     other => panic!("expected a contract error, got {other:?}"),
//! }
//!
//! // A trust policy (a release policy's `[trust]` table) makes `open` refuse a bundle that lacks the
//! // signatures it requires. This bundle is unsigned, so it is refused, naming the rule.
//! # let keys = dir.path();
//! # let (_, public) = ferry::sign::keygen(None)?;
//! # std::fs::write(keys.join("signer.pub"), public.as_str())?;
//! # std::fs::write(keys.join("release.toml"), "[trust]\nkeys = [\"signer.pub\"]\nmin_signatures = 1\n")?;
//! let policy = ferry::load_policy(&keys.join("release.toml"))?;
//! let trust = TrustPolicy::default().require(ferry::trust_check(&policy.trust, keys)?);
//! let strict = Runtime::new(RuntimeOptions { trust, ..RuntimeOptions::default() })?;
//! match strict.open(&bundle, &OpenOptions::default()) {
//!     Err(RuntimeError::Untrusted { reason, .. }) => assert!(reason.contains("min_signatures")),
//!     other => panic!("expected the bundle to be refused, got {:?}", other.map(|_| ())),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod audit;

pub use ferry_bundle as bundle;
pub use ferry_packager as packager;
pub use ferry_runtime as runtime;
pub use ferry_sign as sign;
pub use ferry_spec as spec;
pub use ferry_tensor as tensor;
pub use ferry_trust as trust;
pub use ferry_verifier as verifier;

use std::path::Path;
use std::sync::Arc;

/// Scaffolds a bundle source for `model` in `dir` ([`packager::init_with`], which `ferry init` runs):
/// with a sample ([`packager::InitOptions::sample`]), the golden set made from its first rows gets its
/// expected outputs from ONNX Runtime, through a bundle of the scaffolded source.
pub fn init(model: &Path, dir: &Path, options: &packager::InitOptions) -> Result<(), packager::PackError> {
    let reference = |bundle: &Path, inputs: &tensor::TensorMap| -> Result<tensor::ValueMap, String> {
        let rt = runtime::Runtime::new(runtime::RuntimeOptions::default()).map_err(|e| e.to_string())?;
        let model = rt.open(bundle, &runtime::OpenOptions::default()).map_err(|e| e.to_string())?;
        let inputs = tensor::values_from_tensors(inputs.clone());
        model.infer_values(&inputs).map_err(|e| e.to_string())
    };
    packager::init_with(model, dir, options, Some(&reference))
}

/// Packs the source in `src` into `out` ([`packager::pack_with`], which `ferry pack` runs). A
/// reference sample (`[reference] data`, or `reference` from outside the source) is profiled, the
/// model's outputs on it from ONNX Runtime, which is loaded only then, with `runtime`'s options.
pub fn pack(
    src: &Path,
    out: &Path,
    reference: Option<&Path>,
    runtime: &runtime::RuntimeOptions,
) -> Result<packager::Packed, packager::PackError> {
    let runner =
        |m: &packager::SourceModel<'_>, batch: &tensor::TensorMap| -> Result<tensor::TensorMap, String> {
            let rt = runtime::Runtime::new(runtime.clone()).map_err(|e| e.to_string())?;
            rt.run_onnx(m.onnx.clone(), m.external.clone(), m.inputs.to_vec(), m.outputs.to_vec(), batch)
                .map_err(|e| e.to_string())
        };
    let options =
        packager::PackOptions { reference: reference.map(Path::to_path_buf), runner: Some(&runner) };
    packager::pack_with(src, out, &options)
}

/// Why a policy's `[trust]` table could not be turned into a runtime check.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    /// The policy file could not be read or is not a valid policy.
    #[error("{path}: {message}")]
    Read {
        /// The policy file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A key the `[trust]` table names could not be loaded.
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
