//! `drift.features` and `drift.predictions`: the `--data` sample compared with the reference profile
//! the bundle carries (FORMAT.md §3.9), column by column, under the policy's `[drift]` table. The
//! predictions are the model's outputs on the sample's rows that the contract accepts.
//!
//! [`run`] is also `ferry drift`'s library call ([`crate::drift`]).

use super::data::DataFile;
use super::{Context, plural};
use crate::{Evidence, Num, Outcome, VerifyError};
use ferry_bundle::Bundle;
use ferry_drift::{ColumnDrift, Decision, FeatureTable, Profile, observe};
use ferry_runtime::Model;
use ferry_spec::policy::{CheckId, DriftPolicy};
use serde::Serialize;

/// The comparison of a data sample with a bundle's reference profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// The data file.
    pub data: String,
    /// Records in it.
    pub rows: usize,
    /// Records the contract accepted, which the model scored for the predictions.
    pub scored: usize,
    /// Per feature, in contract order.
    pub features: Vec<ColumnDrift>,
    /// Per output column.
    pub predictions: Vec<ColumnDrift>,
    /// Why the predictions could not be compared, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions_error: Option<String>,
}

impl DriftReport {
    /// Whether no column drifted (warnings allowed).
    pub fn passed(&self) -> bool {
        self.predictions_error.is_none() && self.features.iter().chain(&self.predictions).all(|c| !fails(c))
    }
}

fn fails(c: &ColumnDrift) -> bool {
    matches!(c.decision, Decision::Drift | Decision::NoData)
}

/// The profile a bundle carries, or why it has none / it cannot be read.
pub(crate) fn profile_of(b: &Bundle) -> Result<Option<Profile>, String> {
    let Some(r) = &b.manifest().reference else { return Ok(None) };
    let bytes = b.file(&r.profile).map_err(|e| format!("`{}`: {e}", r.profile))?;
    Profile::from_json(&bytes).map(Some).map_err(|e| format!("`{}`: {e}", r.profile))
}

/// Compares `data` with `profile`; `model` scores the rows for the predictions (`None`: why not).
pub(crate) fn run(
    b: &Bundle,
    profile: &Profile,
    data: &DataFile,
    model: Result<&Model, String>,
    policy: &DriftPolicy,
) -> Result<DriftReport, String> {
    let m = b.manifest();
    let columns = ferry_contract::sample::FeatureColumn::all(&m.inputs);
    let table = data.table(&columns)?;
    let features = FeatureTable::new(&m.inputs, &table);
    let mut predictions_error = None;
    let mut scored = 0;
    let produced = if profile.predictions.is_empty() {
        None
    } else {
        let scored_batch = model.and_then(|model| {
            let (batch, kept) = features.batch(&m.inputs)?;
            if kept.is_empty() {
                return Err("no record of the sample satisfies the contract, so the model scored none".into());
            }
            model
                .infer_in_batches(&batch, ferry_runtime::SAMPLE_BATCH_ROWS)
                .map(|out| (out, kept.len()))
                .map_err(|e| format!("running the model on the sample: {e}"))
        });
        match scored_batch {
            Ok((out, n)) => {
                scored = n;
                Some(out)
            }
            Err(e) => {
                predictions_error = Some(e);
                None
            }
        }
    };
    let (f, p) = observe(profile, &features, produced.as_ref());
    let (features_drift, mut predictions) =
        ferry_drift::compare_profile(profile, &f, &p, policy).map_err(|e| e.to_string())?;
    if predictions_error.is_some() {
        predictions.clear();
    }
    Ok(DriftReport {
        data: data.path.display().to_string(),
        rows: table.rows.len(),
        scored,
        features: features_drift,
        predictions,
        predictions_error,
    })
}

/// A column's comparison as report evidence.
fn evidence(c: &ColumnDrift) -> Evidence {
    let test = c.ks.or(c.chi2);
    Evidence::Drift {
        tensor: c.tensor.clone(),
        column: c.name.clone(),
        column_kind: c.kind.name().into(),
        decision: match c.decision {
            Decision::Stable => "stable",
            Decision::Warn => "warn",
            Decision::Drift => "drift",
            Decision::NoData => "no_data",
        }
        .into(),
        reason: c.reason.clone(),
        method: c.method.name().into(),
        threshold: Num(c.threshold),
        psi: Num(c.psi),
        js: Num(c.js),
        test: test.map(|_| if c.ks.is_some() { "ks" } else { "chi2" }.to_owned()),
        statistic: test.map(|t| Num(t.statistic)),
        p_value: test.map(|t| Num(t.p_value)),
        p_adjusted: test.map(|t| Num(t.p_adjusted)),
        rows: c.count,
        null_share: Num(c.null_share),
        reference_null_share: Num(c.reference_null_share),
        moved: c
            .moved
            .iter()
            .map(|m| crate::MovedBucket {
                bucket: m.bucket.clone(),
                reference: Num(m.reference),
                current: Num(m.current),
                psi: Num(m.psi),
            })
            .collect(),
    }
}

