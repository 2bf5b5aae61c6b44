//! The verification policy: the `release.toml` file given to `ferry verify --policy`.
//!
//! A policy says which checks must pass (`required`), which only warn (`warn`) and which are not run
//! (`skip`); it may tighten or loosen the golden tolerances, set latency budgets, bound the share of sample
//! rows that may break the data contract, and (from issue 5 on) say whose signatures a bundle needs.
//! Unknown keys and unknown check IDs are refused, so a typo never silently weakens a gate.
//!
//! ```
//! use ferry_spec::policy::{CheckId, Level, Policy};
//! let p = Policy::from_toml_str(r#"
//! [checks]
//! "perf.latency" = "warn"
//! "artifact.signature" = "skip"
//!
//! [perf]
//! p99_ms = 20.0
//! "#).unwrap();
//! assert_eq!(p.level(CheckId::PerfLatency), Level::Warn);
//! assert_eq!(p.level(CheckId::GoldenOutputs), Level::Required);
//! ```

use crate::{DType, GoldenSet, Tolerance};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The policy format version this crate reads.
pub const POLICY_VERSION: u32 = 1;

/// The stable ID of a verifier check. The declaration order is the order of checks in every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum CheckId {
    /// The format version is supported and the Ferry manifest validates against its schema.
    #[serde(rename = "artifact.format")]
    ArtifactFormat,
    /// The archive and its OCI layout are well formed: no member missing, none unexpected.
    #[serde(rename = "artifact.layout")]
    ArtifactLayout,
    /// Every blob matches its digest.
    #[serde(rename = "artifact.digest")]
    ArtifactDigest,
    /// The pins fit this runtime and describe the bundled model.
    #[serde(rename = "artifact.pins")]
    ArtifactPins,
    /// Every `--key` made a valid OpenSSF Model Signing signature over the bundle's exact file view.
    #[serde(rename = "artifact.signature")]
    ArtifactSignature,
    /// The bundle satisfies the policy's `[trust]` table: signers, signature count, attestation.
    #[serde(rename = "artifact.trust")]
    ArtifactTrust,
    /// The feature transforms are the components pinned, export their stage and import only what the
    /// sandbox provides.
    #[serde(rename = "artifact.transform")]
    ArtifactTransform,
    /// The declared inputs and outputs match the ONNX model's real I/O.
    #[serde(rename = "contract.model-io")]
    ContractModelIo,
    /// The default configuration validates against the configuration schema.
    #[serde(rename = "contract.config-schema")]
    ContractConfigSchema,
    /// Every golden file conforms to the data contract.
    #[serde(rename = "contract.golden-inputs")]
    ContractGoldenInputs,
    /// Every golden record satisfies the records schema, every golden decision the results schema.
    #[serde(rename = "contract.records")]
    ContractRecords,
    /// A sample data file (`--data`) respects the per-feature constraints.
    #[serde(rename = "contract.data")]
    ContractData,
    /// Every golden set reproduces its expected outputs within tolerance.
    #[serde(rename = "golden.outputs")]
    GoldenOutputs,
    /// p50 and p99 latency on the golden inputs are within the policy's budget.
    #[serde(rename = "perf.latency")]
    PerfLatency,
    /// Packing the source again (`--rebuild SRC`) gives identical bytes.
    #[serde(rename = "rebuild.identical")]
    RebuildIdentical,
    /// The `--data` sample's features have not drifted from the bundle's reference profile.
    #[serde(rename = "drift.features")]
    DriftFeatures,
    /// The model's outputs on the `--data` sample have not drifted from the reference's.
    #[serde(rename = "drift.predictions")]
    DriftPredictions,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 17] = [
        CheckId::ArtifactFormat,
        CheckId::ArtifactLayout,
        CheckId::ArtifactDigest,
        CheckId::ArtifactPins,
        CheckId::ArtifactSignature,
        CheckId::ArtifactTrust,
        CheckId::ArtifactTransform,
        CheckId::ContractModelIo,
        CheckId::ContractConfigSchema,
        CheckId::ContractGoldenInputs,
        CheckId::ContractRecords,
        CheckId::ContractData,
        CheckId::GoldenOutputs,
        CheckId::PerfLatency,
        CheckId::RebuildIdentical,
        CheckId::DriftFeatures,
        CheckId::DriftPredictions,
    ];

    /// The stable ID, e.g. `golden.outputs`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::ArtifactFormat => "artifact.format",
            CheckId::ArtifactLayout => "artifact.layout",
            CheckId::ArtifactDigest => "artifact.digest",
            CheckId::ArtifactPins => "artifact.pins",
            CheckId::ArtifactSignature => "artifact.signature",
            CheckId::ArtifactTrust => "artifact.trust",
            CheckId::ArtifactTransform => "artifact.transform",
            CheckId::ContractModelIo => "contract.model-io",
            CheckId::ContractConfigSchema => "contract.config-schema",
            CheckId::ContractGoldenInputs => "contract.golden-inputs",
            CheckId::ContractRecords => "contract.records",
            CheckId::ContractData => "contract.data",
            CheckId::GoldenOutputs => "golden.outputs",
            CheckId::PerfLatency => "perf.latency",
            CheckId::RebuildIdentical => "rebuild.identical",
            CheckId::DriftFeatures => "drift.features",
            CheckId::DriftPredictions => "drift.predictions",
        }
    }

    /// Parses a stable ID.
    pub fn from_id(id: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.as_str() == id)
    }

    /// One sentence on what the check proves, for reports (SARIF rule descriptions, JUnit).
    pub fn description(self) -> &'static str {
        match self {
            CheckId::ArtifactFormat => {
                "The bundle format version is supported and the Ferry manifest validates against its schema."
            }
            CheckId::ArtifactLayout => {
                "The archive and its OCI image layout are well formed: no member is missing or unexpected."
            }
            CheckId::ArtifactDigest => "Every blob of the bundle matches its SHA-256 digest.",
            CheckId::ArtifactPins => {
                "The pinned versions fit this runtime and the ONNX pins describe the bundled model."
            }
            CheckId::ArtifactSignature => "Every given key signed the bundle's exact file view.",
            CheckId::ArtifactTrust => {
                "The bundle satisfies the policy's [trust] table (signers, count, attestation)."
            }
            CheckId::ArtifactTransform => {
                "The feature transforms are the components pinned, export their stage and import only WASI 0.2."
            }
            CheckId::ContractModelIo => {
                "The declared inputs and outputs match the ONNX model's inputs and outputs (names, dtypes, ranks, dims)."
            }
            CheckId::ContractConfigSchema => {
                "The default configuration validates against the bundle's configuration schema."
            }
            CheckId::ContractGoldenInputs => {
                "Every golden input and expected file conforms to the data contract."
            }
            CheckId::ContractRecords => {
                "Every golden record satisfies the records schema and every golden decision the results schema."
            }
            CheckId::ContractData => {
                "The sample data file respects every per-feature constraint of the contract."
            }
            CheckId::GoldenOutputs => "Every golden set reproduces its expected outputs within tolerance.",
            CheckId::PerfLatency => {
                "p50 and p99 latency on the golden inputs are within the policy's budget."
            }
            CheckId::RebuildIdentical => "Packing the bundle source again gives byte-identical output.",
            CheckId::DriftFeatures => {
                "The sample data's features have not drifted from the bundle's reference profile."
            }
            CheckId::DriftPredictions => {
                "The model's outputs on the sample data have not drifted from the reference's."
            }
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a failing check does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A failure fails the verification (exit code 1).
    Required,
    /// A failure is reported as a warning; the verification still passes.
    Warn,
    /// The check is not run.
    Skip,
}

