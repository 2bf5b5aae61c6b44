//! `golden.outputs` and `perf.latency`: the checks that run the model through ferry-runtime. They belong
//! together because both open the model once, with the bundle's own default configuration, and feed it
//! the golden inputs: one compares what it returns, the other times it.

use super::{Context, plural, read_values, summarize_cases};
use crate::{Case, Evidence, LatencyTiming, Num, Outcome, Status};
use ferry_bundle::Bundle;
use ferry_contract::{compare, compare_values};
use ferry_runtime::{Model, OpenOptions};
use ferry_spec::policy::{CheckId, PerfBudget, Policy};
use ferry_spec::{GoldenSet, GoldenSide, Manifest};
use ferry_tensor::{Value, ValueMap};
use std::time::Instant;

impl Context<'_> {
    /// The model, opened once through the runtime with the bundle's own default configuration (the
    /// environment's `FERRY_CONFIG__*` variables must not change what CI verifies).
    pub(super) fn model(&mut self) -> Result<&Model, String> {
        if self.model.is_none() {
            let path = self.path;
            let opened = self.runtime().and_then(|rt| {
                rt.open(path, &OpenOptions { env: Some(Vec::new()), ..OpenOptions::default() })
                    .map_err(|e| format!("the runtime refused the bundle: {e}"))
            });
            self.model = Some(opened);
        }
        match &self.model {
            Some(Ok(m)) => Ok(m),
            Some(Err(e)) => Err(e.clone()),
            None => Err("the model could not be opened".into()),
        }
    }

    pub(super) fn golden_outputs(&mut self) -> Outcome {
        match self.need_content(CheckId::GoldenOutputs) {
            Ok(b) if b.manifest().golden.is_empty() => {
                return Outcome::skipped("skipped: the bundle has no golden sets");
            }
            Ok(_) => {}
            Err(o) => return o,
        }
        if let Err(e) = self.model() {
            return Outcome::failed("the golden sets could not be run", vec![Evidence::Error { message: e }]);
        }
        let (Some(b), Some(Ok(model))) = (self.bundle(), &self.model) else {
            return Outcome::skipped("skipped: the bundle could not be opened");
        };
        let policy = &self.options.policy;
        let m = b.manifest();
        let cases: Vec<Case> = m
            .golden
            .iter()
            .map(|g| match g.records {
                Some(_) => super::transform::run_record_set(b, m, model, policy, g),
                None => run_golden_set(b, m, model, policy, g),
            })
            .collect();
        summarize_cases(cases, "golden set", ["reproduces its outputs", "reproduce their outputs"])
    }

    pub(super) fn perf_latency(&mut self) -> Outcome {
        let Some(budget) = self.options.policy.perf.clone() else {
            return Outcome::skipped("skipped: the policy sets no latency budget ([perf])");
        };
        match self.need_content(CheckId::PerfLatency) {
            Ok(b) if b.manifest().golden.is_empty() => {
                return Outcome::skipped("skipped: the bundle has no golden inputs to time");
            }
            Ok(_) => {}
            Err(o) => return o,
        }
        if let Err(e) = self.model() {
            return Outcome::failed(
                "the golden inputs could not be run",
                vec![Evidence::Error { message: e }],
            );
        }
        let (Some(b), Some(Ok(model))) = (self.bundle(), &self.model) else {
            return Outcome::skipped("skipped: the bundle could not be opened");
        };
        let m = b.manifest();
        let mut cases = Vec::new();
        let mut latency = Vec::new();
        // Record sets are timed by the benchmarks, not here: the budget is the model's.
        for g in m.golden.iter().filter(|g| g.has_tensors()) {
            let (case, timing) = time_golden_set(b, m, model, &budget, g);
            cases.push(case);
            latency.extend(timing);
        }
        let within = match (budget.p50_ms, budget.p99_ms) {
            (Some(p50), Some(p99)) => format!(" within p50 {p50} ms and p99 {p99} ms"),
            (Some(p50), None) => format!(" within p50 {p50} ms"),
            (None, Some(p99)) => format!(" within p99 {p99} ms"),
            (None, None) => String::new(),
        };
        let verb = if within.is_empty() {
            ["was timed".to_owned(), "were timed".to_owned()]
        } else {
            [format!("stays{within}"), format!("stay{within}")]
        };
        let mut outcome = summarize_cases(cases, "golden set", [&verb[0], &verb[1]]);
        outcome.latency = latency;
        outcome
    }
}

