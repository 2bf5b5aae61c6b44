//! The Ferry check suite: proves a bundle is intact, that its contract matches its model and that it still
//! produces its golden outputs, and renders the verdict for people and CI systems.
//!
//! ```no_run
//! use ferry_verifier::{Format, VerifyOptions, render, verify};
//! let report = verify("credit-risk.ferry".as_ref(), &VerifyOptions::default())?;
//! print!("{}", render(&report, Format::Human));
//! std::process::exit(i32::from(report.exit_code));
//! # Ok::<(), ferry_verifier::VerifyError>(())
//! ```
//!
//! Every check has a stable ID ([`CheckId`]), a level from the [`Policy`] (required, warn, skip) and a
//! result with structured [`Evidence`]. A bundle that cannot even be opened is still *verified*: the
//! check that owns the failure (`artifact.layout`, `artifact.format` or `artifact.digest`) fails with the
//! error as evidence and the checks that need an opened bundle are skipped. [`VerifyError`] (exit code 2)
//! is kept for what is not the bundle's fault: a missing or unreadable file, a bad policy or option.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod checks;
mod render;
mod report;

pub use checks::drift::{DriftReport, drift};
pub use ferry_spec::policy::{CheckId, Level, Policy};
pub use render::{Format, github_step_summary, render, write_atomic};
pub use report::{
    BundleSummary, Case, CheckResult, CheckTimings, DeviceSummary, Evidence, LatencyTiming, MovedBucket, Num,
    PolicySummary, REPORT_VERSION, Report, ReportTimings, Severity, Status, Summary, Tool, report_schema,
};

