//! The server's SLIs in Prometheus' text exposition format (`GET /metrics`).
//!
//! A small registry rather than a metrics crate: the families are fixed, and each sample is a label set
//! under one mutex per family, which costs far less than a request does. docs/serve.md lists every
//! family for dashboards.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Latency buckets, in seconds: 50 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

/// Batch-size buckets, in rows.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug)]
struct Family<T> {
    name: &'static str,
    help: &'static str,
    samples: Mutex<BTreeMap<Labels, T>>,
}

impl<T: Default> Family<T> {
    fn new(name: &'static str, help: &'static str) -> Family<T> {
        Family { name, help, samples: Mutex::new(BTreeMap::new()) }
    }

    fn with(&self, labels: Labels, f: impl FnOnce(&mut T)) {
        // A poisoned lock only means another thread panicked mid-update of plain numbers: keep counting.
        let mut samples = self.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(samples.entry(labels).or_default());
    }
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<u64>,
    latency: Family<Histogram>,
    batch: Family<Histogram>,
    violations: Family<u64>,
    loads: Family<u64>,
    refusals: Family<u64>,
    over_budget: Family<u64>,
    budget: Family<f64>,
    queue_depth: Family<f64>,
    inflight: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: Family::new(
                "ferry_requests_total",
                "Requests by model, version, protocol and outcome.",
            ),
            latency: Family::new(
                "ferry_request_duration_seconds",
                "Request latency by model and stage (queue, transform, inference, total).",
            ),
            batch: Family::new("ferry_batch_size", "Rows per ONNX Runtime call after dynamic batching."),
            violations: Family::new(
                "ferry_contract_violations_total",
                "Requests refused by the data contract, by model, input, feature and rule.",
            ),
            loads: Family::new(
                "ferry_model_loads_total",
                "Bundles verified and loaded, by model and version.",
            ),
            refusals: Family::new(
                "ferry_model_refusals_total",
                "Bundles not loaded (refused by a check or unreadable), by file.",
            ),
            over_budget: Family::new(
                "ferry_requests_over_budget_total",
                "Requests whose total latency exceeded the policy's p99 budget.",
            ),
            budget: Family::new(
                "ferry_latency_budget_seconds",
                "The release policy's latency budget ([perf]).",
            ),
            queue_depth: Family::new("ferry_queue_depth", "Requests waiting in a model's batching queue."),
            inflight: AtomicI64::new(0),
        }
    }
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|&(k, v)| (k, v.to_owned())).collect()
}

impl Metrics {
    /// Counts a finished request.
    pub fn request(&self, model: &str, version: &str, protocol: &str, outcome: &str) {
        let l =
            labels(&[("model", model), ("version", version), ("protocol", protocol), ("outcome", outcome)]);
        self.requests.with(l, |c| *c += 1);
    }

    /// Observes one stage's latency.
    pub fn latency(&self, model: &str, stage: &'static str, d: Duration) {
        self.latency.with(labels(&[("model", model), ("stage", stage)]), |h| {
            observe(h, LATENCY_BUCKETS, d.as_secs_f64())
        });
    }

    /// Observes the rows of one ONNX Runtime call.
    pub fn batch(&self, model: &str, rows: usize) {
        #[allow(clippy::cast_precision_loss)]
        let rows = rows as f64;
        self.batch.with(labels(&[("model", model)]), |h| observe(h, BATCH_BUCKETS, rows));
    }

    /// Counts a contract violation.
    pub fn violation(&self, model: &str, input: &str, feature: Option<&str>, rule: &str) {
        let l =
            labels(&[("model", model), ("input", input), ("feature", feature.unwrap_or("")), ("rule", rule)]);
        self.violations.with(l, |c| *c += 1);
    }

    /// Counts a bundle loaded.
    pub fn loaded(&self, model: &str, version: &str) {
        self.loads.with(labels(&[("model", model), ("version", version)]), |c| *c += 1);
    }

    /// Counts a bundle refused.
    pub fn refused(&self, file: &str) {
        self.refusals.with(labels(&[("file", file)]), |c| *c += 1);
    }

