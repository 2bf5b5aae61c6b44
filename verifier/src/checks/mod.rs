//! The verification [`Context`], which runs the checks in [`CheckId::ALL`] order and holds what they share,
//! and the small helpers every check family uses (evidence constructors, `plural`, `summarize_cases`,
//! `read_values`). Each family of checks lives in its own file, as methods on [`Context`]:
//!
//! - `artifact.rs`: `artifact.format`, `artifact.layout`, `artifact.digest`, `artifact.pins`,
//!   `artifact.signature`, `artifact.trust`;
//! - `contract.rs`: `contract.model-io`, `contract.config-schema`, `contract.golden-inputs`;
//! - `data.rs`: `contract.data`;
//! - `golden.rs`: `golden.outputs`, `perf.latency`;
//! - `rebuild.rs`: `rebuild.identical`;
//! - `drift.rs`: `drift.features`, `drift.predictions`.

mod artifact;
mod contract;
pub(crate) mod data;
pub(crate) mod drift;
mod golden;
pub(crate) mod rebuild;
mod transform;

use crate::{Case, Evidence, Outcome, Status, VerifyOptions};
use data::DataFile;
use ferry_bundle::{Bundle, BundleError};
use ferry_onnx::ModelInfo;
use ferry_runtime::{Model, Runtime};
use ferry_spec::policy::{CheckId, Level};
use ferry_spec::{GoldenFile, TensorSpec};
use ferry_tensor::{Format, ValueMap};
use std::collections::BTreeSet;
use std::path::Path;

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    ferry_bundle::digest::Sha256Digest::of(bytes).to_string()
}

