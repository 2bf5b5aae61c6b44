//! The verification report: what every output format renders, and what `--format json` prints as is.
//!
//! Everything here is deterministic for a given bundle, policy and machine, except the fields named
//! `timings` (on the report and on each check): strip those and two runs give the same JSON.

use ferry_spec::policy::{CheckId, Level};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The version of the report format; bumped on any incompatible change of these types. Version 2: a
/// `feature` evidence names its first breaking row by `first_record` (0-based, as `ferry run` indexes a
/// batch) and `first_line` (1-based), where version 1 had `first_row` (1-based).
pub const REPORT_VERSION: u32 = 2;

/// The outcome of `ferry verify` on one bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub report_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// The bundle that was verified.
    pub bundle: BundleSummary,
    /// The policy that was applied.
    pub policy: PolicySummary,
    /// Whether every required check passed (no check has status `failed`).
    pub passed: bool,
    /// The exit code `ferry verify` returns for this report: 0 passed, 1 failed.
    pub exit_code: u8,
    /// How many checks ended in each status.
    pub summary: Summary,
    /// Every check, in the fixed order of [`CheckId::ALL`].
    pub checks: Vec<CheckResult>,
    /// Where the model ran (the golden sets, the perf check), when ONNX Runtime was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceSummary>,
    /// Wall-clock measurements; the only part of the report that changes from run to run.
    pub timings: ReportTimings,
}

/// The device the model ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceSummary {
    /// `cpu` or `cuda:N`.
    pub id: String,
    /// For people: `cpu`, or the GPU's name and compute capability.
    pub name: String,
    /// With `--device auto` on the CPU: why no GPU was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// The program that wrote a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `ferry`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Which bundle was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleSummary {
    /// The path as given on the command line.
    pub path: String,
    /// Size of the file in bytes.
    pub size: u64,
    /// `[model].name`, when the bundle could be opened.
    pub name: Option<String>,
    /// `[model].version`, when the bundle could be opened.
    pub version: Option<String>,
    /// Digest of the bundle's OCI manifest (what signatures refer to), when the bundle could be opened.
    pub manifest_digest: Option<String>,
}

/// Which policy was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySummary {
    /// The policy file as given, or `default`.
    pub source: String,
    /// SHA-256 of the policy file's bytes (`sha256:<hex>`), absent for the default policy.
    pub sha256: Option<String>,
}

/// How many checks ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Checks that passed.
    pub passed: u32,
    /// Required checks that failed.
    pub failed: u32,
    /// Checks that failed with level `warn`.
    pub warnings: u32,
    /// Checks that were not run.
    pub skipped: u32,
}

/// The state of a check (or of one case of a check) after verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check ran and found nothing wrong.
    Passed,
    /// The check ran, found a problem, and the policy requires it: the verification fails.
    Failed,
    /// The check ran and found a problem, but the policy only warns about it.
    Warning,
    /// The check was not run; the message says why.
    Skipped,
}

impl Status {
    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Warning => "warning",
            Status::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How serious a failure of the check is under the applied policy: `error` for required checks, `warning`
/// for checks the policy downgrades to `warn` or `skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A failure fails the verification.
    Error,
    /// A failure is only reported.
    Warning,
}

impl Severity {
    /// The severity a policy level gives a check.
    pub fn for_level(level: Level) -> Severity {
        match level {
            Level::Required => Severity::Error,
            Level::Warn | Level::Skip => Severity::Warning,
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// The stable check ID.
    pub id: CheckId,
    /// The level the policy gave the check.
    pub level: Level,
    /// How serious a failure is.
    pub severity: Severity,
    /// What came of it.
    pub status: Status,
    /// One line for humans: what passed, what failed or why the check was skipped.
    pub message: String,
    /// What the check found, with stable keys (which blob, which tensor, which error).
    pub evidence: Vec<Evidence>,
    /// Sub-results, one per golden set for `contract.golden-inputs`, `golden.outputs` and `perf.latency`.
    pub cases: Vec<Case>,
    /// Wall-clock measurements of this check.
    pub timings: CheckTimings,
}

/// One golden set (or other subject) of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The subject, e.g. the golden set's name.
    pub name: String,
    /// What came of it; `failed` turns into `warning` under a `warn` level like the check itself.
    pub status: Status,
    /// One line for humans.
    pub message: String,
    /// What was found.
    pub evidence: Vec<Evidence>,
}

/// Wall-clock measurements of one check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckTimings {
    /// How long the check took, in milliseconds.
    pub duration_ms: f64,
    /// For `perf.latency`: the measured latencies, one entry per golden set.
    pub latency: Vec<LatencyTiming>,
}

