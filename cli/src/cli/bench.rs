//! `ferry bench`: how fast a bundle runs here, at the batch sizes asked for, on the device asked for.
//!
//! The inputs are the bundle's first golden set, its rows repeated to each batch size: real values that
//! the contract accepts, whatever the model. Every call goes through `Model::infer` (the contract check
//! included), the path a host takes.

use super::{CliResult, refused, usage};
use anyhow::anyhow;
use ferry_runtime::{OpenOptions, Runtime, RuntimeOptions};
use ferry_spec::GoldenSide;
use ferry_tensor::{Tensor, TensorMap, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The bundle.
    bundle: PathBuf,
    /// Batch sizes, comma-separated: the golden set's rows repeated to each size.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    batch: Vec<usize>,
    /// Where to run: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Seconds to measure each batch size for (after a warm-up of a tenth of that, at least 3 calls).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Intra-op threads (0: ONNX Runtime's default).
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON lines, one per batch size.
    #[arg(long)]
    json: bool,
}

/// The most rows a batch may have: the tiled inputs are built in memory.
const MAX_BATCH: usize = 1 << 16;

pub fn bench(a: BenchArgs) -> CliResult {
    if a.batch.iter().any(|&b| b == 0 || b > MAX_BATCH) {
        return Err(usage(anyhow!("--batch: each size must be 1 to {MAX_BATCH}")));
    }
    if !(a.seconds.is_finite() && a.seconds > 0.0 && a.seconds <= 3600.0) {
        return Err(usage(anyhow!("--seconds: between 0 and 3600")));
    }
    let device = super::run::parse_device(&a.device)?;
    let runtime = Runtime::new(RuntimeOptions { device, intra_op_threads: a.threads, ..Default::default() })
        .map_err(|e| usage(anyhow!(e).context("cannot load ONNX Runtime for this device")))?;
    let path = super::registry::local_bundle(&a.bundle)?;
    let bundle = ferry_bundle::Bundle::open(&path).map_err(|e| usage(anyhow!(e)))?;
    let manifest = bundle.manifest().clone();
    let Some(golden) = manifest.golden.first() else {
        return Err(usage(anyhow!(
            "{}: the bundle has no golden set to take inputs from",
            a.bundle.display()
        )));
    };
    let file = golden.side(GoldenSide::Inputs);
    let bytes = bundle.file(file.path).map_err(|e| usage(anyhow!(e)))?;
    let values = ferry_contract::files::read_golden_values(
        &bytes,
        file,
        &manifest.inputs,
        ferry_contract::DEFAULT_MAX_ELEMENTS,
    )
    .map_err(|e| usage(anyhow!("golden set `{}`: {e}", golden.name)))?;
    let mut rows = TensorMap::new();
    for (name, value) in values {
        let Value::Tensor(t) = value else {
            return Err(usage(anyhow!("input `{name}` is not a tensor: ferry bench runs tensor models")));
        };
        rows.insert(name, t);
    }
    let model = runtime
        .open_bundle(bundle, &OpenOptions::default())
        .map_err(|e| refused(anyhow!(e).context(format!("refusing {}", a.bundle.display()))))?;
    super::run::report_device(model.device());
    let mut out = String::new();
    if !a.json {
        out.push_str(&format!(
            "{} {} on {}\n{:>7}  {:>10}  {:>12}  {:>10}  {:>10}\n",
            manifest.model.name,
            manifest.model.version,
            model.device().describe(),
            "batch",
            "calls/s",
            "rows/s",
            "p50 ms",
            "p99 ms"
        ));
    }
    for &batch in &a.batch {
        let inputs = tile(&rows, batch).map_err(usage)?;
        let budget = Duration::from_secs_f64(a.seconds);
        let warm = Instant::now();
        let mut n = 0;
        while n < 3 || warm.elapsed() < budget / 10 {
            model.infer(&inputs).map_err(|e| refused(anyhow!(e)))?;
            n += 1;
        }
        let mut times = Vec::new();
        let start = Instant::now();
        while start.elapsed() < budget || times.len() < 5 {
            let t0 = Instant::now();
            model.infer(&inputs).map_err(|e| refused(anyhow!(e)))?;
            times.push(t0.elapsed().as_secs_f64());
        }
        let total = start.elapsed().as_secs_f64();
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize] * 1e3;
        let calls = times.len() as f64 / total;
        if a.json {
            out.push_str(&format!(
                "{}\n",
                serde_json::json!({
                    "model": manifest.model.name, "device": model.device().id(),
                    "device_name": model.device().describe(), "batch": batch, "calls": times.len(),
                    "calls_per_s": calls, "rows_per_s": calls * batch as f64,
                    "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                })
            ));
        } else {
            out.push_str(&format!(
                "{batch:>7}  {calls:>10.1}  {:>12.0}  {:>10.3}  {:>10.3}\n",
                calls * batch as f64,
                pct(0.5),
                pct(0.99)
            ));
        }
    }
    super::print_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Each input's rows (axis 0) repeated, in order, to `batch` rows.
fn tile(rows: &TensorMap, batch: usize) -> Result<TensorMap, anyhow::Error> {
    let mut out = TensorMap::new();
    for (name, t) in rows {
        let Some((&have, rest)) = t.shape.split_first() else {
            return Err(anyhow!("input `{name}` is a scalar: it has no batch axis to repeat"));
        };
        if have == 0 {
            return Err(anyhow!("input `{name}` has no rows in the golden set"));
        }
        let row: usize = rest.iter().product();
        let order: Vec<usize> =
            (0..batch).flat_map(|r| ((r % have) * row)..((r % have) * row + row)).collect();
        let shape = std::iter::once(batch).chain(rest.iter().copied()).collect();
        out.insert(name.clone(), Tensor::new(shape, t.data.select(&order))?);
    }
    Ok(out)
}
