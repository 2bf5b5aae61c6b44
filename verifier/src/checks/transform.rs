//! `artifact.transform` (the components are the ones pinned and stay inside the sandbox's imports),
//! `contract.records` (golden records and decisions against the bundle's schemas) and the record sets
//! of `golden.outputs` (records through the transforms and the model, compared with the decisions and
//! tensors they must give). They belong together because they read the same `[transform]` section.

use super::{Context, plural, read_values, summarize_cases};
use crate::{Case, Evidence, Outcome, Status};
use ferry_bundle::Bundle;
use ferry_spec::config::ConfigSchema;
use ferry_spec::policy::{CheckId, Policy};
use ferry_spec::{GoldenSet, GoldenSide, Manifest};
use serde_json::Value;

impl Context<'_> {
    pub(super) fn artifact_transform(&mut self) -> Outcome {
        let b = match self.need_content(CheckId::ArtifactTransform) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let Some(t) = &b.manifest().transform else {
            return Outcome::skipped("skipped: the bundle has no feature transforms");
        };
        let mut evidence = Vec::new();
        for (key, path) in [("prepare", &t.section.prepare), ("decide", &t.section.decide)] {
            if let Some(path) = path
                && !t.components.iter().any(|c| &c.path == path)
            {
                evidence.push(Evidence::Pin {
                    pin: format!("transform.components ({key})"),
                    required: path.clone(),
                    found: "-".into(),
                });
            }
        }
        for pin in &t.components {
            let bytes = match b.file(&pin.path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    evidence.push(Evidence::Error { message: format!("`{}`: {e}", pin.path) });
                    continue;
                }
            };
            let info = match ferry_transform::describe(&bytes) {
                Ok(info) => info,
                Err(e) => {
                    let message = format!("`{}` is not a valid WebAssembly component: {e}", pin.path);
                    evidence.push(Evidence::Error { message });
                    continue;
                }
            };
            let sha = super::sha256_digest(&bytes);
            let found = [
                ("sha256", format!("sha256:{}", pin.sha256), sha),
                ("exports", pin.exports.join(", "), info.exports.join(", ")),
                ("imports", pin.imports.join(", "), info.imports.join(", ")),
            ];
            for (what, required, found) in found {
                if required != found {
                    evidence.push(Evidence::Pin { pin: format!("{}.{what}", pin.path), required, found });
                }
            }
            for (key, path) in [("prepare", &t.section.prepare), ("decide", &t.section.decide)] {
                if path.as_deref() == Some(pin.path.as_str()) && !info.exports.iter().any(|e| e == key) {
                    evidence.push(Evidence::Pin {
                        pin: format!("{}.exports", pin.path),
                        required: key.into(),
                        found: info.exports.join(", "),
                    });
                }
            }
            for foreign in info.foreign_imports() {
                evidence.push(Evidence::Pin {
                    pin: format!("{}.imports", pin.path),
                    required: "WASI 0.2 or ferry:transform@0.1".into(),
                    found: foreign.into(),
                });
            }
        }
        let n = t.components.len();
        match evidence.len() {
            0 => Outcome::passed(format!(
                "{n} component{} as pinned, exporting {} stage and importing only WASI 0.2",
                plural(n),
                if n == 1 { "its" } else { "their" }
            )),
            k => Outcome::failed(format!("{k} problem{} with the feature transforms", plural(k)), evidence),
        }
    }

    pub(super) fn contract_records(&mut self) -> Outcome {
        let b = match self.need_content(CheckId::ContractRecords) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let m = b.manifest();
        let sets: Vec<&GoldenSet> = m.golden.iter().filter(|g| g.records.is_some()).collect();
        if sets.is_empty() {
            return Outcome::skipped("skipped: the bundle has no golden records");
        }
        let section = m.transform.as_ref().map(|t| &t.section);
        let records = match schema(b, section.and_then(|s| s.records.as_deref())) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::failed(
                    "the records schema cannot be used",
                    vec![Evidence::Error { message: e }],
                );
            }
        };
        let results = match schema(b, section.and_then(|s| s.results.as_deref())) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::failed(
                    "the results schema cannot be used",
                    vec![Evidence::Error { message: e }],
                );
            }
        };
        let cases: Vec<Case> =
            sets.into_iter().map(|g| records_conformance(b, g, &records, &results)).collect();
        summarize_cases(cases, "golden set", ["satisfies the schemas", "satisfy the schemas"])
    }
}

