//! The `contract.*` checks on the bundle's own files: `contract.model-io` (the declared inputs and outputs
//! against the ONNX model), `contract.config-schema` (the default configuration against its schema) and
//! `contract.golden-inputs` (the golden files against the data contract). They belong together because
//! each holds the manifest's contract against something the bundle ships; `contract.data`, which holds it
//! against a sample data file from outside, is in `data.rs`.

use super::{Context, plural, read_values, schema_ev, summarize_cases};
use crate::{Case, Evidence, Outcome, Status};
use ferry_bundle::Bundle;
use ferry_contract::{Contract, ContractError};
use ferry_onnx::{OnnxDim, ValueInfo};
use ferry_spec::config::ConfigSchema;
use ferry_spec::policy::CheckId;
use ferry_spec::{GoldenSet, GoldenSide, Manifest, TensorSpec};

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
        // Sets of records are `contract.records`'s; their tensors come from the transforms.
        let cases: Vec<Case> = m
            .golden
            .iter()
            .filter(|g| g.records.is_none())
            .map(|g| golden_set_conformance(b, m, &contract, g))
            .collect();
        if cases.is_empty() {
            return Outcome::skipped("skipped: the bundle's golden sets are all records (contract.records)");
        }
        summarize_cases(cases, "golden set", ["conforms to the contract", "conform to the contract"])
    }
}

fn fmt_onnx_shape(shape: &[OnnxDim]) -> String {
    format!("[{}]", shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
}

/// Every difference between the declared tensors of one side and the model's, by the contract's one
/// rule ([`ferry_contract::model_io::differences`], which `pack` applies too), as evidence.
fn compare_io(side: &str, declared: &[TensorSpec], actual: &[ValueInfo], out: &mut Vec<Evidence>) {
    use ferry_contract::IoDifference as D;
    let ev = |tensor: String, field: &str, declared: String, model: String| Evidence::Contract {
        side: side.into(),
        tensor,
        field: field.into(),
        declared,
        model,
    };
    for d in ferry_contract::model_io::differences(declared, actual) {
        out.push(match d {
            D::Missing { name, .. } => ev(name.clone(), "name", name, "-".into()),
            D::Kind { name, declared, model, .. } => ev(name, "type", declared.to_string(), model),
            D::DType { name, declared, model, .. } => {
                let model = match model {
                    Ok(t) => t.to_string(),
                    Err(code) => format!("ONNX element type {code}"),
                };
                ev(name, "dtype", declared.to_string(), model)
            }
            D::Rank { name, declared, model, .. } => {
                let spec = declared.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                let declared = format!("{} [{spec}]", declared.len());
                ev(name, "rank", declared, format!("{} {}", model.len(), fmt_onnx_shape(&model)))
            }
            D::Dim { name, axis, declared, model, .. } => {
                ev(name, &format!("shape[{axis}]"), declared.to_string(), model.to_string())
            }
            D::Undeclared { name } => ev(name.clone(), "name", "-".into(), name),
        });
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
    let (input_file, expected_file) = (g.side(GoldenSide::Inputs), g.side(GoldenSide::Outputs));
    match read_values(b, input_file, &m.inputs) {
        Err(e) => evidence.push(golden_ev(g, input_file.path, None, e)),
        Ok(inputs) => {
            for e in contract.check_all(&inputs) {
                evidence.push(contract_ev(g, input_file.path, &e));
            }
            match read_values(b, expected_file, &m.outputs) {
                Err(e) => evidence.push(golden_ev(g, expected_file.path, None, e)),
                Ok(expected) => {
                    // Every declared output with its dtype, rank, fixed dims and the sizes the inputs give
                    // its symbolic dims; nothing undeclared.
                    for e in contract.check_outputs(&expected, &inputs) {
                        let message = e.kind.to_string();
                        evidence.push(golden_ev(g, expected_file.path, Some(&e.output), message));
                    }
                }
            }
        }
    }
    let status = if evidence.is_empty() { Status::Passed } else { Status::Failed };
    let message = match evidence.first() {
        None if input_file.combined => format!("`{}` conforms to the contract", input_file.path),
        None => format!("`{}` and `{}` conform to the contract", input_file.path, expected_file.path),
        Some(e) => e.describe(),
    };
    Case { name: g.name.clone(), status, message, evidence }
}