impl Level {
    /// The name used in policy files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Level::Required => "required",
            Level::Warn => "warn",
            Level::Skip => "skip",
        }
    }
}

/// A verification policy. `Policy::default()` is the policy `ferry verify` applies without `--policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy format version ([`POLICY_VERSION`]).
    #[serde(default = "policy_version")]
    pub version: u32,
    /// Level per check ID; checks not listed take their default level (see [`Policy::level`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "checks_schema")]
    pub checks: BTreeMap<CheckId, Level>,
    /// Tolerance overrides for `golden.outputs`, applied over the bundle's own tolerances.
    #[serde(default, skip_serializing_if = "ToleranceOverrides::is_empty")]
    pub tolerance: ToleranceOverrides,
    /// Latency budgets for `perf.latency`; the check runs only when this table is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf: Option<PerfBudget>,
    /// Limits for `contract.data`.
    #[serde(default, skip_serializing_if = "DataPolicy::is_default")]
    pub data: DataPolicy,
    /// Who must have signed the bundle (`artifact.signature`).
    #[serde(default, skip_serializing_if = "Trust::is_empty")]
    pub trust: Trust,
    /// Thresholds for `drift.features` and `drift.predictions`.
    #[serde(default, skip_serializing_if = "DriftPolicy::is_default")]
    pub drift: DriftPolicy,
}

