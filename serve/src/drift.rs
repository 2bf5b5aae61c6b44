//! Drift over a sliding window: each served model's streaming profile
//! ([`Model::drift`](ferry::runtime::Model::drift)) compared with its bundle's reference, for
//! `/metrics` and `GET /v2/models/{m}/drift`.
//!
//! Snapshots of the model's counters are taken when either is asked for (never more often than a
//! tenth of the window), and the window is the difference between now and the newest snapshot at
//! least a window old (the oldest kept, until one is): no background task, and at most a dozen
//! snapshots per model whatever the traffic.

use crate::metrics::escape as esc;
use crate::repository::Served;
use ferry_drift::{ColumnDrift, Decision, DriftPolicy, Snapshot};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// A model and its snapshots, oldest first.
type Ring = (Arc<Served>, VecDeque<(Instant, Snapshot)>);

/// A metric family of the drift window: name, help, and how it gives a model's samples (each its
/// own labels and value) to the writer.
type DriftFamily<'a> = (&'a str, &'a str, &'a dyn Fn(&WindowReport, &mut dyn FnMut(&[(&str, &str)], f64)));

/// The windows of every served model.
#[derive(Debug)]
pub(crate) struct Windows {
    window: Duration,
    policy: DriftPolicy,
    /// `(name, version)` → the model it was taken of, and its snapshots, oldest first.
    by_model: Mutex<BTreeMap<(String, String), Ring>>,
}

/// A model's window compared with its reference.
#[derive(Debug)]
pub(crate) struct WindowReport {
    pub seconds: f64,
    pub window: Snapshot,
    pub features: Vec<ColumnDrift>,
    pub predictions: Vec<ColumnDrift>,
    pub state_bytes: usize,
}

impl Windows {
    pub fn new(window: Duration, policy: DriftPolicy) -> Windows {
        Windows { window: window.max(Duration::from_secs(1)), policy, by_model: Mutex::new(BTreeMap::new()) }
    }

    /// The window of `served`, `None` when its bundle has no reference profile.
    pub fn report(&self, served: &Arc<Served>) -> Option<WindowReport> {
        let live = served.model.drift()?;
        let now = Instant::now();
        let snapshot = live.snapshot();
        let mut map = self.by_model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (served.name.clone(), served.version.clone());
        let entry = map.entry(key).or_insert_with(|| (Arc::clone(served), VecDeque::new()));
        if !Arc::ptr_eq(&entry.0, served) {
            // A reloaded bundle: a new model, new counters.
            *entry = (Arc::clone(served), VecDeque::new());
        }
        let ring = &mut entry.1;
        let step = self.window / 10;
        if ring.back().is_none_or(|(t, _)| now.duration_since(*t) >= step) {
            ring.push_back((now, snapshot.clone()));
        }
        // Keep the newest snapshot at least a window old as the base, and everything after it.
        while ring.len() > 1 && ring.get(1).is_some_and(|(t, _)| now.duration_since(*t) >= self.window) {
            ring.pop_front();
        }
        let (since, base) = match ring.front() {
            Some((t, s)) if ring.len() > 1 || now.duration_since(*t) >= self.window => (*t, s.clone()),
            // Nothing older yet: the window is everything since the model opened.
            _ => (now, Snapshot::default()),
        };
        let window = snapshot.since(&base);
        let (features, predictions) = live.compare(&window, &self.policy).ok()?;
        Some(WindowReport {
            seconds: now.duration_since(since).as_secs_f64(),
            window,
            features,
            predictions,
            state_bytes: live.state_bytes(),
        })
    }

    /// Forgets models no longer served.
    pub fn retain(&self, served: &[Arc<Served>]) {
        let mut map = self.by_model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (s, _)| served.iter().any(|x| Arc::ptr_eq(x, s)));
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

impl WindowReport {
    /// Refusals per `(input, feature, rule)` as shares of the window's calls.
    fn refusal_shares(&self) -> Vec<(&(String, String, String), u64, f64)> {
        let calls = self.window.calls.max(1) as f64;
        self.window.refusals.iter().map(|(k, n)| (k, *n, *n as f64 / calls)).collect()
    }

    /// The JSON of `GET /v2/models/{m}/drift`.
    pub fn json(&self, served: &Served) -> Value {
        let refusals: Vec<Value> = self
            .refusal_shares()
            .into_iter()
            .map(|((input, feature, rule), n, share)| {
                json!({"input": input, "feature": feature, "rule": rule, "requests": n, "share": share})
            })
            .collect();
        json!({
            "model": served.name,
            "version": served.version,
            "window_seconds": self.seconds,
            "requests": self.window.calls,
            "refused": self.window.refused,
            "refusals": refusals,
            "state_bytes": self.state_bytes,
            "drifted": self.features.iter().chain(&self.predictions).any(|c| c.decision == Decision::Drift),
            "features": self.features,
            "predictions": self.predictions,
        })
    }
}

/// The drift families of `/metrics`, for every served model with a reference profile.
pub(crate) fn render(out: &mut String, reports: &[(Arc<Served>, WindowReport)]) {
    if reports.is_empty() {
        return;
    }
    let families: [DriftFamily<'_>; 7] = [
        (
            "ferry_feature_drift_psi",
            "PSI of each feature over the drift window against the bundle's reference profile.",
            &|r, put| {
                r.features.iter().for_each(|c| put(&[("feature", &c.name)], finite(c.psi)));
            },
        ),
        (
            "ferry_feature_drift_js",
            "Jensen-Shannon distance of each feature over the drift window.",
            &|r, put| {
                r.features.iter().for_each(|c| put(&[("feature", &c.name)], finite(c.js)));
            },
        ),
        (
            "ferry_prediction_drift_psi",
            "PSI of each output column over the drift window against the reference's predictions.",
            &|r, put| {
                r.predictions.iter().for_each(|c| put(&[("output", &c.name)], finite(c.psi)));
            },
        ),
        (
            "ferry_feature_null_share",
            "Share of null (missing) values of each feature over the drift window.",
            &|r, put| {
                r.features.iter().for_each(|c| put(&[("feature", &c.name)], finite(c.null_share)));
            },
        ),
        (
            "ferry_contract_refusal_share",
            "Share of the window's requests the data contract refused, by input, feature and rule.",
            &|r, put| {
                for ((input, feature, rule), _, share) in r.refusal_shares() {
                    put(&[("input", input), ("feature", feature), ("rule", rule)], share);
                }
            },
        ),
        ("ferry_drift_window_requests", "Requests (accepted and refused) in the drift window.", &|r, put| {
            put(&[], r.window.calls as f64);
        }),
        (
            "ferry_drift_state_bytes",
            "Memory the model's streaming profile holds, fixed when it opens.",
            &|r, put| {
                put(&[], r.state_bytes as f64);
            },
        ),
    ];
    for (name, help, samples) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (s, r) in reports {
            // Every sample of a model: its name and version, then the family's own labels.
            let mut put = |labels: &[(&str, &str)], value: f64| {
                let _ = write!(out, "{name}{{model=\"{}\",version=\"{}\"", esc(&s.name), esc(&s.version));
                for (k, v) in labels {
                    let _ = write!(out, ",{k}=\"{}\"", esc(v));
                }
                let _ = writeln!(out, "}} {value}");
            };
            samples(r, &mut put);
        }
    }
}
