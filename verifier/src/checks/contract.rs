//! The `contract.*` checks on the bundle's own files: `contract.model-io` (the declared inputs and outputs
//! against the ONNX model), `contract.config-schema` (the default configuration against its schema) and
//! `contract.golden-inputs` (the golden files against the data contract). They belong together because
//! each holds the manifest's contract against something the bundle ships; `contract.data`, which holds it
//! against a sample data file from outside, is in `data.rs`.

use super::{Context, plural, read_tensors, schema_ev, summarize_cases};
use crate::{Case, Evidence, Outcome, Status};
use ferry_bundle::Bundle;
use ferry_contract::{Contract, ContractError};
use ferry_onnx::{OnnxDim, ValueInfo, ValueKind};
use ferry_spec::config::ConfigSchema;
use ferry_spec::policy::CheckId;
use ferry_spec::{GoldenSet, Manifest, TensorSpec};

impl Context<'_> {
    pub(super) fn contract_model_io(&mut self) -> Outcome {
        if let Err(o) = self.need_content(CheckId::ContractModelIo) {
            return o;
        }
        let entry = self.entrypoint();
        let info = match self.model_info() {
            Ok(i) => i.clone(),
            Err(e) => {
                return Outcome::failed(
                    format!("`{entry}` is not a readable ONNX model"),
                    vec![Evidence::Error { message: e.clone() }],
                );
            }
        };
        let Some(b) = self.bundle() else {
            return Outcome::skipped("skipped: the bundle could not be opened");
        };
        let m = b.manifest();
        let mut evidence = Vec::new();
        compare_io("input", &m.inputs, &info.inputs, &mut evidence);
        compare_io("output", &m.outputs, &info.outputs, &mut evidence);
        if evidence.is_empty() {
            Outcome::passed(format!(
                "{} input{} and {} output{} match `{entry}`",
                m.inputs.len(),
                plural(m.inputs.len()),
                m.outputs.len(),
                plural(m.outputs.len())
            ))
        } else {
            Outcome::failed(
                format!(
                    "the contract differs from `{entry}` in {} place{}",
                    evidence.len(),
                    plural(evidence.len())
                ),
                evidence,
            )
        }
    }

    pub(super) fn contract_config_schema(&mut self) -> Outcome {
        let b = match self.need_content(CheckId::ContractConfigSchema) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let Some(c) = &b.manifest().config else {
            return Outcome::skipped("skipped: the bundle declares no configuration");
        };
        let read = |path: &str| -> Result<serde_json::Value, Vec<Evidence>> {
            let bytes = b.file(path).map_err(|e| vec![Evidence::Error { message: e.to_string() }])?;
            serde_json::from_slice(&bytes)
                .map_err(|e| vec![schema_ev(path, "", "json", format!("not valid JSON: {e}"))])
        };
        let schema = match read(&c.schema) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::failed(format!("the configuration schema `{}` cannot be read", c.schema), e);
            }
        };
        let compiled = match ConfigSchema::compile(&schema) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::failed(
                    format!("`{}` is not a valid JSON Schema", c.schema),
                    vec![schema_ev(&c.schema, "", "schema", e)],
                );
            }
        };
        let (defaults, document) = match &c.defaults {
            Some(d) => {
                let defaults = match read(d) {
                    Ok(v) => v,
                    Err(e) => {
                        return Outcome::failed(format!("the default configuration `{d}` cannot be read"), e);
                    }
                };
                (Some(defaults), d.clone())
            }
            None => (None, format!("{} (schema defaults)", c.schema)),
        };
        // The one effective-defaults rule of `pack` and the runtime: the schema's own defaults, then the
        // defaults file merged over them.
        let Some(effective) = compiled.effective_defaults(defaults.as_ref()) else {
            return Outcome::failed(
                format!("the default configuration `{document}` is not a JSON object"),
                vec![schema_ev(
                    &document,
                    "",
                    "type",
                    "the default configuration must be a JSON object".into(),
                )],
            );
        };
        match compiled.validate(&effective) {
            Ok(()) => Outcome::passed(format!(
                "the default configuration `{document}` validates against `{}`",
                c.schema
            )),
            Err(violations) => {
                let evidence: Vec<Evidence> = violations
                    .into_iter()
                    .map(|v| schema_ev(&document, &v.pointer, &v.rule, v.message))
                    .collect();
                Outcome::failed(
                    format!(
                        "the default configuration `{document}` breaks `{}` in {} place{}",
                        c.schema,
                        evidence.len(),
                        plural(evidence.len())
                    ),
                    evidence,
                )
            }
        }
    }

    pub(super) fn contract_golden_inputs(&mut self) -> Outcome {
        let b = match self.need_content(CheckId::ContractGoldenInputs) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let m = b.manifest();
        if m.golden.is_empty() {
            return Outcome::skipped("skipped: the bundle has no golden sets");
        }
        let contract = Contract::new(&m.inputs, &m.outputs);
        let cases: Vec<Case> = m.golden.iter().map(|g| golden_set_conformance(b, m, &contract, g)).collect();
        summarize_cases(cases, "golden set", "conform to the contract")
    }
}