fn schema(b: &Bundle, path: Option<&str>) -> Result<Option<(String, ConfigSchema)>, String> {
    let Some(path) = path else { return Ok(None) };
    let bytes = b.file(path).map_err(|e| format!("`{path}`: {e}"))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| format!("`{path}`: not JSON: {e}"))?;
    ConfigSchema::compile(&value).map(|s| Some((path.to_owned(), s))).map_err(|e| format!("`{path}`: {e}"))
}

/// The lines of a JSON-lines file of the bundle that hold something, with their 1-based numbers.
fn jsonl(b: &Bundle, path: &str) -> Result<Vec<(usize, String)>, String> {
    let bytes = b.file(path).map_err(|e| format!("`{path}`: {e}"))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| format!("`{path}`: not UTF-8 (byte offset {})", e.valid_up_to()))?;
    Ok(ferry_contract::records::lines(text).map(|(n, l)| (n, l.to_owned())).collect())
}

fn records_conformance(
    b: &Bundle,
    g: &GoldenSet,
    records: &Option<(String, ConfigSchema)>,
    results: &Option<(String, ConfigSchema)>,
) -> Case {
    let mut evidence = Vec::new();
    let mut counts = [0usize; 2];
    for (i, (file, compiled)) in [(&g.records, records), (&g.decisions, results)].into_iter().enumerate() {
        let Some(file) = file else { continue };
        let lines = match jsonl(b, file) {
            Ok(l) => l,
            Err(message) => {
                evidence.push(Evidence::Error { message });
                continue;
            }
        };
        counts[i] = lines.len();
        for (n, line) in lines {
            let document = format!("{file} line {n}");
            let value: Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(e) => {
                    evidence.push(super::schema_ev(&document, "", "json", format!("not JSON: {e}")));
                    continue;
                }
            };
            if i == 0 && !value.is_object() {
                evidence.push(super::schema_ev(&document, "", "type", "a record is a JSON object".into()));
                continue;
            }
            if let Some((_, s)) = compiled
                && let Err(violations) = s.validate(&value)
            {
                for v in violations {
                    evidence.push(super::schema_ev(&document, &v.pointer, &v.rule, v.message));
                }
            }
        }
    }
    if g.decisions.is_some() && counts[0] != counts[1] {
        evidence.push(Evidence::Error {
            message: format!("{} decisions for {} records: one per record, in order", counts[1], counts[0]),
        });
    }
    let status = if evidence.is_empty() { Status::Passed } else { Status::Failed };
    let message = match evidence.first() {
        None => format!("{} record{} and their decisions satisfy the schemas", counts[0], plural(counts[0])),
        Some(e) => e.describe(),
    };
    Case { name: g.name.clone(), status, message, evidence }
}

