//! `ferry verify`: runs the check suite on a bundle and reports for people and CI systems.
//!
//! Exit codes: 0 every required check passed, 1 a required check failed (the bundle was read but
//! refused, including a bundle too damaged to open), 2 bad usage or unreadable input (missing bundle,
//! invalid policy, unreadable `--data`, unwritable `--report`).

use super::{CliResult, print_stdout, refused, usage};
use anyhow::anyhow;
use ferry_verifier::{Format, VerifyOptions, github_step_summary, load_policy, render, verify, write_atomic};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// A report format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// Readable in a terminal.
    Human,
    /// JSON (schema: spec/schema/verify-report.schema.json).
    Json,
    /// JUnit XML: one testcase per check and per golden set.
    Junit,
    /// SARIF 2.1.0.
    Sarif,
    /// GitHub Actions annotations, plus a Markdown summary in $GITHUB_STEP_SUMMARY when set.
    Github,
}

impl ReportFormat {
    fn format(self) -> Format {
        match self {
            ReportFormat::Human => Format::Human,
            ReportFormat::Json => Format::Json,
            ReportFormat::Junit => Format::Junit,
            ReportFormat::Sarif => Format::Sarif,
            ReportFormat::Github => Format::Github,
        }
    }
}

/// Arguments of `ferry verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The bundle to verify: a file, or oci://REGISTRY/REPOSITORY:TAG (pulled into the cache first).
    pub bundle: PathBuf,
    /// A policy file (TOML): which checks are required, warned about or skipped, tolerance overrides,
    /// latency budgets and trust rules. Without one, every check is required and perf.latency is skipped.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// A public key (PEM) allowed to sign the bundle; repeat for several.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<PathBuf>,
    /// The report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Write the report to FILE (atomically) instead of stdout; stdout then gets the human report.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// A sample data file (CSV with a header row, or JSON lines) to check against the contract's
    /// per-feature constraints (contract.data).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// A bundle source directory: pack it again and check that the bytes are identical
    /// (rebuild.identical).
    #[arg(long, value_name = "SRC")]
    pub rebuild: Option<PathBuf>,
    /// Where the golden sets run: cpu, cuda, cuda:N or auto. On a GPU each set is held to its
    /// `[golden.tolerance.cuda]` tolerances; the report names the device.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `ferry verify`.
pub fn run(args: VerifyArgs) -> CliResult {
    let mut options =
        VerifyOptions { data: args.data, rebuild: args.rebuild, keys: args.keys, ..VerifyOptions::default() };
    options.runtime.device = super::run::parse_device(&args.device)?;
    if options.runtime.device != ferry_runtime::Device::Cpu {
        // A GPU that cannot be used is the environment's problem (exit 2), not the bundle's: say so
        // before any check runs, rather than as a failed golden check.
        let runtime = ferry_runtime::Runtime::new(options.runtime.clone())
            .map_err(|e| usage(anyhow!(e).context("cannot verify on this device")))?;
        super::run::report_device(runtime.device());
    }
    let mut policy_dir = PathBuf::new();
    if let Some(path) = &args.policy {
        let (policy, info) = load_policy(path).map_err(usage)?;
        options.policy = policy;
        options.policy_info = Some(info);
        policy_dir = path.parent().map(PathBuf::from).unwrap_or_default();
    }
    options.signatures = Some(std::sync::Arc::new(ferry::SignatureCheck { policy_dir }));
    let bundle = super::registry::local_bundle(&args.bundle)?;
    let report = verify(&bundle, &options).map_err(usage)?;
    let format = args.format.format();
    let text = render(&report, format);
    match &args.report {
        Some(path) => {
            write_atomic(path, text.as_bytes()).map_err(usage)?;
            print_stdout(&render(&report, Format::Human))?;
        }
        None => print_stdout(&text)?,
    }
    if format == Format::Github
        && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
    {
        // GitHub collects the summaries of every step in one file: append, never replace.
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(github_step_summary(&report).as_bytes()));
        if let Err(e) = appended {
            return Err(usage(anyhow!(
                "cannot write the step summary {}: {e}",
                PathBuf::from(path).display()
            )));
        }
    }
    if report.passed {
        Ok(ExitCode::SUCCESS)
    } else {
        let n = report.summary.failed;
        Err(refused(anyhow!(
            "verification failed: {n} required check{} failed",
            if n == 1 { "" } else { "s" }
        )))
    }
}
