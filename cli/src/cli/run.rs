//! `ferry run`: score a tensor file with a bundle.

use super::{CliResult, Failure, refused, usage};
use anyhow::{Context as _, anyhow};
use ferry_runtime::{Device, OpenOptions, Runtime, RuntimeError, RuntimeOptions, TrustPolicy};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The bundle to run: a file, or oci://REGISTRY/REPOSITORY:TAG (pulled into the cache first).
    bundle: PathBuf,
    /// Input tensors: .json, .npy, .npz or .safetensors (a golden file of both sides gives its inputs).
    #[arg(long, required_unless_present = "records", conflicts_with = "records")]
    input: Option<PathBuf>,
    /// Raw records, one JSON object per line (.jsonl), for a bundle with feature transforms: each goes
    /// through `prepare`, the model and `decide`, and one JSON result per record comes out, one per line.
    #[arg(long)]
    records: Option<PathBuf>,
    /// Where to write the outputs (format from the extension; with --records, JSON lines); JSON on
    /// stdout when absent.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Configuration override, `key=value` (dotted keys for nesting; the value is JSON or a string).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A JSON or TOML file merged over the bundle's default configuration.
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// Where to run: cpu, cuda, cuda:N, or auto (a GPU when everything it needs is there, else the CPU,
    /// saying why on stderr).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// A policy whose [trust] table the bundle must satisfy (signatures, attestation).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Intra-op threads (0: ONNX Runtime's default); overrides the bundle's config. At most 4 per core
    /// (and 1024).
    #[arg(long)]
    threads: Option<usize>,
    /// The most elements an input with a symbolic dim (or strings) may hold; checked against the input
    /// file's header before its data is read.
    #[arg(long, value_name = "N", default_value_t = ferry_runtime::contract::DEFAULT_MAX_ELEMENTS)]
    max_input_elements: usize,
}

/// Exit code for a runtime error: refusals of the bundle or the request are 1, environment and usage
/// problems 2.
fn failure(e: RuntimeError) -> Failure {
    match &e {
        RuntimeError::Bundle(ferry_bundle::BundleError::Io { .. })
        | RuntimeError::OrtLibrary { .. }
        | RuntimeError::Device { .. }
        | RuntimeError::Gpu { .. }
        | RuntimeError::Config { .. }
        | RuntimeError::ConfigFile { .. }
        | RuntimeError::RequestFile(_)
        | RuntimeError::Threads { .. } => usage(e),
        _ => refused(e),
    }
}

/// `--device`'s value, or a usage error naming the ones there are.
pub(crate) fn parse_device(text: &str) -> Result<Device, Failure> {
    Device::parse(text).ok_or_else(|| usage(anyhow!("unknown device `{text}` (cpu, cuda, cuda:N or auto)")))
}

/// Says on stderr where a non-default device choice landed: the GPU, or why `auto` stayed on the CPU.
pub(crate) fn report_device(d: &ferry_runtime::DeviceInUse) {
    match (&d.gpu, &d.fallback) {
        (Some(_), _) => eprintln!("device: {}", d.describe()),
        (None, Some(why)) => eprintln!("device: cpu (auto: no GPU used: {why})"),
        (None, None) => {}
    }
}