/// Runs a set of golden records through the transforms and the model, and compares what each step
/// made with what the set says it must: `inputs` (prepare's tensors), `expected` (the model's outputs)
/// and `decisions` (decide's results, field by field, numbers within the set's tolerance).
pub(super) fn run_record_set(
    b: &Bundle,
    m: &Manifest,
    model: &ferry_runtime::Model,
    policy: &Policy,
    g: &GoldenSet,
) -> Case {
    let fail = |message: String, evidence: Vec<Evidence>| Case {
        name: g.name.clone(),
        status: Status::Failed,
        message,
        evidence,
    };
    let path = g.records.as_deref().unwrap_or_default();
    let records: Vec<String> = match jsonl(b, path) {
        Ok(lines) => lines.into_iter().map(|(_, l)| l).collect(),
        Err(e) => return fail(format!("`{path}` cannot be read"), vec![Evidence::Error { message: e }]),
    };
    let run = match run_records(model, &records) {
        Ok(run) => run,
        Err(e) => return fail("the records could not be run".into(), vec![Evidence::Error { message: e }]),
    };
    let mut evidence = Vec::new();
    for (side, specs, actual) in
        [(GoldenSide::Inputs, &m.inputs, &run.0), (GoldenSide::Outputs, &m.outputs, &run.1)]
    {
        let key = if side == GoldenSide::Inputs { &g.inputs } else { &g.expected };
        let Some(file) = key else { continue };
        let golden = ferry_spec::GoldenFile {
            path: file,
            key: if side == GoldenSide::Inputs { "inputs" } else { "expected" },
            side,
            combined: false,
        };
        let expected = match read_values(b, golden, specs) {
            Ok(v) => v,
            Err(e) => return fail(format!("`{file}` cannot be read"), vec![Evidence::Error { message: e }]),
        };
        let actual = ferry_tensor::values_from_tensors(actual.clone());
        for spec in specs {
            let (rtol, atol) = if spec.dtype.is_float() {
                policy.tolerance(g, model.device().kind(), &spec.name, spec.dtype)
            } else {
                (0.0, 0.0)
            };
            evidence.push(super::golden::output_evidence(g, &spec.name, rtol, atol, &expected, &actual));
        }
    }
    if let Some(file) = &g.decisions {
        let Some(decisions) = &run.2 else {
            return fail("the bundle has no decide transform".into(), Vec::new());
        };
        let expected = match jsonl(b, file) {
            Ok(lines) => lines,
            Err(e) => return fail(format!("`{file}` cannot be read"), vec![Evidence::Error { message: e }]),
        };
        let (rtol, atol) = policy.tolerance(g, model.device().kind(), "", ferry_spec::DType::Float64);
        let mut mismatched = 0usize;
        for (i, ((line, want), got)) in expected.iter().zip(decisions).enumerate() {
            let want: Value = serde_json::from_str(want).unwrap_or(Value::Null);
            let got: Value = serde_json::from_str(got).unwrap_or(Value::Null);
            if let Some((pointer, e, a)) = ferry_contract::records::first_difference(&want, &got, rtol, atol)
            {
                mismatched += 1;
                if mismatched <= 10 {
                    evidence.push(Evidence::Schema {
                        document: format!("{file} line {line} (record {i})"),
                        pointer,
                        rule: format!("decision within rtol {rtol}, atol {atol}"),
                        message: format!("expected {e}, got {a}"),
                    });
                }
            }
        }
        if expected.len() != decisions.len() {
            mismatched += 1;
            evidence.push(Evidence::Error {
                message: format!(
                    "`{file}` has {} decisions; decide returned {}",
                    expected.len(),
                    decisions.len()
                ),
            });
        }
        if mismatched > 0 {
            let message = format!("{mismatched} of {} decisions differ", expected.len());
            return fail(message, evidence);
        }
    }
    let failed: Vec<&Evidence> =
        evidence.iter().filter(|e| matches!(e, Evidence::Output { passed: false, .. })).collect();
    if let Some(Evidence::Output { output, .. }) = failed.first() {
        return fail(format!("`{output}` out of tolerance"), evidence);
    }
    let n = records.len();
    Case {
        name: g.name.clone(),
        status: Status::Passed,
        message: format!("{n} record{} give their decisions and tensors", plural(n)),
        evidence,
    }
}

type Ran = (ferry_tensor::TensorMap, ferry_tensor::TensorMap, Option<Vec<String>>);

#[cfg(feature = "transforms")]
fn run_records(model: &ferry_runtime::Model, records: &[String]) -> Result<Ran, String> {
    model.run_records(records).map(|r| (r.inputs, r.outputs, r.decisions)).map_err(|e| e.to_string())
}

#[cfg(not(feature = "transforms"))]
fn run_records(_: &ferry_runtime::Model, _: &[String]) -> Result<Ran, String> {
    Err("this Ferry was built without feature transforms (the `transforms` cargo feature)".into())
}