use ferry_bundle::{Bundle, BundleError};
use ferry_runtime::RuntimeOptions;
use ferry_spec::policy::{PolicyError, Trust};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Why verification could not be carried out at all (exit code 2). A bundle that is read but refused is
/// not an error: it gives a [`Report`] that fails.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The bundle file is missing or cannot be read.
    #[error("cannot read bundle {}: {source}", path.display())]
    Read {
        /// The bundle path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bundle path names a directory or something else that is not a file.
    #[error("{} is not a file", path.display())]
    NotAFile {
        /// The bundle path.
        path: PathBuf,
    },
    /// The policy file is missing, unreadable or invalid.
    #[error("policy {}: {message}", path.display())]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// `ferry drift`: the bundle cannot be opened, has no reference profile, or the sample cannot be
    /// compared with it.
    #[error("{}: {message}", path.display())]
    Drift {
        /// The bundle.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The `--data` file is missing, unreadable or of an unknown kind.
    #[error("data file {}: {message}", path.display())]
    Data {
        /// The data file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The `--rebuild` source directory is missing or has no `ferry.toml`.
    #[error("rebuild source {}: {message}", path.display())]
    Rebuild {
        /// The source directory.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A report could not be written.
    #[error("cannot write report {}: {source}", path.display())]
    Write {
        /// The report path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Where a policy came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The path as given.
    pub path: String,
    /// `sha256:<hex>` of the file's bytes.
    pub sha256: String,
}

/// Reads and validates a policy file.
pub fn load_policy(path: &Path) -> Result<(Policy, PolicyInfo), VerifyError> {
    let err = |message: String| VerifyError::Policy { path: path.to_path_buf(), message };
    let bytes =
        ferry_spec::file::read(path, ferry_spec::file::SMALL_FILE_LIMIT).map_err(|e| err(e.reason()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| err(format!("not UTF-8: {e}")))?;
    let policy =
        Policy::from_toml_str(text).map_err(|e: PolicyError| err(e.to_string().trim_end().to_owned()))?;
    let info = PolicyInfo { path: path.display().to_string(), sha256: checks::sha256_digest(&bytes) };
    Ok((policy, info))
}

/// What a check concluded, before the policy's level is applied. Returned by a [`SignatureCheck`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `Passed`, `Failed` or `Skipped` (`Warning` is derived from the level).
    pub status: Status,
    /// One line for humans.
    pub message: String,
    /// What was found.
    pub evidence: Vec<Evidence>,
    /// Sub-results.
    pub cases: Vec<Case>,
    latency: Vec<LatencyTiming>,
}

impl Outcome {
    /// A check that found nothing wrong.
    pub fn passed(message: impl Into<String>) -> Outcome {
        Outcome::new(Status::Passed, message, Vec::new())
    }

    /// A check that found a problem.
    pub fn failed(message: impl Into<String>, evidence: Vec<Evidence>) -> Outcome {
        Outcome::new(Status::Failed, message, evidence)
    }

    /// A check that could not or need not run.
    pub fn skipped(reason: impl Into<String>) -> Outcome {
        Outcome::new(Status::Skipped, reason, Vec::new())
    }

    fn new(status: Status, message: impl Into<String>, evidence: Vec<Evidence>) -> Outcome {
        Outcome { status, message: message.into(), evidence, cases: Vec::new(), latency: Vec::new() }
    }

    /// Adds evidence (kept also when the check passes, as a record of what was compared).
    pub fn with_evidence(mut self, evidence: Vec<Evidence>) -> Outcome {
        self.evidence = evidence;
        self
    }

    /// Adds sub-results.
    pub fn with_cases(mut self, cases: Vec<Case>) -> Outcome {
        self.cases = cases;
        self
    }
}

/// Signature checking, plugged in by the caller (the `ferry` CLI wires `ferry-sign` here) so that this
/// crate does not depend on one signing scheme. Without one, `artifact.signature` is skipped.
pub trait SignatureCheck: Send + Sync {
    /// `artifact.signature`: checks the bundle's signatures against the `--key` files.
    fn check(&self, bundle: &Bundle, trust: &Trust, keys: &[PathBuf]) -> Outcome;
    /// `artifact.trust`: applies the policy's `[trust]` table (run only when the policy has one).
    fn trust(&self, bundle: &Bundle, trust: &Trust) -> Outcome;
}

/// How to verify a bundle.
#[derive(Clone, Default)]
pub struct VerifyOptions {
    /// The policy; `Policy::default()` without `--policy`.
    pub policy: Policy,
    /// Where the policy came from; `None` for the default policy.
    pub policy_info: Option<PolicyInfo>,
    /// A sample data file (CSV or JSON lines) for `contract.data`.
    pub data: Option<PathBuf>,
    /// A bundle source directory for `rebuild.identical`.
    pub rebuild: Option<PathBuf>,
    /// Public keys given with `--key`, passed to the signature check.
    pub keys: Vec<PathBuf>,
    /// How the golden sets are run (ONNX Runtime library, threads, device).
    pub runtime: RuntimeOptions,
    /// The signature check; `artifact.signature` is skipped without one.
    pub signatures: Option<Arc<dyn SignatureCheck>>,
}

impl std::fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("policy", &self.policy)
            .field("policy_info", &self.policy_info)
            .field("data", &self.data)
            .field("rebuild", &self.rebuild)
            .field("keys", &self.keys)
            .field("runtime", &self.runtime)
            .field("signatures", &self.signatures.is_some())
            .finish()
    }
}

/// Verifies the bundle at `path`: runs every check in [`CheckId::ALL`] order under `options.policy`.
pub fn verify(path: &Path, options: &VerifyOptions) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let meta =
        std::fs::metadata(path).map_err(|source| VerifyError::Read { path: path.to_path_buf(), source })?;
    if !meta.is_file() {
        return Err(VerifyError::NotAFile { path: path.to_path_buf() });
    }
    let data = options.data.as_deref().map(checks::data::DataFile::load).transpose()?;
    if let Some(src) = &options.rebuild {
        checks::rebuild::check_source(src)?;
    }
    let bundle = match Bundle::open(path) {
        Ok(b) => Ok(b),
        Err(BundleError::Io { path, source }) => return Err(VerifyError::Read { path, source }),
        Err(e) => Err(e),
    };
    let mut ctx = checks::Context::new(path, options, bundle, data);
    let mut results = Vec::with_capacity(CheckId::ALL.len());
    for id in CheckId::ALL {
        let level = ctx.level(id);
        let t0 = Instant::now();
        let outcome = if level == Level::Skip { Outcome::skipped("skipped by policy") } else { ctx.run(id) };
        results.push(finish(id, level, outcome, t0.elapsed().as_secs_f64() * 1e3));
    }
    let mut summary = Summary::default();
    for c in &results {
        match c.status {
            Status::Passed => summary.passed += 1,
            Status::Failed => summary.failed += 1,
            Status::Warning => summary.warnings += 1,
            Status::Skipped => summary.skipped += 1,
        }
    }
    let passed = summary.failed == 0;
    let (name, version, manifest_digest) = match ctx.bundle() {
        Some(b) => (
            Some(b.manifest().model.name.clone()),
            Some(b.manifest().model.version.clone()),
            Some(b.manifest_digest().to_owned()),
        ),
        None => (None, None, None),
    };
    Ok(Report {
        report_version: REPORT_VERSION,
        tool: Tool { name: "ferry".into(), version: ferry_spec::FERRY_VERSION.into() },
        bundle: BundleSummary {
            path: path.display().to_string(),
            size: meta.len(),
            name,
            version,
            manifest_digest,
        },
        policy: match &options.policy_info {
            Some(p) => PolicySummary { source: p.path.clone(), sha256: Some(p.sha256.clone()) },
            None => PolicySummary { source: "default".into(), sha256: None },
        },
        passed,
        exit_code: u8::from(!passed),
        summary,
        checks: results,
        device: ctx.device_summary(),
        timings: ReportTimings { total_ms: started.elapsed().as_secs_f64() * 1e3 },
    })
}

/// Applies the level: a failure under `warn` becomes a warning, for the check and each of its cases.
fn finish(id: CheckId, level: Level, outcome: Outcome, duration_ms: f64) -> CheckResult {
    let downgrade = |s: Status| if s == Status::Failed && level == Level::Warn { Status::Warning } else { s };
    let cases = outcome.cases.into_iter().map(|c| Case { status: downgrade(c.status), ..c }).collect();
    CheckResult {
        id,
        level,
        severity: Severity::for_level(level),
        status: downgrade(outcome.status),
        message: outcome.message,
        evidence: outcome.evidence,
        cases,
        timings: CheckTimings { duration_ms, latency: outcome.latency },
    }
}