pub fn run(a: RunArgs) -> CliResult {
    if let Some(n) = a.threads
        && n > ferry_runtime::max_threads()
    {
        return Err(usage(anyhow!(
            "--threads {n}: more than the {} threads allowed on this machine ({} per core, at most {})",
            ferry_runtime::max_threads(),
            ferry_runtime::THREADS_PER_CORE,
            ferry_runtime::MAX_THREADS
        )));
    }
    let device = parse_device(&a.device)?;
    let mut trust = TrustPolicy::default();
    let mut always_rehash = false;
    if let Some(p) = &a.policy {
        let policy = ferry::load_policy(p).map_err(usage)?;
        let dir = p.parent().map(PathBuf::from).unwrap_or_default();
        trust = trust.require(ferry::trust_check(&policy.trust, &dir).map_err(usage)?);
        always_rehash = policy.trust.always_rehash;
    }
    let mut overrides = Vec::new();
    for kv in &a.config {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| usage(anyhow!("--config `{kv}`: expected KEY=VALUE")))?;
        overrides.push((k.to_owned(), v.to_owned()));
    }
    let runtime = Runtime::new(RuntimeOptions {
        intra_op_threads: a.threads,
        device,
        trust,
        max_input_elements: Some(a.max_input_elements),
        always_rehash,
        ..Default::default()
    })
    .map_err(failure)?;
    let bundle = super::registry::local_bundle(&a.bundle)?;
    let model = runtime
        .open(&bundle, &OpenOptions { overrides, config_file: a.config_file.clone(), env: None })
        .map_err(|e| {
            let f = failure(e);
            Failure { code: f.code, error: f.error.context(format!("refusing {}", a.bundle.display())) }
        })?;
    report_device(model.device());
    if let Some(path) = &a.records {
        return run_records(&model, path, a.output.as_deref());
    }
    let Some(input) = &a.input else { return Err(usage(anyhow!("give --input or --records"))) };
    // Each tensor's header is checked against the contract before its data is read: a small file that
    // declares more than the contract allows is refused (exit 1) without costing memory.
    let inputs = model.read_input_values(input).map_err(failure)?;
    let outputs = model.infer_values(&inputs).map_err(failure)?;
    match &a.output {
        Some(path) => {
            ferry_tensor::write_values_file(path, &outputs)
                .with_context(|| path.display().to_string())
                .map_err(usage)?;
            eprintln!(
                "wrote {} output{} to {}",
                outputs.len(),
                if outputs.len() == 1 { "" } else { "s" },
                path.display()
            );
        }
        None => {
            let bytes = ferry_tensor::json_values_bytes(&outputs);
            super::print_stdout(&format!("{}\n", String::from_utf8_lossy(&bytes)))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The most bytes a `--records` file may have: bounded before it is read.
const MAX_RECORDS_FILE: u64 = 1 << 30;

/// `ferry run --records`: records in, one result per line out.
fn run_records(
    model: &ferry_runtime::Model,
    path: &std::path::Path,
    output: Option<&std::path::Path>,
) -> CliResult {
    if !model.takes_records() {
        return Err(refused(anyhow!(
            "the bundle has no `prepare` transform, so it takes tensors, not records: use --input"
        )));
    }
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).with_context(|| shown.clone()).map_err(usage)?;
    if meta.len() > MAX_RECORDS_FILE {
        return Err(usage(anyhow!(
            "{shown}: {} bytes; a records file may have at most {MAX_RECORDS_FILE}",
            meta.len()
        )));
    }
    let text = std::fs::read(path).with_context(|| shown.clone()).map_err(usage)?;
    let text = String::from_utf8(text)
        .map_err(|e| usage(anyhow!("{shown}: not UTF-8 (byte offset {})", e.utf8_error().valid_up_to())))?;
    // Blank lines are skipped; `lines[i]` is the line number of record i, for errors.
    let (lines, records): (Vec<usize>, Vec<String>) =
        ferry_contract::records::lines(&text).map(|(n, line)| (n, line.to_owned())).unzip();
    let at = |index: Option<usize>| match index.and_then(|i| lines.get(i)) {
        Some(line) => format!("{shown} line {line}"),
        None => shown.clone(),
    };
    let run = model.run_records(&records).map_err(|e| {
        let index = match &e {
            RuntimeError::Record { index, .. } => Some(*index),
            RuntimeError::Transform(t) => t.record().map(|r| r as usize),
            _ => None,
        };
        let f = failure(e);
        Failure { code: f.code, error: f.error.context(at(index)) }
    })?;
    let text = match &run.decisions {
        Some(results) => results.iter().map(|r| format!("{r}\n")).collect::<String>(),
        None => format!(
            "{}\n",
            String::from_utf8_lossy(&ferry_tensor::json_values_bytes(&ferry_tensor::values_from_tensors(
                run.outputs
            )))
        ),
    };
    match output {
        Some(out) => {
            ferry_atomic::write(out, text.as_bytes(), ferry_atomic::Options::default())
                .with_context(|| out.display().to_string())
                .map_err(usage)?;
            eprintln!(
                "wrote {} result{} to {}",
                records.len(),
                if records.len() == 1 { "" } else { "s" },
                out.display()
            );
        }
        None => super::print_stdout(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}
