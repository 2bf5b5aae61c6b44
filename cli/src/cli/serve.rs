//! `ferry serve`: argument parsing over `ferry_serve::run`.

use super::run::{parse_device, report_device};
use super::{CliResult, Failure, refused, usage};
use anyhow::anyhow;
use ferry_runtime::{Runtime, RuntimeOptions, TrustPolicy};
use ferry_serve::{LatencyBudget, ServeConfig, ServeError, ServeOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Bundles, and directories of bundles (`*.ferry`, watched for new ones).
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// The REST (HTTP/JSON) address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// The gRPC address.
    #[arg(long, default_value = "127.0.0.1:8001")]
    grpc_listen: SocketAddr,
    /// Serve REST only.
    #[arg(long)]
    no_grpc: bool,
    /// A release policy: its [trust] table decides which bundles load, its [perf] budget is exported.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Batching, queue and deadline settings per model (serve.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where models run: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// A file holding the bearer token every request but the health checks must carry.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = ferry_serve::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// The most memory request bodies may take while read and decoded, all requests together (a JSON
    /// body counts 33 times its size, binary data twice); beyond it new requests get 503. At least 33 x --max-body.
    #[arg(long, default_value_t = ferry_serve::DEFAULT_MAX_INFLIGHT_BYTES)]
    max_inflight_bytes: usize,
    /// Seconds between polls of the directories for new bundles (0: only on SIGHUP).
    #[arg(long, default_value_t = 2)]
    poll_seconds: u64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, default_value_t = 30)]
    drain_seconds: u64,
    /// Intra-op threads per ONNX Runtime session (0: ONNX Runtime's default).
    #[arg(long)]
    threads: Option<usize>,
    /// Serve both listeners over TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log every request (JSON on stderr), not only the failed ones.
    #[arg(long)]
    log_requests: bool,
    /// The sliding window, in seconds, over which drift against each bundle's reference profile is
    /// reported (`/metrics`, `GET /v2/models/{m}/drift`).
    #[arg(long, default_value_t = 300, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    drift_window: u64,
}

fn failure(e: ServeError) -> Failure {
    match &e {
        ServeError::Bundle { .. } | ServeError::Unservable { .. } | ServeError::Duplicate { .. } => {
            refused(e)
        }
        _ => usage(e),
    }
}

pub fn serve(a: ServeArgs) -> CliResult {
    let device = parse_device(&a.device)?;
    let mut trust = TrustPolicy::default();
    let mut always_rehash = false;
    let mut budget = LatencyBudget::default();
    let mut drift_policy = ferry_drift::DriftPolicy::default();
    if let Some(p) = &a.policy {
        let policy = ferry::load_policy(p).map_err(usage)?;
        let dir = p.parent().map(PathBuf::from).unwrap_or_default();
        trust = trust.require(ferry::trust_check(&policy.trust, &dir).map_err(usage)?);
        always_rehash = policy.trust.always_rehash;
        drift_policy = policy.drift.clone();
        if let Some(perf) = &policy.perf {
            let ms = |v: Option<f64>| v.map(|ms| Duration::from_secs_f64(ms / 1000.0));
            budget = LatencyBudget { p50: ms(perf.p50_ms), p99: ms(perf.p99_ms) };
        }
    }
    if a.max_body == 0 {
        return Err(usage(anyhow!("--max-body must be at least 1 byte")));
    }
    let config = match &a.config {
        Some(p) => ServeConfig::load(p).map_err(usage)?,
        None => ServeConfig::default(),
    };
    let token = a.token_file.as_deref().map(ferry_serve::read_token).transpose().map_err(usage)?;
    let runtime = Runtime::new(RuntimeOptions {
        intra_op_threads: a.threads,
        device,
        trust,
        always_rehash,
        ..Default::default()
    })
    .map_err(usage)?;
    report_device(runtime.device());
    let options = ServeOptions {
        sources: a.sources,
        listen: a.listen,
        grpc_listen: (!a.no_grpc).then_some(a.grpc_listen),
        config,
        token,
        max_body: a.max_body,
        max_inflight_bytes: a.max_inflight_bytes,
        budget,
        poll: (a.poll_seconds > 0).then(|| Duration::from_secs(a.poll_seconds)),
        drain: Duration::from_secs(a.drain_seconds),
        log_requests: a.log_requests,
        tls: a.tls_cert.zip(a.tls_key),
        drift_window: Duration::from_secs(a.drift_window),
        drift_policy,
    };
    let tls = options.tls.is_some();
    ferry_serve::run(runtime, options, |bound, snapshot| {
        for s in snapshot.all() {
            println!("serving {} {} from {}", s.name, s.version, s.path.display());
        }
        let scheme = if tls { "https" } else { "http" };
        match bound.grpc {
            Some(g) => println!("listening: REST on {scheme}://{}, gRPC on {g}", bound.rest),
            None => println!("listening: REST on {scheme}://{}", bound.rest),
        }
        // Tests and supervisors read the addresses as soon as they are printed.
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    })
    .map_err(failure)?;
    Ok(ExitCode::SUCCESS)
}