fn fmt_onnx_dim(d: &OnnxDim) -> String {
    match d {
        OnnxDim::Value(v) => v.to_string(),
        OnnxDim::Param(p) => p.clone(),
        OnnxDim::Unknown => "?".into(),
    }
}

fn fmt_onnx_shape(shape: &[OnnxDim]) -> String {
    format!("[{}]", shape.iter().map(fmt_onnx_dim).collect::<Vec<_>>().join(", "))
}

/// Every difference between the declared tensors of one side and the model's, with the packager's rules:
/// same names, kinds, dtypes and ranks; a declared fixed dim may narrow a symbolic or unknown one of the
/// model, but may not contradict a fixed one.
fn compare_io(side: &str, declared: &[TensorSpec], actual: &[ValueInfo], out: &mut Vec<Evidence>) {
    let ev = |tensor: &str, field: &str, declared: String, model: String| Evidence::Contract {
        side: side.into(),
        tensor: tensor.into(),
        field: field.into(),
        declared,
        model,
    };
    for d in declared {
        let Some(a) = actual.iter().find(|a| a.name == d.name) else {
            out.push(ev(&d.name, "name", d.name.clone(), "-".into()));
            continue;
        };
        if a.kind != ValueKind::Tensor {
            out.push(ev(&d.name, "kind", "tensor".into(), a.kind.name().into()));
            continue;
        }
        match a.elem_type {
            Some(t) if t == d.dtype => {}
            Some(t) => out.push(ev(&d.name, "dtype", d.dtype.to_string(), t.to_string())),
            None => out.push(ev(
                &d.name,
                "dtype",
                d.dtype.to_string(),
                format!("ONNX element type {}", a.raw_elem_type),
            )),
        }
        let Some(shape) = &a.shape else { continue };
        if shape.len() != d.shape.len() {
            out.push(ev(
                &d.name,
                "rank",
                format!("{} {}", d.shape.len(), d.shape_string()),
                format!("{} {}", shape.len(), fmt_onnx_shape(shape)),
            ));
            continue;
        }
        for (j, (dd, md)) in d.shape.iter().zip(shape).enumerate() {
            let fixed = match md {
                OnnxDim::Value(m) => Some(*m),
                OnnxDim::Param(_) | OnnxDim::Unknown => None,
            };
            let ok = ferry_contract::dim_fits_model(dd, fixed);
            if !ok {
                out.push(ev(&d.name, &format!("shape[{j}]"), dd.to_string(), fmt_onnx_dim(md)));
            }
        }
    }
    for a in actual {
        if !declared.iter().any(|d| d.name == a.name) {
            out.push(ev(&a.name, "name", "-".into(), a.name.clone()));
        }
    }
}

fn golden_ev(g: &GoldenSet, file: &str, tensor: Option<&str>, message: String) -> Evidence {
    Evidence::GoldenTensor {
        set: g.name.clone(),
        file: file.into(),
        tensor: tensor.map(str::to_owned),
        feature: None,
        index: None,
        value: None,
        message,
    }
}

fn contract_ev(g: &GoldenSet, file: &str, e: &ContractError) -> Evidence {
    Evidence::GoldenTensor {
        set: g.name.clone(),
        file: file.into(),
        tensor: Some(e.input.clone()),
        feature: e.feature.clone(),
        index: e.index.as_ref().map(|i| i.iter().map(|&x| x as u64).collect()),
        value: e.value.clone(),
        message: e.to_string(),
    }
}

fn golden_set_conformance(b: &Bundle, m: &Manifest, contract: &Contract, g: &GoldenSet) -> Case {
    let mut evidence = Vec::new();
    match read_tensors(b, &g.inputs, &m.inputs) {
        Err(e) => evidence.push(golden_ev(g, &g.inputs, None, e)),
        Ok(inputs) => {
            for e in contract.check_all(&inputs) {
                evidence.push(contract_ev(g, &g.inputs, &e));
            }
            match read_tensors(b, &g.expected, &m.outputs) {
                Err(e) => evidence.push(golden_ev(g, &g.expected, None, e)),
                Ok(expected) => {
                    // Every declared output with its dtype, rank, fixed dims and the sizes the inputs give
                    // its symbolic dims; nothing undeclared.
                    for e in contract.check_outputs(&expected, &inputs) {
                        evidence.push(golden_ev(g, &g.expected, Some(&e.output), e.kind.to_string()));
                    }
                }
            }
        }
    }
    let status = if evidence.is_empty() { Status::Passed } else { Status::Failed };
    let message = match evidence.first() {
        None => format!("`{}` and `{}` conform to the contract", g.inputs, g.expected),
        Some(e) => e.describe(),
    };
    Case { name: g.name.clone(), status, message, evidence }
}