/// Measured latency of one golden set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyTiming {
    /// The golden set.
    pub set: String,
    /// Timed calls.
    pub iterations: u32,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Fastest call in milliseconds.
    pub min_ms: f64,
    /// Slowest call in milliseconds.
    pub max_ms: f64,
}

/// Wall-clock measurements of the whole verification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportTimings {
    /// How long the verification took, in milliseconds.
    pub total_ms: f64,
}

/// A number that may be NaN or infinite: JSON numbers cannot be, so those are written as the strings
/// `"NaN"`, `"inf"` and `"-inf"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("inf")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-inf")
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(v) => Ok(Num(v)),
            Raw::Text(t) => match t.as_str() {
                "NaN" => Ok(Num(f64::NAN)),
                "inf" => Ok(Num(f64::INFINITY)),
                "-inf" => Ok(Num(f64::NEG_INFINITY)),
                _ => Err(serde::de::Error::custom(format!(
                    "`{t}` is not a number, \"NaN\", \"inf\" or \"-inf\""
                ))),
            },
        }
    }
}

impl JsonSchema for Num {
    fn schema_name() -> Cow<'static, str> {
        "Number".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number; NaN and the infinities are written as strings.",
            "anyOf": [{ "type": "number" }, { "enum": ["NaN", "inf", "-inf"] }]
        })
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v.is_infinite() {
            f.write_str(if v > 0.0 { "inf" } else { "-inf" })
        } else if v.fract() == 0.0 && v.abs() < 1e15 {
            // A whole number (an integer output's error, a tolerance of 0) as one: `1`, not `1e0`.
            write!(f, "{v}")
        } else {
            // Four significant digits are plenty for a human reading an error; JSON keeps every digit.
            let short = format!("{v:.3e}").parse::<f64>().unwrap_or(v);
            write!(f, "{short:e}")
        }
    }
}

/// A bucket that moved between the reference and the sample (`drift` evidence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MovedBucket {
    /// `(a, b]` for a bin, the category, `other`, or `new v` for a category the reference never saw.
    pub bucket: String,
    /// Its share of the reference.
    pub reference: Num,
    /// Its share of the sample.
    pub current: Num,
    /// Its PSI term.
    pub psi: Num,
}