/// State shared by the checks of one verification, filled in as they run (in [`CheckId::ALL`] order).
pub(crate) struct Context<'a> {
    path: &'a Path,
    options: &'a VerifyOptions,
    bundle: Result<Bundle, BundleError>,
    /// The check that reports why the bundle could not be opened.
    open_owner: Option<CheckId>,
    /// Files of the file view whose bytes do not match the manifest (set by `artifact.digest`).
    tampered: Option<BTreeSet<String>>,
    model_info: Option<Result<ModelInfo, String>>,
    runtime: Option<Result<Runtime, String>>,
    model: Option<Result<Model, String>>,
    data: Option<DataFile>,
    /// The `--data` sample compared with the reference profile, once for both drift checks.
    drift: Option<Result<drift::DriftReport, String>>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        path: &'a Path,
        options: &'a VerifyOptions,
        bundle: Result<Bundle, BundleError>,
        data: Option<DataFile>,
    ) -> Context<'a> {
        let open_owner = bundle.as_ref().err().map(owner_of);
        Context {
            path,
            options,
            bundle,
            open_owner,
            tampered: None,
            model_info: None,
            runtime: None,
            model: None,
            data,
            drift: None,
        }
    }

    /// The opened bundle, if it could be opened.
    pub(crate) fn bundle(&self) -> Option<&Bundle> {
        self.bundle.as_ref().ok()
    }

    /// The policy's level, except that the check owning an open failure is always required: a policy may
    /// waive a check, not make an unreadable bundle pass.
    pub(crate) fn level(&self, id: CheckId) -> Level {
        if self.open_owner == Some(id) { Level::Required } else { self.options.policy.level(id) }
    }

    pub(crate) fn run(&mut self, id: CheckId) -> Outcome {
        match id {
            CheckId::ArtifactFormat => self.artifact_format(),
            CheckId::ArtifactLayout => self.artifact_layout(),
            CheckId::ArtifactDigest => self.artifact_digest(),
            CheckId::ArtifactPins => self.artifact_pins(),
            CheckId::ArtifactSignature => self.artifact_signature(),
            CheckId::ArtifactTrust => self.artifact_trust(),
            CheckId::ArtifactTransform => self.artifact_transform(),
            CheckId::ContractModelIo => self.contract_model_io(),
            CheckId::ContractConfigSchema => self.contract_config_schema(),
            CheckId::ContractGoldenInputs => self.contract_golden_inputs(),
            CheckId::ContractRecords => self.contract_records(),
            CheckId::ContractData => self.contract_data(),
            CheckId::GoldenOutputs => self.golden_outputs(),
            CheckId::PerfLatency => self.perf_latency(),
            CheckId::RebuildIdentical => {
                rebuild::check(self.path, self.bundle(), self.options.rebuild.as_deref())
            }
            CheckId::DriftFeatures => self.drift_features(),
            CheckId::DriftPredictions => self.drift_predictions(),
        }
    }

    /// The bundle, or the outcome of a check that needs it when it could not be opened.
    fn need_bundle(&self, id: CheckId) -> Result<&Bundle, Outcome> {
        match &self.bundle {
            Ok(b) => Ok(b),
            Err(e) if self.open_owner == Some(id) => {
                Err(Outcome::failed(format!("the bundle could not be opened: {e}"), open_evidence(e)))
            }
            Err(_) => Err(Outcome::skipped(format!(
                "skipped: the bundle could not be opened (see {})",
                self.open_owner.map_or("artifact.layout", CheckId::as_str)
            ))),
        }
    }

    /// The bundle for a check that reads its content: refused while `artifact.digest` found tampered files.
    fn need_content(&self, id: CheckId) -> Result<&Bundle, Outcome> {
        let b = self.need_bundle(id)?;
        match &self.tampered {
            Some(t) if !t.is_empty() => Err(Outcome::skipped(format!(
                "skipped: artifact.digest failed ({}), so the bundle's content cannot be trusted",
                t.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
            ))),
            _ => Ok(b),
        }
    }

    fn entrypoint(&self) -> String {
        self.bundle().map(|b| b.manifest().entrypoint.clone()).unwrap_or_default()
    }

    fn is_tampered(&self, file: &str) -> bool {
        self.tampered.as_ref().is_some_and(|t| t.contains(file))
    }

    fn model_info(&mut self) -> Result<&ModelInfo, &String> {
        if self.model_info.is_none() {
            let info = match self.bundle() {
                Some(b) => {
                    let entry = &b.manifest().entrypoint;
                    b.file(entry).map_err(|e| e.to_string()).and_then(|bytes| {
                        ferry_onnx::read_model(&bytes).map_err(|e| format!("`{entry}`: {e}"))
                    })
                }
                None => Err("the bundle could not be opened".to_owned()),
            };
            self.model_info = Some(info);
        }
        match &self.model_info {
            Some(Ok(i)) => Ok(i),
            Some(Err(e)) => Err(e),
            None => Err(&NOT_READ),
        }
    }

    /// Where the model ran: the runtime's device, when it was loaded.
    pub fn device_summary(&self) -> Option<crate::report::DeviceSummary> {
        // The model's own device when it opened (a bundle's [devices] may keep it off a GPU under auto).
        let d = match (&self.model, &self.runtime) {
            (Some(Ok(model)), _) => model.device(),
            (_, Some(Ok(rt))) => rt.device(),
            _ => return None,
        };
        Some(crate::report::DeviceSummary { id: d.id(), name: d.describe(), fallback: d.fallback.clone() })
    }

    /// ONNX Runtime, loaded on first use.
    fn runtime(&mut self) -> Result<&Runtime, String> {
        if self.runtime.is_none() {
            let rt = Runtime::new(self.options.runtime.clone())
                .map_err(|e| format!("ONNX Runtime could not be loaded: {e}"));
            self.runtime = Some(rt);
        }
        match &self.runtime {
            Some(Ok(rt)) => Ok(rt),
            Some(Err(e)) => Err(e.clone()),
            None => Err("ONNX Runtime could not be loaded".into()),
        }
    }
}

static NOT_READ: String = String::new();

fn owner_of(e: &BundleError) -> CheckId {
    match e {
        BundleError::FormatVersion { .. } => CheckId::ArtifactFormat,
        BundleError::Json { what, .. } if what == "the Ferry manifest" => CheckId::ArtifactFormat,
        BundleError::FileView(_) => CheckId::ArtifactFormat,
        // A compressed blob that is not exactly one frame of its declared size fails the check of
        // compressed files against their uncompressed digest, whether found on open or when hashing.
        BundleError::Digest { .. } | BundleError::Decompress { .. } | BundleError::TooLarge { .. } => {
            CheckId::ArtifactDigest
        }
        _ => CheckId::ArtifactLayout,
    }
}

