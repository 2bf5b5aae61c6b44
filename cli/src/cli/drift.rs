//! `ferry drift B --data FILE`: a data file compared with the bundle's reference profile, as
//! `verify --data` compares it for `drift.features` and `drift.predictions`, printed per column.

use super::{Failure, usage};
use clap::{Args, ValueEnum};
use ferry_drift::{ColumnDrift, Decision};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The bundle (with a reference profile: `[reference]` in its ferry.toml).
    bundle: PathBuf,
    /// The data: CSV with a header row, JSON lines or Parquet, a column per feature.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// A policy whose `[drift]` table sets the thresholds, correction and required statistics.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    format: DriftFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DriftFormat {
    Text,
    Json,
}

/// Exit 0 when no column drifted, 1 when one did, 2 when the comparison could not be made.
pub fn run(args: &DriftArgs) -> Result<ExitCode, Failure> {
    let policy = match &args.policy {
        Some(p) => ferry_verifier::load_policy(p).map_err(usage)?.0.drift,
        None => ferry_drift::DriftPolicy::default(),
    };
    let report = ferry_verifier::drift(&args.bundle, &args.data, &policy).map_err(usage)?;
    match args.format {
        DriftFormat::Json => {
            let json = serde_json::to_string_pretty(&report).map_err(usage)?;
            println!("{json}");
        }
        DriftFormat::Text => print!("{}", text(&report)),
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn text(r: &ferry_verifier::DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {} rows, {} scored by the model", r.data, r.rows, r.scored);
    for (title, columns) in [("features", &r.features), ("predictions", &r.predictions)] {
        if columns.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}:");
        for c in columns {
            let _ = writeln!(out, "  {}", line(c));
        }
    }
    if let Some(e) = &r.predictions_error {
        let _ = writeln!(out, "predictions: not compared: {e}");
    }
    let drifted = r
        .features
        .iter()
        .chain(&r.predictions)
        .filter(|c| matches!(c.decision, Decision::Drift | Decision::NoData))
        .count();
    let _ = writeln!(
        out,
        "{}",
        if r.passed() {
            "no drift".to_owned()
        } else if drifted > 0 {
            format!("drift in {drifted} column{}", if drifted == 1 { "" } else { "s" })
        } else {
            "predictions not compared".to_owned()
        }
    );
    out
}

fn line(c: &ColumnDrift) -> String {
    let mark = match c.decision {
        Decision::Stable => "ok   ",
        Decision::Warn => "warn ",
        Decision::Drift => "DRIFT",
        Decision::NoData => "EMPTY",
    };
    let test = match (c.ks, c.chi2) {
        (Some(t), _) => format!("  ks p {}", ferry_drift::compare::short(t.p_adjusted)),
        (_, Some(t)) => format!("  chi2 p {}", ferry_drift::compare::short(t.p_adjusted)),
        _ => String::new(),
    };
    format!(
        "{mark} {:<32} psi {:<8} js {:<8}{test}  ({})",
        c.name,
        ferry_drift::compare::short(c.psi),
        ferry_drift::compare::short(c.js),
        c.reason
    )
}
