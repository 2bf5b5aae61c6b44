//! `ferry devices`: the GPUs this machine has, and what a GPU run would still need.

use super::{CliResult, usage};
use anyhow::anyhow;
use ferry_runtime::ferry_device::{self, Detail, DeviceError};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DevicesArgs {
    /// Print JSON: {"driver": {...} | null, "gpus": [...], "cuda_libraries": [...], "no_gpu": REASON | null}.
    #[arg(long)]
    json: bool,
}

/// Exit 0 whether or not there is a GPU (a machine without one is not an error), 2 when the driver is
/// there and broken.
pub fn devices(a: &DevicesArgs) -> CliResult {
    let found = ferry_device::inventory(Detail::Full);
    let (inventory, no_gpu) = match found {
        Ok(inv) if inv.gpus.is_empty() => {
            let why = DeviceError::NoGpu { driver: inv.driver.version.to_string() }.to_string();
            (Some(inv), Some(why))
        }
        Ok(inv) => (Some(inv), None),
        Err(e @ DeviceError::NoDriver { .. }) => (None, Some(e.to_string())),
        Err(e) => return Err(usage(anyhow!(e).context("cannot list the GPUs"))),
    };
    if a.json {
        let doc = serde_json::json!({
            "driver": inventory.as_ref().map(|i| &i.driver),
            "gpus": inventory.as_ref().map(|i| i.gpus.as_slice()).unwrap_or_default(),
            "no_gpu": no_gpu,
        });
        super::print_stdout(&format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    match (&inventory, &no_gpu) {
        (_, Some(why)) => out.push_str(&format!("no GPU: {why}\n")),
        (Some(inv), None) => {
            out.push_str(&format!("CUDA driver {} ({})\n", inv.driver.version, inv.driver.library));
            for g in &inv.gpus {
                let free = g.free_memory.map(|f| format!(", {} free", gib(f))).unwrap_or_default();
                out.push_str(&format!(
                    "cuda:{}  {}  compute capability {}  {} memory{free}\n",
                    g.ordinal,
                    g.name,
                    g.compute_capability,
                    gib(g.total_memory)
                ));
            }
        }
        (None, None) => {}
    }
    super::print_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}