fn open_evidence(e: &BundleError) -> Vec<Evidence> {
    vec![match e {
        BundleError::FormatVersion { found, supported } => {
            Evidence::FormatVersion { found: u64::from(*found), supported: *supported }
        }
        BundleError::Json { member, what, message } if what == "the Ferry manifest" => {
            schema_ev("manifest", "", "schema", format!("{member}: {message}"))
        }
        BundleError::FileView(e) => schema_ev("manifest", "/files", "path", e.to_string()),
        BundleError::Json { member, what, message } => Evidence::Member {
            member: member.clone(),
            message: format!("not valid JSON for {what}: {message}"),
        },
        // Which metadata blob failed is in the check's message; the blob is named by its digest.
        BundleError::Digest { expected, actual, .. } => Evidence::Digest {
            file: None,
            blob: expected.clone(),
            expected: expected.clone(),
            actual: actual.clone(),
        },
        BundleError::Missing(m) => Evidence::Member { member: m.clone(), message: "missing".into() },
        BundleError::Unexpected(m) => {
            Evidence::Member { member: m.clone(), message: "unexpected: no manifest refers to it".into() }
        }
        BundleError::Tar { offset, message } => {
            Evidence::Member { member: format!("tar header at byte {offset}"), message: message.clone() }
        }
        BundleError::TrailingData { offset, marker } => Evidence::Member {
            member: format!("byte {offset}"),
            message: format!("non-zero data after the end-of-archive marker at byte {marker}"),
        },
        BundleError::Truncated { offset, what } => Evidence::Member {
            member: format!("byte {offset}"),
            message: format!("truncated: expected {what}"),
        },
        other => Evidence::Error { message: other.to_string() },
    }]
}

fn schema_ev(document: &str, pointer: &str, rule: &str, message: String) -> Evidence {
    Evidence::Schema { document: document.into(), pointer: pointer.into(), rule: rule.into(), message }
}

/// The plural ending of a count's noun: `""` for 1, `"s"` otherwise. The crate's one such helper (the
/// renderings use it too); a verb agreeing with the count is chosen beside it.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Reads one side of a golden set from the bundle, by the contract's one tensor-file rule
/// ([`ferry_contract::files`]: a lone `.npy` stands for the single declared tensor; a golden file of both
/// sides gives the side's object), as the packager reads it.
fn read_values(b: &Bundle, file: GoldenFile<'_>, specs: &[TensorSpec]) -> Result<ValueMap, String> {
    let path = file.path;
    let bytes = b.file(path).map_err(|e| e.to_string())?;
    if Format::from_path(Path::new(path)).is_none() {
        return Err(format!("`{path}`: not a tensor file (expected .npy, .npz, .safetensors or .json)"));
    }
    let max = ferry_contract::DEFAULT_MAX_ELEMENTS;
    ferry_contract::files::read_golden_values(&bytes, file, specs, max).map_err(|e| e.to_string())
}

/// A check's outcome from its cases: failed if any case failed. `verb` is what passing cases do, for one
/// case and for several (`["reproduces its outputs", "reproduce their outputs"]`).
fn summarize_cases(cases: Vec<Case>, what: &str, verb: [&str; 2]) -> Outcome {
    let failed: Vec<&str> =
        cases.iter().filter(|c| c.status == Status::Failed).map(|c| c.name.as_str()).collect();
    let n = cases.len();
    let outcome = if failed.is_empty() {
        let verb = if n == 1 { verb[0] } else { verb[1] };
        Outcome::passed(format!("{n} {what}{} {verb}", plural(n)))
    } else {
        let names: Vec<String> = failed.iter().map(|f| format!("`{f}`")).collect();
        Outcome::failed(
            format!("{} of {n} {what}{} failed: {}", failed.len(), plural(n), names.join(", ")),
            Vec::new(),
        )
    };
    outcome.with_cases(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, status: Status) -> Case {
        Case { name: name.into(), status, message: String::new(), evidence: Vec::new() }
    }

    #[test]
    fn case_summaries_agree_with_their_count() {
        let verb = ["reproduces its outputs", "reproduce their outputs"];
        let summary = |cases: Vec<Case>| summarize_cases(cases, "golden set", verb).message;
        assert_eq!(summary(vec![case("a", Status::Passed)]), "1 golden set reproduces its outputs");
        assert_eq!(
            summary(vec![case("a", Status::Passed), case("b", Status::Passed)]),
            "2 golden sets reproduce their outputs"
        );
        assert_eq!(summary(vec![case("a", Status::Failed)]), "1 of 1 golden set failed: `a`");
        assert_eq!(
            summary(vec![case("a", Status::Passed), case("b", Status::Failed)]),
            "1 of 2 golden sets failed: `b`"
        );
    }
}