/// schemars describes a map's values but not its keys; the check IDs are the point of this table.
fn checks_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let ids: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
    let level = generator.subschema_for::<Level>();
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "enum": ids },
        "additionalProperties": level,
    })
}

fn policy_version() -> u32 {
    POLICY_VERSION
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            version: POLICY_VERSION,
            checks: BTreeMap::new(),
            tolerance: ToleranceOverrides::default(),
            perf: None,
            data: DataPolicy::default(),
            drift: DriftPolicy::default(),
            trust: Trust::default(),
        }
    }
}

/// `[tolerance]`: overrides of the golden tolerances. The most specific setting wins, field by field
/// (`rtol` and `atol` resolve independently): `[tolerance.golden.SET.outputs.OUT]`, `[tolerance.golden.SET]`,
/// `[tolerance.outputs.OUT]`, `[tolerance]`, then the bundle's per-output, per-set and per-dtype defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToleranceOverrides {
    /// Relative tolerance for every output of every golden set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// Absolute tolerance for every output of every golden set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    /// Per-output overrides, for every golden set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Tolerance>,
    /// Per-golden-set overrides.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub golden: BTreeMap<String, GoldenOverride>,
}

impl ToleranceOverrides {
    fn is_empty(&self) -> bool {
        self == &ToleranceOverrides::default()
    }
}

/// `[tolerance.golden.SET]`: overrides for one golden set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoldenOverride {
    /// Relative tolerance for every output of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// Absolute tolerance for every output of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    /// Per-output overrides within the set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Tolerance>,
}

/// `[perf]`: latency budgets, measured per golden set (one call with the set's inputs is one sample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerfBudget {
    /// Budget for the median latency, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// Budget for the 99th-percentile latency, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Timed calls per golden set.
    #[serde(default = "default_iterations")]
    pub iterations: u32,
    /// Untimed calls per golden set before timing starts.
    #[serde(default = "default_warmup")]
    pub warmup: u32,
}

impl PerfBudget {
    /// Default number of timed calls per golden set.
    pub const DEFAULT_ITERATIONS: u32 = 100;
    /// Default number of warm-up calls per golden set.
    pub const DEFAULT_WARMUP: u32 = 5;
    /// The most timed or warm-up calls a policy may ask for per golden set.
    pub const MAX_ITERATIONS: u32 = 100_000;
}

fn default_iterations() -> u32 {
    PerfBudget::DEFAULT_ITERATIONS
}

fn default_warmup() -> u32 {
    PerfBudget::DEFAULT_WARMUP
}

/// `[data]`: limits for `contract.data`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPolicy {
    /// The largest share of rows (0 to 1) that may break any one constraint; 0 (the default) means no row
    /// may break any constraint.
    #[serde(default)]
    pub max_violation_share: f64,
}

impl Default for DataPolicy {
    fn default() -> DataPolicy {
        DataPolicy { max_violation_share: 0.0 }
    }
}