/// What a check found. Each kind has a fixed set of keys; `kind` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Evidence {
    /// The error that stopped a check, as its source reported it.
    Error {
        /// The error message.
        message: String,
    },
    /// A member of the archive that is missing, unexpected or malformed.
    Member {
        /// The member (`index.json`, `blobs/sha256/…`), or the archive position.
        member: String,
        /// What is wrong with it.
        message: String,
    },
    /// The bundle's format version.
    FormatVersion {
        /// The version the bundle declares.
        found: u64,
        /// The version this Ferry reads.
        supported: u32,
    },
    /// A JSON document that breaks its schema or a rule of the format.
    Schema {
        /// The document: `manifest` or a file of the bundle.
        document: String,
        /// JSON pointer of the offending value (empty for the whole document).
        pointer: String,
        /// The schema keyword or format rule that failed.
        rule: String,
        /// What the validator said.
        message: String,
    },
    /// A blob whose bytes do not match its digest.
    Digest {
        /// The file of the bundle's file view, if the blob is one.
        file: Option<String>,
        /// The blob, as its declared digest.
        blob: String,
        /// The declared digest (of the uncompressed bytes for the uncompressed check).
        expected: String,
        /// The digest of the bytes found.
        actual: String,
    },
    /// A pin that does not fit this runtime or the bundled model.
    Pin {
        /// Which pin (`onnxruntime`, `onnx.ir_version`, `onnx.opsets.ai.onnx`, …).
        pin: String,
        /// What the manifest pins.
        required: String,
        /// What this runtime or the model has.
        found: String,
    },
    /// A difference between the declared contract and the ONNX model's inputs or outputs.
    Contract {
        /// `input` or `output`.
        side: String,
        /// The tensor's name.
        tensor: String,
        /// What differs: `name`, `kind`, `dtype`, `rank` or `shape[i]`.
        field: String,
        /// What the contract declares (`-` when the tensor is not declared).
        declared: String,
        /// What the model says (`-` when the model has no such tensor).
        model: String,
    },
    /// A golden file (or one of its tensors) that breaks the contract.
    GoldenTensor {
        /// The golden set.
        set: String,
        /// The file of the bundle.
        file: String,
        /// The tensor, when one is at fault.
        tensor: Option<String>,
        /// The feature, for per-feature constraints.
        feature: Option<String>,
        /// The element's index, for per-element constraints.
        index: Option<Vec<u64>>,
        /// The offending value, as text.
        value: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// One output of one golden set compared with its expected value. Present for every output, passed
    /// or not, so a report shows how close each one came.
    Output {
        /// The golden set.
        set: String,
        /// The output tensor.
        output: String,
        /// Whether the output is within tolerance.
        passed: bool,
        /// The relative tolerance applied.
        rtol: Num,
        /// The absolute tolerance applied.
        atol: Num,
        /// Number of elements compared.
        elements: u64,
        /// Number of elements out of tolerance.
        mismatches: u64,
        /// Largest absolute error over elements where both values are finite.
        max_abs: Num,
        /// Largest relative error over the same elements (`inf` when an expected 0 is not matched).
        max_rel: Num,
        /// Index (one entry per axis) of the first element out of tolerance.
        first_mismatch: Option<Vec<u64>>,
        /// The expected value at that index.
        expected: Option<String>,
        /// The actual value at that index.
        actual: Option<String>,
        /// Why the tensors could not be compared element by element (missing, dtype or shape differ).
        problem: Option<String>,
    },
    /// Rows of the sample data file that break one constraint of one feature.
    Feature {
        /// The input tensor the feature belongs to.
        input: String,
        /// The feature.
        feature: String,
        /// The column of the data file it was read from (absent when no column matches).
        column: Option<String>,
        /// The rule broken: `column` (no such column), `type`, `null`, `min`, `max` or `allowed`.
        rule: String,
        /// Rows that break the rule.
        rows: u64,
        /// Rows in the file.
        total_rows: u64,
        /// `rows / total_rows`.
        share: Num,
        /// The first breaking row, as the 0-based index of its record (the header and blank lines are not
        /// records): the index the row has in a batch tensor, as `ferry run` names it (`[3, 0]`).
        first_record: Option<u64>,
        /// The 1-based line of the data file that record starts on.
        first_line: Option<u64>,
        /// The value found in that row, as text.
        value: Option<String>,
    },
    /// A column of the `--data` sample compared with the bundle's reference profile.
    Drift {
        /// The tensor (an input for a feature, an output for a prediction).
        tensor: String,
        /// The feature, or the output column (`NAME[i]` for one of several).
        column: String,
        /// `numeric` or `categorical`.
        column_kind: String,
        /// `stable`, `warn` (PSI at the warning level), `drift` or `no_data`.
        decision: String,
        /// The decision in words (`psi 0.8123 ≥ 0.25`).
        reason: String,
        /// The statistic that decides: `psi`, `js`, `ks` or `chi2`.
        method: String,
        /// Its threshold after the policy.
        threshold: Num,
        /// Population stability index over the reference's buckets.
        psi: Num,
        /// Jensen–Shannon distance over the same buckets.
        js: Num,
        /// The p-value test run: `ks` (numeric) or `chi2` (categorical).
        test: Option<String>,
        /// Its statistic.
        statistic: Option<Num>,
        /// Its p-value.
        p_value: Option<Num>,
        /// Its p-value after the multiple-testing correction.
        p_adjusted: Option<Num>,
        /// Values compared, nulls included.
        rows: u64,
        /// Share of nulls in the sample.
        null_share: Num,
        /// Share of nulls in the reference.
        reference_null_share: Num,
        /// The buckets with the largest PSI terms.
        moved: Vec<MovedBucket>,
    },
    /// A latency percentile over its budget. The measured value is in the check's `timings`.
    Latency {
        /// The golden set whose inputs were timed.
        set: String,
        /// `p50` or `p99`.
        percentile: String,
        /// The budget in milliseconds.
        budget_ms: Num,
        /// Timed calls.
        iterations: u32,
    },
    /// A difference between the bundle and the one packed again from its source.
    Rebuild {
        /// The file of the file view that differs, if the difference is one.
        file: Option<String>,
        /// In the verified bundle.
        expected: String,
        /// In the rebuilt bundle.
        actual: String,
        /// The first differing byte of the two archives, for a whole-archive difference.
        offset: Option<u64>,
        /// What differs.
        message: String,
    },
    /// A signature (or a missing one) examined by `artifact.signature`.
    Signature {
        /// The signer (key hint or identity), when known.
        signer: Option<String>,
        /// The digest of the referrer manifest holding the signature, when there is one.
        referrer: Option<String>,
        /// What was found.
        message: String,
    },
}