/// The outcome of one side (features or predictions).
fn outcome(what: &str, columns: &[ColumnDrift], rows: usize) -> Outcome {
    let evidence: Vec<Evidence> = columns.iter().map(evidence).collect();
    let failing: Vec<&ColumnDrift> = columns.iter().filter(|c| fails(c)).collect();
    let warned = columns.iter().filter(|c| c.decision == Decision::Warn).count();
    let n = columns.len();
    let rows = format!("{rows} row{}", plural(rows));
    if failing.is_empty() {
        let warn = if warned > 0 { format!("; {warned} at the PSI warning level") } else { String::new() };
        return Outcome::passed(format!(
            "{n} {what}{} within the reference's thresholds ({rows}){warn}",
            plural(n)
        ))
        .with_evidence(evidence);
    }
    let named: Vec<String> = failing.iter().map(|c| format!("`{}` ({})", c.name, c.reason)).collect();
    Outcome::failed(
        format!(
            "{} of {n} {what}{} drifted from the reference ({rows}): {}",
            failing.len(),
            plural(n),
            named.join(", ")
        ),
        evidence,
    )
}

impl Context<'_> {
    /// The comparison, computed once for both checks.
    fn drift_report(&mut self, id: CheckId) -> Result<&DriftReport, Outcome> {
        let b = self.need_content(id)?;
        let profile = match profile_of(b) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(Outcome::skipped("skipped: the bundle has no reference profile ([reference])"));
            }
            Err(e) => {
                return Err(Outcome::failed(
                    "the reference profile cannot be read",
                    vec![Evidence::Error { message: e }],
                ));
            }
        };
        if self.data.is_none() {
            return Err(Outcome::skipped("skipped: no --data file given"));
        }
        if self.drift.is_none() {
            let policy = self.options.policy.drift.clone();
            // Opened once for every check that runs the model (golden.outputs may have already).
            let opened = self.model().map(|_| ());
            let model = match (&self.model, opened) {
                (Some(Ok(m)), Ok(())) => Ok(m),
                (_, Err(e)) => Err(e),
                _ => Err("the model could not be opened".to_owned()),
            };
            let report = match (&self.data, self.bundle()) {
                (Some(data), Some(b)) => run(b, &profile, data, model, &policy),
                _ => Err("the bundle could not be opened".into()),
            };
            self.drift = Some(report);
        }
        match &self.drift {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(Outcome::failed(
                "the data sample cannot be compared with the reference",
                vec![Evidence::Error { message: e.clone() }],
            )),
            None => Err(Outcome::skipped("skipped")),
        }
    }

    pub(super) fn drift_features(&mut self) -> Outcome {
        match self.drift_report(CheckId::DriftFeatures) {
            Ok(r) => outcome("feature", &r.features, r.rows),
            Err(o) => o,
        }
    }

    pub(super) fn drift_predictions(&mut self) -> Outcome {
        let r = match self.drift_report(CheckId::DriftPredictions) {
            Ok(r) => r,
            Err(o) => return o,
        };
        if let Some(e) = &r.predictions_error {
            return Outcome::failed(
                "the model's outputs on the sample cannot be compared with the reference",
                vec![Evidence::Error { message: e.clone() }],
            );
        }
        if r.predictions.is_empty() {
            return Outcome::skipped("skipped: the reference profile has no predictions");
        }
        outcome("prediction column", &r.predictions, r.scored)
    }
}

/// `ferry drift B --data FILE`: the bundle opened through the runtime (digests, pins; the model
/// scores the sample for the predictions), or without it when ONNX Runtime cannot load (the features
/// are compared, the predictions reported as not compared), and the sample compared with the bundle's
/// reference profile.
pub fn drift(
    bundle: &std::path::Path,
    data: &std::path::Path,
    policy: &DriftPolicy,
) -> Result<DriftReport, VerifyError> {
    let data = DataFile::load(data)?;
    let err = |message: String| VerifyError::Drift { path: bundle.to_path_buf(), message };
    let options = ferry_runtime::OpenOptions { env: Some(Vec::new()), ..Default::default() };
    let model = ferry_runtime::Runtime::new(ferry_runtime::RuntimeOptions::default())
        .and_then(|rt| rt.open(bundle, &options))
        .map_err(|e| e.to_string());
    let opened;
    let b = match model.as_ref().ok().and_then(Model::bundle) {
        Some(b) => b,
        None => {
            let b = Bundle::open(bundle).map_err(|e| err(e.to_string()))?;
            b.verify_digests().map_err(|e| err(e.to_string()))?;
            opened = b;
            &opened
        }
    };
    let profile = profile_of(b)
        .map_err(err)?
        .ok_or_else(|| err("the bundle has no reference profile ([reference] in its ferry.toml)".into()))?;
    run(b, &profile, &data, model.as_ref().map_err(Clone::clone), policy).map_err(err)
}