fn run_golden_set(b: &Bundle, m: &Manifest, model: &Model, policy: &Policy, g: &GoldenSet) -> Case {
    let fail = |message: String, evidence: Vec<Evidence>| Case {
        name: g.name.clone(),
        status: Status::Failed,
        message,
        evidence,
    };
    let (input_file, expected_file) = (g.side(GoldenSide::Inputs), g.side(GoldenSide::Outputs));
    let inputs = match read_values(b, input_file, &m.inputs) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                format!("`{}` cannot be read", input_file.path),
                vec![Evidence::Error { message: e }],
            );
        }
    };
    let expected = match read_values(b, expected_file, &m.outputs) {
        Ok(t) => t,
        Err(e) => {
            let path = expected_file.path;
            return fail(format!("`{path}` cannot be read"), vec![Evidence::Error { message: e }]);
        }
    };
    let actual = match model.infer_values(&inputs) {
        Ok(a) => a,
        Err(e) => return fail("inference failed".into(), vec![Evidence::Error { message: e.to_string() }]),
    };
    let mut evidence = Vec::with_capacity(m.outputs.len());
    for spec in &m.outputs {
        // Integers, booleans and strings compare exactly, whatever tolerance a policy sets: the evidence
        // says so rather than show a tolerance that was not applied.
        let (rtol, atol) = if spec.dtype.is_float() {
            policy.tolerance(g, model.device().kind(), &spec.name, spec.dtype)
        } else {
            (0.0, 0.0)
        };
        evidence.push(output_evidence(g, &spec.name, rtol, atol, &expected, &actual));
    }
    let failed: Vec<&Evidence> =
        evidence.iter().filter(|e| matches!(e, Evidence::Output { passed: false, .. })).collect();
    match failed.first() {
        None => Case {
            name: g.name.clone(),
            status: Status::Passed,
            message: format!("{} output{} within tolerance", evidence.len(), plural(evidence.len())),
            evidence,
        },
        Some(first) => {
            let message = match (failed.len(), first) {
                (1, Evidence::Output { output, problem: Some(p), .. }) => format!("output `{output}`: {p}"),
                (1, Evidence::Output { output, mismatches, elements, .. }) => {
                    let s = plural(*elements as usize);
                    format!("output `{output}`: {mismatches} of {elements} element{s} out of tolerance")
                }
                (n, _) => format!("{n} outputs out of tolerance"),
            };
            Case { name: g.name.clone(), status: Status::Failed, message, evidence }
        }
    }
}

pub(super) fn output_evidence(
    g: &GoldenSet,
    name: &str,
    rtol: f64,
    atol: f64,
    expected: &ValueMap,
    actual: &ValueMap,
) -> Evidence {
    let base = |elements: u64, problem: Option<String>| Evidence::Output {
        set: g.name.clone(),
        output: name.into(),
        passed: false,
        rtol: Num(rtol),
        atol: Num(atol),
        elements,
        mismatches: 0,
        max_abs: Num(0.0),
        max_rel: Num(0.0),
        first_mismatch: None,
        expected: None,
        actual: None,
        problem,
    };
    let Some(e) = expected.get(name) else {
        let file = g.side(GoldenSide::Outputs);
        let within = if file.combined { " in `outputs`" } else { "" };
        return base(0, Some(format!("`{}` has no tensor `{name}`{within}", file.path)));
    };
    let Some(a) = actual.get(name) else {
        return base(e.compared_elements() as u64, Some("the model did not produce this output".into()));
    };
    let (Value::Tensor(e), Value::Tensor(a)) = (e, a) else {
        // A sequence, map or optional: its structure and keys exactly, its values with the tolerances.
        let c = compare_values(e, a, rtol, atol);
        let first = c.first_mismatch.clone();
        return Evidence::Output {
            set: g.name.clone(),
            output: name.into(),
            passed: c.pass,
            rtol: Num(rtol),
            atol: Num(atol),
            elements: e.compared_elements() as u64,
            mismatches: c.mismatches as u64,
            max_abs: Num(c.max_abs),
            max_rel: Num(c.max_rel),
            first_mismatch: first.as_ref().map(|m| m.index.iter().map(|&i| i as u64).collect()),
            expected: first.as_ref().map(|m| m.expected.clone()),
            actual: first.map(|m| m.actual),
            problem: c.structure,
        };
    };
    let c = compare(e, a, rtol, atol);
    let (first_mismatch, exp, act) = match c.first_mismatch {
        Some(m) => {
            let flat = flat_index(&e.shape, &m.index);
            let exp = flat.and_then(|i| element_text(e, i)).unwrap_or(m.expected);
            let act = flat.and_then(|i| element_text(a, i)).unwrap_or(m.actual);
            (Some(m.index.iter().map(|&i| i as u64).collect()), Some(exp), Some(act))
        }
        None => (None, None, None),
    };
    Evidence::Output {
        set: g.name.clone(),
        output: name.into(),
        passed: c.pass,
        rtol: Num(rtol),
        atol: Num(atol),
        elements: e.len() as u64,
        mismatches: c.mismatches as u64,
        max_abs: Num(c.max_abs),
        max_rel: Num(c.max_rel),
        first_mismatch,
        expected: exp,
        actual: act,
        problem: c.structure,
    }
}