impl Evidence {
    /// One line of text, for the human, JUnit, SARIF and GitHub renderings.
    pub fn describe(&self) -> String {
        match self {
            Evidence::Error { message } => message.clone(),
            Evidence::Member { member, message } => format!("member `{member}`: {message}"),
            Evidence::FormatVersion { found, supported } => {
                format!("format version {found} (this Ferry reads version {supported})")
            }
            Evidence::Schema { document, pointer, rule, message } => {
                let pointer = if pointer.is_empty() { "/" } else { pointer };
                format!("{document} {pointer}: {message} (rule {rule})")
            }
            Evidence::Digest { file, blob, expected, actual } => match file {
                Some(f) => format!("file `{f}` (blob {blob}): expected {expected}, found {actual}"),
                None => format!("blob {blob}: expected {expected}, found {actual}"),
            },
            Evidence::Pin { pin, required, found } => {
                format!("pin `{pin}`: requires {required}, found {found}")
            }
            Evidence::Contract { side, tensor, field, declared, model } => {
                format!("{side} `{tensor}` {field}: contract declares {declared}, model has {model}")
            }
            Evidence::GoldenTensor { set, file, tensor, message, .. } => match tensor {
                Some(t) => format!("golden set `{set}` ({file}), tensor `{t}`: {message}"),
                None => format!("golden set `{set}` ({file}): {message}"),
            },
            Evidence::Output {
                set,
                output,
                passed,
                rtol,
                atol,
                elements,
                mismatches,
                max_abs,
                max_rel,
                first_mismatch,
                expected,
                actual,
                problem,
            } => {
                let head = format!("golden set `{set}`, output `{output}`");
                if let Some(p) = problem {
                    return format!("{head}: {p}");
                }
                let errors =
                    format!("max abs error {max_abs}, max rel error {max_rel} (rtol {rtol}, atol {atol})");
                let s = crate::checks::plural(*elements as usize);
                if *passed {
                    return format!("{head}: {elements} element{s} within tolerance; {errors}");
                }
                let at = match (first_mismatch, expected, actual) {
                    (Some(i), Some(e), Some(a)) => format!("; first at {i:?}: expected {e}, got {a}"),
                    _ => String::new(),
                };
                format!("{head}: {mismatches} of {elements} element{s} out of tolerance{at}; {errors}")
            }
            Evidence::Feature {
                input,
                feature,
                column,
                rule,
                rows,
                total_rows,
                share,
                first_record,
                first_line,
                value,
            } => {
                let col = column.as_deref().map(|c| format!(" (column `{c}`)")).unwrap_or_default();
                let mut first = match first_record {
                    Some(r) => format!("; first at record {r}"),
                    None => String::new(),
                };
                if let (Some(_), Some(l)) = (first_record, first_line) {
                    first.push_str(&format!(" (line {l})"));
                }
                if let (Some(_), Some(v)) = (first_record, value) {
                    first.push_str(&format!(": {v}"));
                }
                let pct = share.0 * 100.0;
                let s = crate::checks::plural(*total_rows as usize);
                let verb = if *rows == 1 { "breaks" } else { "break" };
                format!(
                    "input `{input}`, feature `{feature}`{col}: {rows} of {total_rows} row{s} ({pct:.2}%) {verb} rule `{rule}`{first}"
                )
            }
            Evidence::Drift {
                tensor,
                column,
                decision,
                reason,
                psi,
                js,
                test,
                p_value,
                p_adjusted,
                null_share,
                reference_null_share,
                moved,
                ..
            } => {
                let t = match (test, p_value, p_adjusted) {
                    (Some(t), Some(p), Some(a)) => format!("; {t} p {p} (corrected {a})"),
                    _ => String::new(),
                };
                let nulls = if null_share.0 > 0.0 || reference_null_share.0 > 0.0 {
                    format!(
                        "; nulls {:.1}% (reference {:.1}%)",
                        null_share.0 * 100.0,
                        reference_null_share.0 * 100.0
                    )
                } else {
                    String::new()
                };
                let moved: Vec<String> = moved
                    .iter()
                    .map(|m| {
                        format!("{} {:.1}% → {:.1}%", m.bucket, m.reference.0 * 100.0, m.current.0 * 100.0)
                    })
                    .collect();
                let moved = if moved.is_empty() {
                    String::new()
                } else {
                    format!("; moved most: {}", moved.join(", "))
                };
                format!(
                    "`{tensor}` column `{column}`: {decision}, {reason}; psi {psi}, js {js}{t}{nulls}{moved}"
                )
            }
            Evidence::Latency { set, percentile, budget_ms, iterations } => {
                format!(
                    "golden set `{set}`: {percentile} over its budget of {} ms ({iterations} call{})",
                    budget_ms.0,
                    crate::checks::plural(*iterations as usize)
                )
            }
            Evidence::Rebuild { file, message, offset, .. } => match (file, offset) {
                (Some(f), _) => format!("file `{f}`: {message}"),
                (None, Some(o)) => format!("{message} (first difference at byte {o})"),
                (None, None) => message.clone(),
            },
            Evidence::Signature { signer, referrer, message } => {
                let who = signer.as_deref().map(|s| format!("signer {s}: ")).unwrap_or_default();
                let at = referrer.as_deref().map(|r| format!(" (referrer {r})")).unwrap_or_default();
                format!("{who}{message}{at}")
            }
        }
    }
}