impl DataPolicy {
    fn is_default(&self) -> bool {
        self == &DataPolicy::default()
    }
}

/// `[drift]`: how `drift.features` and `drift.predictions` decide. A threshold set here replaces the
/// profile's for every column judged by that statistic; `require` adds statistics every column must
/// pass as well as its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftPolicy {
    /// PSI at or above this is reported (a `warn` evidence) without failing; default 0.1.
    #[serde(default = "psi_warn")]
    pub psi_warn: f64,
    /// PSI at or above this is drift (default: the profile's per-column threshold, 0.25 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    /// Jensen–Shannon distance at or above this is drift (default: the profile's, 0.1 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js: Option<f64>,
    /// The family-wise significance level for KS and chi-squared (default: the profile's, 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// The multiple-testing correction over the columns: `holm` (default), `bonferroni` or `none`.
    #[serde(default)]
    pub correction: DriftCorrection,
    /// Statistics every column must pass besides its own (those that apply to its kind).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<crate::Method>,
}

fn psi_warn() -> f64 {
    0.1
}

/// A multiple-testing correction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftCorrection {
    /// Holm's step-down.
    #[default]
    Holm,
    /// Bonferroni.
    Bonferroni,
    /// None.
    None,
}

impl Default for DriftPolicy {
    fn default() -> DriftPolicy {
        DriftPolicy {
            psi_warn: psi_warn(),
            psi: None,
            js: None,
            alpha: None,
            correction: DriftCorrection::Holm,
            require: Vec::new(),
        }
    }
}

impl DriftPolicy {
    fn is_default(&self) -> bool {
        self == &DriftPolicy::default()
    }

    /// Checks the thresholds' ranges, naming the key.
    pub fn check(&self) -> Result<(), (String, String)> {
        use crate::Method;
        let checks = [
            ("drift.psi_warn", Some(self.psi_warn), Method::Psi),
            ("drift.psi", self.psi, Method::Psi),
            ("drift.js", self.js, Method::Js),
            ("drift.alpha", self.alpha, Method::Ks),
        ];
        for (key, v, m) in checks {
            if let Some(v) = v
                && !m.admits(v)
            {
                return Err((key.to_owned(), format!("{v} is out of range")));
            }
        }
        Ok(())
    }
}

/// `[trust]`: who must have signed the bundle. Designed in now so that policy files stay stable; the
/// verifier reports `artifact.signature` as skipped until signature checking is configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// PEM public keys allowed to sign, relative to the policy file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Keyless (Sigstore) signer identities allowed to sign: the certificate's subject and OIDC issuer,
    /// both compared exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
    /// The Sigstore trusted root (`trusted_root.json`) keyless signatures are checked against, relative
    /// to the policy file. Default: the Sigstore public-good root built into Ferry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<String>,
    /// How many valid signatures, from distinct allowed signers, the bundle needs. Default: 1 when keys or
    /// identities are listed, 0 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_signatures: Option<u32>,
    /// Whether an attestation (`ferry attest`) signed by an allowed signer is required.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_attestation: bool,
    /// Hash every blob of the bundle on every open (`ferry run`, a host's `Runtime::open`), even when
    /// the verified-digest cache knows the file unchanged since a full check. The verifier always
    /// hashes every blob.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always_rehash: bool,
}

impl Trust {
    fn is_empty(&self) -> bool {
        self == &Trust::default()
    }

    /// Whether the table asks for any signature checking at all (`always_rehash` is about digests, not
    /// signers).
    pub fn is_configured(&self) -> bool {
        !Trust { always_rehash: false, ..self.clone() }.is_empty()
    }

    /// The number of signatures required, with the documented default.
    pub fn required_signatures(&self) -> u32 {
        self.min_signatures.unwrap_or(u32::from(!self.keys.is_empty() || !self.identities.is_empty()))
    }
}