fn flat_index(shape: &[usize], index: &[usize]) -> Option<usize> {
    if shape.len() != index.len() {
        return None;
    }
    shape.iter().zip(index).try_fold(0usize, |acc, (&d, &i)| acc.checked_mul(d)?.checked_add(i))
}

/// A floating-point element in its own width's shortest form (`0.014141551`, not the float64 widening
/// `0.014141551218926907`), so the report shows the numbers as the golden file and the model hold them.
fn element_text(t: &ferry_tensor::Tensor, i: usize) -> Option<String> {
    use ferry_tensor::TensorData;
    match &t.data {
        TensorData::F16(v) => v.get(i).map(ToString::to_string),
        TensorData::F32(v) => v.get(i).map(ToString::to_string),
        TensorData::F64(v) => v.get(i).map(ToString::to_string),
        TensorData::BF16(v) => v.get(i).map(ToString::to_string),
        TensorData::F8E4M3FN(v) => v.get(i).map(ToString::to_string),
        TensorData::F8E4M3FNUZ(v) => v.get(i).map(ToString::to_string),
        TensorData::F8E5M2(v) => v.get(i).map(ToString::to_string),
        TensorData::F8E5M2FNUZ(v) => v.get(i).map(ToString::to_string),
        _ => None,
    }
}

fn time_golden_set(
    b: &Bundle,
    m: &Manifest,
    model: &Model,
    budget: &PerfBudget,
    g: &GoldenSet,
) -> (Case, Option<LatencyTiming>) {
    let fail = |message: String| Case {
        name: g.name.clone(),
        status: Status::Failed,
        message: message.clone(),
        evidence: vec![Evidence::Error { message }],
    };
    let file = g.side(GoldenSide::Inputs);
    let inputs = match read_values(b, file, &m.inputs) {
        Ok(t) => t,
        Err(e) => return (fail(format!("`{}` cannot be read: {e}", file.path)), None),
    };
    // A model of plain tensors is timed on the path hosts call, without wrapping its tensors as values.
    let tensors = ferry_tensor::tensors_from_values(inputs.clone()).ok();
    let call = || match &tensors {
        Some(t) => model.infer(t).map(drop),
        None => model.infer_values(&inputs).map(drop),
    };
    for _ in 0..budget.warmup {
        if let Err(e) = call() {
            return (fail(format!("inference failed: {e}")), None);
        }
    }
    let iterations = budget.iterations.max(1);
    let mut samples = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
        let t0 = Instant::now();
        if let Err(e) = call() {
            return (fail(format!("inference failed: {e}")), None);
        }
        samples.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    let timing = LatencyTiming {
        set: g.name.clone(),
        iterations,
        p50_ms: percentile(&samples, 0.50),
        p99_ms: percentile(&samples, 0.99),
        min_ms: samples.first().copied().unwrap_or(0.0),
        max_ms: samples.last().copied().unwrap_or(0.0),
    };
    let mut evidence = Vec::new();
    for (name, limit, value) in [("p50", budget.p50_ms, timing.p50_ms), ("p99", budget.p99_ms, timing.p99_ms)]
    {
        if let Some(limit) = limit
            && value > limit
        {
            evidence.push(Evidence::Latency {
                set: g.name.clone(),
                percentile: name.into(),
                budget_ms: Num(limit),
                iterations,
            });
        }
    }
    // Messages leave the measured numbers to `timings`, so that the rest of the report stays deterministic.
    let case = if evidence.is_empty() {
        Case { name: g.name.clone(), status: Status::Passed, message: "within budget".into(), evidence }
    } else {
        let over: Vec<String> = evidence
            .iter()
            .filter_map(|e| match e {
                Evidence::Latency { percentile, budget_ms, .. } => {
                    Some(format!("{percentile} over {} ms", budget_ms.0))
                }
                _ => None,
            })
            .collect();
        Case { name: g.name.clone(), status: Status::Failed, message: over.join(", "), evidence }
    };
    (case, Some(timing))
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(sorted.len() - 1)).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 0.5), 50.0);
        assert_eq!(percentile(&s, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
