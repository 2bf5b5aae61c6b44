use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ferry_bundle::Bundle;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod audit;
mod bench;
mod devices;
mod doctor;
mod drift;
mod golden;
mod inspect;
mod registry;
mod run;
mod serve;
mod sign;
mod verify;

/// A command's failure and the exit code it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

/// Exit code 2: bad usage or unreadable input.
pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
    Failure { code: 2, error: error.into() }
}

/// Exit code 1: a check failed or a bundle was refused.
pub fn refused(error: impl Into<anyhow::Error>) -> Failure {
    Failure { code: 1, error: error.into() }
}

pub type CliResult = Result<ExitCode, Failure>;

/// Prints to stdout; a closed pipe or full disk is an I/O error (exit 2), not a panic as `print!` gives.
pub(crate) fn print_stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| usage(anyhow::anyhow!("cannot write to stdout: {e}")))
}

#[derive(Parser, Debug)]
#[command(name = "ferry", version, about = "Deterministic, signed, portable model bundles")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scaffold a bundle source for an ONNX model, its contract read from the model.
    Init {
        /// The ONNX model (external-data files next to it are copied too).
        model: PathBuf,
        /// The source directory to create (must not exist or be empty).
        dir: PathBuf,
        /// `[model] name` (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// `[model] version` (default 0.1.0).
        #[arg(long)]
        version: Option<String>,
        /// `[model] license`, an SPDX expression such as Apache-2.0.
        #[arg(long)]
        license: Option<String>,
        /// A sample: a CSV of the tabular input (header row = column names) or a .parquet of it (its
        /// columns in order, nulls missing), or an .npz, .safetensors or .json holding a batch of every
        /// input by name. Feature tables come from its columns, and a
        /// golden set from its first rows (outputs computed by ONNX Runtime).
        #[arg(long)]
        sample: Option<PathBuf>,
        /// How many of the sample's first rows make the golden set.
        #[arg(long, default_value_t = 5, requires = "sample")]
        golden_rows: usize,
    },
    /// Build a deterministic bundle from a source directory with a ferry.toml.
    Pack {
        /// The bundle source directory.
        src: PathBuf,
        /// The bundle to write.
        #[arg(short, long)]
        output: PathBuf,
        /// A reference sample (CSV, JSON lines or Parquet, a column per feature) to profile into the
        /// bundle, in place of `[reference] data`; the model is run on it for the predictions' profile.
        #[arg(long, value_name = "FILE")]
        reference: Option<PathBuf>,
    },
    /// Show what is inside a bundle: model, contract, files, pins and signatures.
    Inspect {
        bundle: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a bundle's file view into a directory (after checking every digest).
    Unpack {
        bundle: PathBuf,
        /// The directory to create (must not exist or be empty).
        dir: PathBuf,
    },
    /// Run a bundle on a tensor file: digests, pins and trust checked on open, the request against the
    /// data contract.
    Run(run::RunArgs),
    /// Write one multi-tensor file (.npz, .safetensors, .json) from tensor files, or with --inputs and
    /// --outputs a golden file of both sides (.json) for `[[golden]] file = ...`.
    Golden(golden::GoldenArgs),
    /// Write a new ECDSA P-256 key pair (PEM; the private key encrypted when FERRY_KEY_PASSWORD is set).
    Keygen {
        #[arg(long)]
        private: PathBuf,
        #[arg(long)]
        public: PathBuf,
    },
    /// Add an OpenSSF Model Signing signature over the bundle's file view (stored as an OCI referrer),
    /// with a key or keylessly through Sigstore.
    Sign {
        bundle: PathBuf,
        #[command(flatten)]
        signer: sign::SignerArgs,
        /// Write the signed bundle here instead of replacing BUNDLE.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Push a bundle to an OCI registry: the blobs the repository lacks, the bundle manifest under the
    /// tag (default: the model version), signatures and attestations as referrers.
    Push {
        bundle: PathBuf,
        /// REGISTRY/REPOSITORY[:TAG], e.g. registry.example.com/models/credit:1.2.0.
        reference: String,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Pull a bundle from an OCI registry into a file: every blob checked, signatures and attestations
    /// included, byte for byte the bundle that was pushed.
    Pull {
        /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST.
        reference: String,
        /// The bundle to write.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Add a signed promotion attestation whose predicate is a verifier JSON report.
    Attest {
        bundle: PathBuf,
        #[command(flatten)]
        signer: sign::SignerArgs,
        /// The `ferry verify --format json` report to attest.
        #[arg(long)]
        report: PathBuf,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Show a bundle's chain of custody: model, provenance, SBOM, signatures and attestations, each
    /// checked against the given keys. Reports only: exits 0 for any readable bundle.
    Audit(audit::AuditArgs),
    /// Run the check suite (artifact, contract, golden, perf, rebuild) and report; exit 1 when a
    /// required check fails.
    Verify(verify::VerifyArgs),
    /// Compare a data file with the bundle's reference profile: per feature and per model output, PSI,
    /// Jensen–Shannon, KS or chi-squared, against the thresholds (exit 1 on drift).
    Drift(drift::DriftArgs),
    /// Measure a bundle's throughput and latency here, per batch size, on a device (inputs: its first
    /// golden set's rows, repeated to each batch size).
    Bench(bench::BenchArgs),
    /// Serve bundles over KServe's Open Inference Protocol v2 (REST and gRPC), with dynamic batching,
    /// hot swap of new bundles and Prometheus metrics, until SIGTERM.
    Serve(serve::ServeArgs),
    /// List the GPUs this machine has (CUDA driver, names, compute capabilities, memory); a machine
    /// without one says so and exits 0.
    Devices(devices::DevicesArgs),
    /// Show which ONNX Runtime library ferry loads, from where, and why other places were skipped;
    /// and where its caches are. Exits 1 when no usable library is found.
    Doctor(doctor::DoctorArgs),
}

pub fn main() -> CliResult {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return Ok(ExitCode::from(code));
        }
    };
    match cli.command {
        Command::Init { model, dir, name, version, license, sample, golden_rows } => {
            let options = ferry_packager::InitOptions {
                name,
                version,
                license,
                sample,
                golden_rows: Some(golden_rows),
            };
            ferry::init(&model, &dir, &options).map_err(usage)?;
            let (d, toml) = (dir.display(), dir.join("ferry.toml"));
            println!("wrote bundle source {d}");
            println!(
                "next: review the contract and add golden sets in {}, then: ferry pack {d} -o model.ferry",
                toml.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Pack { src, output, reference } => {
            let packed =
                ferry::pack(&src, &output, reference.as_deref(), &ferry::runtime::RuntimeOptions::default())
                    .map_err(usage)?;
            println!(
                "packed {} {} -> {} ({} bytes, {} file{})\nbundle digest {}",
                packed.manifest.model.name,
                packed.manifest.model.version,
                output.display(),
                packed.size,
                packed.manifest.files.len(),
                plural(packed.manifest.files.len()),
                packed.manifest_digest
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { bundle, json } => {
            let b = open_bundle(&bundle)?;
            inspect::print(&b, json).map_err(usage)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Unpack { bundle, dir } => {
            let b = open_bundle(&bundle)?;
            // The manifest, every signature and attestation, and `model.sig`: what `pack` needs to
            // rebuild the same bundle, and what `model_signing verify` needs to check it.
            let extra = ferry_trust::unpacked_extras(&b);
            b.unpack(&dir, &extra)
                .with_context(|| format!("unpacking {}", bundle.display()))
                .map_err(usage)?;
            let n = b.manifest().files.len();
            println!("unpacked {n} file{} into {}", plural(n), dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run::run(args),
        Command::Golden(args) => golden::run(&args),
        Command::Keygen { private, public } => sign::keygen(&private, &public),
        Command::Sign { bundle, signer, output } => sign::sign(&bundle, &signer, output.as_deref()),
        Command::Attest { bundle, signer, report, output } => {
            sign::attest(&bundle, &signer, &report, output.as_deref())
        }
        Command::Audit(args) => audit::audit(&args),
        Command::Verify(args) => verify::run(args),
        Command::Drift(args) => drift::run(&args),
        Command::Push { bundle, reference, registry } => registry::push(&bundle, &reference, &registry),
        Command::Pull { reference, output, registry } => registry::pull(&reference, &output, &registry),
        Command::Doctor(args) => doctor::doctor(&args),
        Command::Devices(args) => devices::devices(&args),
        Command::Bench(args) => bench::bench(args),
        Command::Serve(args) => serve::serve(args),
    }
}

/// The plural ending of a count's noun: `""` for 1, `"s"` otherwise (the crate's one such helper).
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Opens a bundle for reading; a file that is not a well-formed bundle is unreadable input (exit 2).
pub fn open_bundle(path: &Path) -> Result<Bundle, Failure> {
    Bundle::open(path)
        .with_context(|| format!("{} is not a readable Ferry bundle", path.display()))
        .map_err(usage)
}