/// A keyless signer identity: the OIDC issuer and the certificate subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// OIDC issuer URL, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// Certificate subject (an e-mail address or a workflow URI).
    pub subject: String,
}

/// Why a policy file was refused. Every variant names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not valid TOML, an unknown key, an unknown check ID or a value of the wrong type.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A value breaks a rule serde cannot express.
    #[error("key `{key}`: {message}")]
    Invalid {
        /// The dotted key at fault.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid { key: key.into(), message: message.into() }
}

impl Policy {
    /// Parses and validates a policy file.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text)?;
        policy.validate()?;
        Ok(policy)
    }

    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.version != POLICY_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "policy version {} is not supported (this Ferry reads version {POLICY_VERSION})",
                    self.version
                ),
            ));
        }
        let t = &self.tolerance;
        check_tolerance("tolerance", Tolerance { rtol: t.rtol, atol: t.atol })?;
        for (out, tol) in &t.outputs {
            check_tolerance(&format!("tolerance.outputs.{out}"), *tol)?;
        }
        for (set, g) in &t.golden {
            check_tolerance(&format!("tolerance.golden.{set}"), Tolerance { rtol: g.rtol, atol: g.atol })?;
            for (out, tol) in &g.outputs {
                check_tolerance(&format!("tolerance.golden.{set}.outputs.{out}"), *tol)?;
            }
        }
        if let Some(p) = &self.perf {
            if p.p50_ms.is_none() && p.p99_ms.is_none() {
                return Err(invalid("perf", "set p50_ms, p99_ms or both"));
            }
            for (key, v) in [("perf.p50_ms", p.p50_ms), ("perf.p99_ms", p.p99_ms)] {
                if let Some(v) = v
                    && !(v.is_finite() && v > 0.0)
                {
                    return Err(invalid(
                        key,
                        format!("budget {v} must be a positive number of milliseconds"),
                    ));
                }
            }
            if p.iterations == 0 || p.iterations > PerfBudget::MAX_ITERATIONS {
                return Err(invalid(
                    "perf.iterations",
                    format!("{} must be between 1 and {}", p.iterations, PerfBudget::MAX_ITERATIONS),
                ));
            }
            if p.warmup > PerfBudget::MAX_ITERATIONS {
                return Err(invalid(
                    "perf.warmup",
                    format!("{} must be at most {}", p.warmup, PerfBudget::MAX_ITERATIONS),
                ));
            }
        } else if matches!(self.checks.get(&CheckId::PerfLatency), Some(Level::Required | Level::Warn)) {
            return Err(invalid(
                "checks.\"perf.latency\"",
                "perf.latency is enabled but the policy has no [perf] table with a budget",
            ));
        }
        let share = self.data.max_violation_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(invalid("data.max_violation_share", format!("{share} must be between 0 and 1")));
        }
        self.drift.check().map_err(|(key, message)| invalid(key, message))?;
        for (i, k) in self.trust.keys.iter().enumerate() {
            if k.is_empty() {
                return Err(invalid(format!("trust.keys[{i}]"), "key path is empty"));
            }
        }
        for (i, id) in self.trust.identities.iter().enumerate() {
            if id.issuer.is_empty() || id.subject.is_empty() {
                return Err(invalid(format!("trust.identities[{i}]"), "issuer and subject must both be set"));
            }
        }
        Ok(())
    }

    /// The level of a check: the `[checks]` entry if there is one, else the default. Every check defaults
    /// to `required`, except `perf.latency`, which is `required` when a `[perf]` table is present and
    /// `skip` otherwise. (`contract.data` and `rebuild.identical` run only when their input is given.)
    pub fn level(&self, check: CheckId) -> Level {
        if let Some(level) = self.checks.get(&check) {
            return *level;
        }
        match check {
            CheckId::PerfLatency if self.perf.is_none() => Level::Skip,
            _ => Level::Required,
        }
    }

    /// The `(rtol, atol)` for one output of one golden set on a device kind (`cpu`, `cuda`): the policy's
    /// overrides (most specific first), then the bundle's own tolerances for that device, then its
    /// device-independent ones, then the dtype defaults ([`Tolerance::resolve`]).
    pub fn tolerance(&self, set: &GoldenSet, device: &str, output: &str, dtype: DType) -> (f64, f64) {
        let t = &self.tolerance;
        let g = t.golden.get(&set.name);
        let chain = [
            g.and_then(|g| g.outputs.get(output).copied()),
            g.map(|g| Tolerance { rtol: g.rtol, atol: g.atol }),
            t.outputs.get(output).copied(),
            Some(Tolerance { rtol: t.rtol, atol: t.atol }),
            Some(set.tolerance_chain(Some(device), output)),
        ];
        chain.into_iter().flatten().fold(Tolerance::default(), Tolerance::or).resolve(dtype)
    }
}