    /// Counts a request over the latency budget.
    pub fn over_budget(&self, model: &str, version: &str) {
        self.over_budget.with(labels(&[("model", model), ("version", version)]), |c| *c += 1);
    }

    /// Sets the latency budget gauge.
    pub fn set_budget(&self, quantile: &str, seconds: f64) {
        self.budget.with(labels(&[("quantile", quantile)]), |g| *g = seconds);
    }

    /// Sets a model's queue depth.
    pub fn set_queue_depth(&self, model: &str, version: &str, depth: usize) {
        #[allow(clippy::cast_precision_loss)]
        let depth = depth as f64;
        self.queue_depth.with(labels(&[("model", model), ("version", version)]), |g| *g = depth);
    }

    /// A request started; the guard ends it.
    pub fn start(&self) -> Inflight<'_> {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        Inflight(self)
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        counter(&mut out, &self.requests);
        histogram(&mut out, &self.latency, LATENCY_BUCKETS);
        histogram(&mut out, &self.batch, BATCH_BUCKETS);
        counter(&mut out, &self.violations);
        counter(&mut out, &self.loads);
        counter(&mut out, &self.refusals);
        counter(&mut out, &self.over_budget);
        gauge(&mut out, &self.budget);
        gauge(&mut out, &self.queue_depth);
        let _ = writeln!(out, "# HELP ferry_inflight_requests Requests being served now.");
        let _ = writeln!(out, "# TYPE ferry_inflight_requests gauge");
        let _ = writeln!(out, "ferry_inflight_requests {}", self.inflight.load(Ordering::Relaxed));
        out
    }
}

/// Ends an in-flight request when dropped.
#[derive(Debug)]
pub struct Inflight<'a>(&'a Metrics);

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn observe(h: &mut Histogram, buckets: &[f64], v: f64) {
    if h.counts.len() != buckets.len() {
        h.counts = vec![0; buckets.len()];
    }
    for (c, &le) in h.counts.iter_mut().zip(buckets) {
        if v <= le {
            *c += 1;
        }
    }
    h.sum += v;
    h.count += 1;
}

pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn label_text(l: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

fn header<T>(out: &mut String, f: &Family<T>, kind: &str) {
    let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
    let _ = writeln!(out, "# TYPE {} {kind}", f.name);
}

fn counter(out: &mut String, f: &Family<u64>) {
    header(out, f, "counter");
    let samples = f.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (l, v) in samples.iter() {
        let _ = writeln!(out, "{}{} {v}", f.name, label_text(l, None));
    }
}

fn gauge(out: &mut String, f: &Family<f64>) {
    header(out, f, "gauge");
    let samples = f.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (l, v) in samples.iter() {
        let _ = writeln!(out, "{}{} {v}", f.name, label_text(l, None));
    }
}

fn histogram(out: &mut String, f: &Family<Histogram>, buckets: &[f64]) {
    header(out, f, "histogram");
    let samples = f.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (l, h) in samples.iter() {
        for (i, le) in buckets.iter().enumerate() {
            let c = h.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{}_bucket{} {c}", f.name, label_text(l, Some(("le", le.to_string()))));
        }
        let _ = writeln!(out, "{}_bucket{} {}", f.name, label_text(l, Some(("le", "+Inf".into()))), h.count);
        let _ = writeln!(out, "{}_sum{} {}", f.name, label_text(l, None), h.sum);
        let _ = writeln!(out, "{}_count{} {}", f.name, label_text(l, None), h.count);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn exposition_is_cumulative_and_escaped() {
        let m = Metrics::default();
        m.latency("m\"x", "total", Duration::from_millis(2));
        m.latency("m\"x", "total", Duration::from_millis(20));
        let text = m.render();
        assert!(
            text.contains(
                r#"ferry_request_duration_seconds_bucket{model="m\"x",stage="total",le="0.0025"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"ferry_request_duration_seconds_bucket{model="m\"x",stage="total",le="+Inf"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ferry_request_duration_seconds_count{model="m\"x",stage="total"} 2"#),
            "{text}"
        );
    }
}
