//! `ferry run`: score a tensor file with a bundle.

use super::{CliResult, Failure, refused, usage};
use anyhow::{Context as _, anyhow};
use ferry_runtime::{Device, OpenOptions, Runtime, RuntimeError, RuntimeOptions, TrustPolicy};
use ferry_spec::DType;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The bundle to run.
    bundle: PathBuf,
    /// Input tensors: .json, .npy, .npz or .safetensors.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the outputs (format from the extension); JSON on stdout when absent.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Configuration override, `key=value` (dotted keys for nesting; the value is JSON or a string).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A JSON or TOML file merged over the bundle's default configuration.
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// Where to run: cpu, cuda or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// A policy whose [trust] table the bundle must satisfy (signatures, attestation).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Intra-op threads (0: ONNX Runtime's default); overrides the bundle's config.
    #[arg(long)]
    threads: Option<usize>,
}

/// Exit code for a runtime error: refusals of the bundle or the request are 1, environment and usage
/// problems 2.
fn failure(e: RuntimeError) -> Failure {
    match &e {
        RuntimeError::Bundle(ferry_bundle::BundleError::Io { .. })
        | RuntimeError::OrtLibrary { .. }
        | RuntimeError::Device { .. }
        | RuntimeError::Config { .. }
        | RuntimeError::ConfigFile { .. } => usage(e),
        _ => refused(e),
    }
}

pub fn run(a: RunArgs) -> CliResult {
    let device = Device::parse(&a.device)
        .ok_or_else(|| usage(anyhow!("unknown device `{}` (cpu, cuda or auto)", a.device)))?;
    let mut trust = TrustPolicy::default();
    if let Some(p) = &a.policy {
        let policy = ferry::load_policy(p).map_err(usage)?;
        let dir = p.parent().map(PathBuf::from).unwrap_or_default();
        trust = trust.require(ferry::trust_check(&policy.trust, &dir).map_err(usage)?);
    }
    let mut overrides = Vec::new();
    for kv in &a.config {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| usage(anyhow!("--config `{kv}`: expected KEY=VALUE")))?;
        overrides.push((k.to_owned(), v.to_owned()));
    }
    let runtime =
        Runtime::new(RuntimeOptions { intra_op_threads: a.threads, device, trust, ..Default::default() })
            .map_err(failure)?;
    let model = runtime
        .open(&a.bundle, &OpenOptions { overrides, config_file: a.config_file.clone(), env: None })
        .map_err(|e| {
            let f = failure(e);
            Failure { code: f.code, error: f.error.context(format!("refusing {}", a.bundle.display())) }
        })?;
    let m = model.manifest();
    let hints: BTreeMap<String, DType> = m.inputs.iter().map(|t| (t.name.clone(), t.dtype)).collect();
    let mut inputs = ferry_tensor::read_file(&a.input, &hints).map_err(usage)?;
    // A lone .npy holds one unnamed tensor: it feeds the model's single input.
    if m.inputs.len() == 1
        && inputs.len() == 1
        && a.input.extension().is_some_and(|e| e == "npy")
        && let Some((_, t)) = inputs.pop_first()
    {
        inputs.insert(m.inputs[0].name.clone(), t);
    }
    let outputs = model.infer(&inputs).map_err(failure)?;
    match &a.output {
        Some(path) => {
            ferry_tensor::write_file(path, &outputs)
                .with_context(|| path.display().to_string())
                .map_err(usage)?;
            eprintln!("wrote {} output tensor(s) to {}", outputs.len(), path.display());
        }
        None => {
            let bytes = ferry_tensor::write_bytes(&outputs, ferry_tensor::Format::Json).map_err(usage)?;
            println!("{}", String::from_utf8_lossy(&bytes));
        }
    }
    Ok(ExitCode::SUCCESS)
}