fn check_tolerance(key: &str, t: Tolerance) -> Result<(), PolicyError> {
    for (field, v) in [("rtol", t.rtol), ("atol", t.atol)] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(invalid(format!("{key}.{field}"), format!("tolerance {v} must be finite and >= 0")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn set() -> GoldenSet {
        GoldenSet {
            name: "smoke".into(),
            file: None,
            inputs: Some("i.json".into()),
            expected: Some("e.json".into()),
            records: None,
            decisions: None,
            rtol: Some(1e-4),
            atol: None,
            outputs: BTreeMap::from([("y".to_owned(), Tolerance { rtol: None, atol: Some(1e-6) })]),
            tolerance: BTreeMap::from([(
                "cuda".to_owned(),
                crate::DeviceTolerance {
                    rtol: Some(1e-3),
                    atol: None,
                    outputs: BTreeMap::from([("z".to_owned(), Tolerance { rtol: None, atol: Some(1e-4) })]),
                },
            )]),
        }
    }

    #[test]
    fn device_tolerances_apply_on_their_device_under_the_policys() {
        let p = Policy::default();
        let s = set();
        // On the CPU the cuda table is ignored.
        assert_eq!(p.tolerance(&s, "cpu", "z", DType::Float32), (1e-4, Tolerance::DEFAULT_ATOL));
        // On cuda: the device's per-output atol, the device's set rtol, over the set's own.
        assert_eq!(p.tolerance(&s, "cuda", "z", DType::Float32), (1e-3, 1e-4));
        // The device's set rtol, and the set's per-output atol where the device gives none.
        assert_eq!(p.tolerance(&s, "cuda", "y", DType::Float32), (1e-3, 1e-6));
        assert_eq!(s.tolerance_on("cuda", "y", DType::Float32), (1e-3, 1e-6));
        // A policy override still wins on every device.
        let strict: Policy = toml::from_str("[tolerance]\nrtol = 1e-6\n").unwrap();
        assert_eq!(strict.tolerance(&s, "cuda", "z", DType::Float32).0, 1e-6);
    }

    #[test]
    fn defaults() {
        let p = Policy::from_toml_str("").unwrap();
        assert_eq!(p, Policy::default());
        for c in CheckId::ALL {
            let expected = if c == CheckId::PerfLatency { Level::Skip } else { Level::Required };
            assert_eq!(p.level(c), expected, "{c}");
        }
        // Without overrides the bundle's tolerances apply.
        assert_eq!(p.tolerance(&set(), "cpu", "y", DType::Float32), (1e-4, 1e-6));
        assert_eq!(p.tolerance(&set(), "cpu", "z", DType::Float32), (1e-4, Tolerance::DEFAULT_ATOL));
        assert_eq!(p.tolerance(&set(), "cpu", "z", DType::Float16), (1e-4, Tolerance::DEFAULT_ATOL_F16));
    }

    #[test]
    fn full_policy_and_precedence() {
        let p = Policy::from_toml_str(
            r#"
            version = 1
            [checks]
            "golden.outputs" = "required"
            "artifact.signature" = "skip"
            "perf.latency" = "warn"

            [tolerance]
            rtol = 1e-2
            [tolerance.outputs.y]
            atol = 1e-3
            [tolerance.golden.smoke]
            atol = 0.5
            [tolerance.golden.smoke.outputs.y]
            rtol = 0.25

            [perf]
            p50_ms = 5
            p99_ms = 20.5

            [data]
            max_violation_share = 0.01

            [trust]
            keys = ["keys/release.pub"]
            require_attestation = true
            [[trust.identities]]
            issuer = "https://token.actions.githubusercontent.com"
            subject = "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main"
            "#,
        )
        .unwrap();
        assert_eq!(p.level(CheckId::ArtifactSignature), Level::Skip);
        assert_eq!(p.level(CheckId::PerfLatency), Level::Warn);
        assert_eq!(p.perf.as_ref().unwrap().iterations, PerfBudget::DEFAULT_ITERATIONS);
        assert_eq!(p.trust.required_signatures(), 1);
        // Set+output beats set, which beats output, which beats global, which beats the bundle.
        assert_eq!(p.tolerance(&set(), "cpu", "y", DType::Float32), (0.25, 0.5));
        let mut other = set();
        other.name = "other".into();
        assert_eq!(p.tolerance(&other, "cpu", "y", DType::Float32), (1e-2, 1e-3));
        assert_eq!(p.tolerance(&other, "cpu", "z", DType::Float32), (1e-2, Tolerance::DEFAULT_ATOL));
        // Round trip through TOML.
        let text = toml::to_string(&p).unwrap();
        assert_eq!(Policy::from_toml_str(&text).unwrap(), p);
    }

    #[test]
    fn refusals_name_the_key() {
        let cases = [
            ("[checks]\n\"golden.output\" = \"required\"", "golden.output"),
            ("[checks]\n\"golden.outputs\" = \"maybe\"", "maybe"),
            ("unknown = 1", "unknown"),
            ("version = 2", "version"),
            ("[tolerance]\nrtol = -1.0", "tolerance.rtol"),
            ("[tolerance.golden.a.outputs.b]\natol = nan", "tolerance.golden.a.outputs.b.atol"),
            ("[perf]\niterations = 3", "perf"),
            ("[perf]\np99_ms = 0", "perf.p99_ms"),
            ("[perf]\np99_ms = 1\niterations = 0", "perf.iterations"),
            ("[checks]\n\"perf.latency\" = \"required\"", "perf.latency"),
            ("[data]\nmax_violation_share = 1.5", "data.max_violation_share"),
            ("[trust]\nkeys = [\"\"]", "trust.keys[0]"),
        ];
        for (text, needle) in cases {
            let e = Policy::from_toml_str(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn check_ids_round_trip() {
        for c in CheckId::ALL {
            assert_eq!(CheckId::from_id(c.as_str()), Some(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
            assert!(!c.description().is_empty());
        }
        let mut sorted = CheckId::ALL;
        sorted.sort();
        assert_eq!(sorted, CheckId::ALL, "declaration order is report order");
    }

    /// `spec/schema/policy.schema.json` is generated from these types; set `FERRY_BLESS=1` to rewrite it
    /// after changing them (as `tests/schema.rs` does for the other schemas).
    #[test]
    fn published_schema_is_current() {
        let schema = schemars::schema_for!(Policy);
        let text = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/policy.schema.json");
        if std::env::var_os("FERRY_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(on_disk == text, "{} is stale; rerun with FERRY_BLESS=1", path.display());
    }

    #[test]
    fn schema_accepts_a_policy() {
        let schema = serde_json::to_value(schemars::schema_for!(Policy)).unwrap();
        let compiled = crate::config::ConfigSchema::compile(&schema).unwrap();
        let p = Policy::from_toml_str("[checks]\n\"perf.latency\" = \"skip\"\n[perf]\np50_ms = 3").unwrap();
        compiled.validate(&serde_json::to_value(&p).unwrap()).unwrap();
        let bad = serde_json::json!({"checks": {"nope": "required"}});
        assert!(compiled.validate(&bad).is_err());
    }
}