impl Report {
    /// Whether a check with this ID has this status (a convenience for tests and callers).
    pub fn check(&self, id: CheckId) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The report as pretty JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every map key is a string and `Num` handles non-finite values.
        serde_json::to_string_pretty(self).map(|s| s + "\n").unwrap_or_default()
    }

    /// The report as JSON without its timings, for comparing two runs.
    pub fn to_json_without_timings(&self) -> String {
        let mut copy = self.clone();
        copy.timings = ReportTimings::default();
        for c in &mut copy.checks {
            c.timings = CheckTimings::default();
        }
        copy.to_json()
    }
}

/// The JSON Schema of [`Report`] (draft 2020-12), as published in `spec/schema/verify-report.schema.json`.
pub fn report_schema() -> String {
    let schema = schemars::schema_for!(Report);
    serde_json::to_string_pretty(&schema).map(|s| s + "\n").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_show_without_an_exponent() {
        for (v, shown) in [
            (1.0, "1"),
            (0.0, "0"),
            (190.0, "190"),
            (-3.0, "-3"),
            (0.01, "1e-2"),
            (0.123456, "1.235e-1"),
            (1.5, "1.5e0"),
            (1e20, "1e20"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(Num(v).to_string(), shown, "{v}");
        }
    }

    fn output(elements: u64, mismatches: u64) -> Evidence {
        Evidence::Output {
            set: "s".into(),
            output: "y".into(),
            passed: mismatches == 0,
            rtol: Num(1e-4),
            atol: Num(0.0),
            elements,
            mismatches,
            max_abs: Num(0.0),
            max_rel: Num(0.0),
            first_mismatch: None,
            expected: None,
            actual: None,
            problem: None,
        }
    }

    fn feature(rows: u64, total_rows: u64, first: Option<(u64, u64)>) -> Evidence {
        Evidence::Feature {
            input: "x".into(),
            feature: "a".into(),
            column: Some("a".into()),
            rule: "min".into(),
            rows,
            total_rows,
            share: Num(rows as f64 / total_rows as f64),
            first_record: first.map(|f| f.0),
            first_line: first.map(|f| f.1),
            value: first.map(|_| "-1".into()),
        }
    }

    #[test]
    fn counts_agree_with_their_nouns() {
        let errors = "max abs error 0, max rel error 0 (rtol 1e-4, atol 0)";
        assert_eq!(
            output(1, 0).describe(),
            format!("golden set `s`, output `y`: 1 element within tolerance; {errors}")
        );
        assert_eq!(
            output(3, 0).describe(),
            format!("golden set `s`, output `y`: 3 elements within tolerance; {errors}")
        );
        assert_eq!(
            output(1, 1).describe(),
            format!("golden set `s`, output `y`: 1 of 1 element out of tolerance; {errors}")
        );
        assert_eq!(
            feature(1, 1, Some((0, 2))).describe(),
            "input `x`, feature `a` (column `a`): 1 of 1 row (100.00%) breaks rule `min`; first at record 0 (line 2): -1"
        );
        assert_eq!(
            feature(2, 4, None).describe(),
            "input `x`, feature `a` (column `a`): 2 of 4 rows (50.00%) break rule `min`"
        );
        let latency = |iterations| Evidence::Latency {
            set: "s".into(),
            percentile: "p50".into(),
            budget_ms: Num(1.0),
            iterations,
        };
        assert_eq!(latency(1).describe(), "golden set `s`: p50 over its budget of 1 ms (1 call)");
        assert_eq!(latency(5).describe(), "golden set `s`: p50 over its budget of 1 ms (5 calls)");
    }
}
