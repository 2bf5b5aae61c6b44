//! `ferry serve`: a model server for Ferry bundles that speaks KServe's Open Inference Protocol v2.
//!
//! - REST (axum) and gRPC (tonic, `inference.GRPCInferenceService`), each on its own port as Triton
//!   does, so `tritonclient` and any OIP v2 client work unchanged; the binary tensor data extension;
//!   Ferry's records extension (`POST /v2/models/{m}/records`) for bundles with feature transforms.
//! - Every bundle is opened through the runtime: digests, pins and the policy's `[trust]` are checked
//!   before a model answers, and a refused bundle is logged and counted, never served.
//! - Dynamic batching per model ([`config::ModelSettings`]), a bounded queue (`503` + `Retry-After`),
//!   body limits, per-request deadlines, hot swap of new bundles, graceful drain on `SIGTERM`.
//! - `GET /metrics` in Prometheus text format; JSON logs on stderr.
//!
//! axum and tonic because both sit on hyper, h2 and tower, which Ferry's registry client already
//! links: one HTTP stack, and tonic's router is an axum router.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod batcher;
pub mod config;
mod drift;
mod error;
mod grpc;
mod log;
pub mod metrics;
mod repository;
mod rest;
mod state;
mod tls;

pub use config::{ModelSettings, ServeConfig};
pub use error::{RequestError, ServeError, contract_json};
pub use ferry_oip as oip;
pub use grpc::proto;
pub use repository::{Reload, Repository, Served, Snapshot};
pub use state::LatencyBudget;

use ferry::runtime::Runtime;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The default limit on a request body (JSON and binary parts together).
pub const DEFAULT_MAX_BODY: usize = 32 << 20;

/// The default bound on request memory in flight: 2 GiB.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 2 << 30;

pub use state::{BINARY_EXPANSION, JSON_EXPANSION};

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Bundle files and directories of bundles (a model repository).
    pub sources: Vec<PathBuf>,
    /// The REST address.
    pub listen: SocketAddr,
    /// The gRPC address; `None` serves REST only.
    pub grpc_listen: Option<SocketAddr>,
    /// Batching, queue and deadline settings.
    pub config: ServeConfig,
    /// A bearer token every request but the health checks must carry.
    pub token: Option<String>,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// The most memory REST request bodies may take while they are read and decoded, all requests
    /// together (a JSON body counts [`JSON_EXPANSION`] times its size); beyond it, `503`. At least
    /// `max_body × JSON_EXPANSION`.
    pub max_inflight_bytes: usize,
    /// The policy's latency budget.
    pub budget: LatencyBudget,
    /// How often directories are polled for new bundles; `None` only reloads on `SIGHUP`.
    pub poll: Option<Duration>,
    /// How long in-flight requests may take to finish after `SIGTERM`.
    pub drain: Duration,
    /// Log every request, not only the failed ones.
    pub log_requests: bool,
    /// TLS for both listeners: a PEM certificate chain and its private key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The sliding window drift is reported over (`/metrics`, `/v2/models/{m}/drift`).
    pub drift_window: Duration,
    /// Thresholds for the drift report (the release policy's `[drift]`).
    pub drift_policy: ferry_drift::DriftPolicy,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            sources: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            grpc_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8001))),
            config: ServeConfig::default(),
            token: None,
            max_body: DEFAULT_MAX_BODY,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            budget: LatencyBudget::default(),
            poll: Some(Duration::from_secs(2)),
            drain: Duration::from_secs(30),
            log_requests: false,
            tls: None,
            drift_window: drift::DEFAULT_WINDOW,
            drift_policy: ferry_drift::DriftPolicy::default(),
        }
    }
}

/// Where a started server listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The REST address.
    pub rest: SocketAddr,
    /// The gRPC address.
    pub grpc: Option<SocketAddr>,
}

/// Reads a bearer-token file: its content, surrounding whitespace trimmed; refused when empty.
pub fn read_token(path: &Path) -> Result<String, ServeError> {
    let err = |message: String| ServeError::Token { path: path.display().to_string(), message };
    let text = ferry_spec::file::read_to_string(path, 64 * 1024).map_err(|e| err(e.reason()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(err("the file is empty".into()));
    }
    if token.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(err("a token is printable ASCII without spaces".into()));
    }
    Ok(token.to_owned())
}

/// Loads the bundles, binds the ports, calls `on_ready`, and serves until `SIGTERM` or `SIGINT` (then
/// drains); `SIGHUP` reloads the repository. Blocks the calling thread.
pub fn run(
    runtime: Runtime,
    options: ServeOptions,
    on_ready: impl FnOnce(&Bound, &Snapshot),
) -> Result<(), ServeError> {
    let tokio =
        tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("ferry-serve").build()?;
    tokio.block_on(serve(runtime, options, on_ready))
}

async fn serve(
    runtime: Runtime,
    options: ServeOptions,
    on_ready: impl FnOnce(&Bound, &Snapshot),
) -> Result<(), ServeError> {
    if options.max_inflight_bytes < options.max_body.saturating_mul(JSON_EXPANSION) {
        return Err(ServeError::Limits(format!(
            "the in-flight memory bound ({} bytes) must hold one largest JSON request: at least {} x the body limit ({} bytes)",
            options.max_inflight_bytes, JSON_EXPANSION, options.max_body
        )));
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let repo = Arc::new(Repository::new(
        Arc::new(runtime),
        options.sources.clone(),
        options.config.clone(),
        Arc::clone(&metrics),
    ));
    {
        let repo = Arc::clone(&repo);
        tokio::task::spawn_blocking(move || repo.reload(Reload::Startup))
            .await
            .map_err(|e| ServeError::Io(std::io::Error::other(e)))??;
    }
    for (quantile, budget) in [("0.5", options.budget.p50), ("0.99", options.budget.p99)] {
        if let Some(b) = budget {
            metrics.set_budget(quantile, b.as_secs_f64());
        }
    }
    let state = Arc::new(
        state::State::new(
            Arc::clone(&repo),
            Arc::clone(&metrics),
            options.token.clone(),
            options.max_body,
            options.budget,
            options.log_requests,
            options.max_inflight_bytes,
        )
        .with_drift(drift::Windows::new(options.drift_window, options.drift_policy.clone())),
    );
    let acceptor = match &options.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Listen { addr: addr.to_string(), source })
    };
    let rest_listener = bind(options.listen).await?;
    let grpc_listener = match options.grpc_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let bound = Bound {
        rest: rest_listener.local_addr()?,
        grpc: grpc_listener.as_ref().map(tokio::net::TcpListener::local_addr).transpose()?,
    };
    on_ready(&bound, &repo.snapshot());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(signals(Arc::clone(&repo), Arc::clone(&state), stop_tx));
    if let Some(every) = options.poll {
        tokio::spawn(poll(Arc::clone(&repo), every));
    }
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|&stop| stop).await;
    };
    let rest_router = rest::router(Arc::clone(&state));
    let rest = async {
        match &acceptor {
            Some(a) => tls::serve(rest_listener, a.clone(), rest_router, stopped(stop_rx.clone())).await,
            None => {
                axum::serve(rest_listener, rest_router).with_graceful_shutdown(stopped(stop_rx.clone())).await
            }
        }
    };
    let grpc = async {
        match grpc_listener {
            Some(l) => {
                let router = tonic::service::Routes::new(grpc::InferenceService::new(Arc::clone(&state)))
                    .into_axum_router();
                match &acceptor {
                    Some(a) => tls::serve(l, a.clone(), router, stopped(stop_rx.clone())).await,
                    None => axum::serve(l, router).with_graceful_shutdown(stopped(stop_rx.clone())).await,
                }
            }
            None => Ok(()),
        }
    };
    let servers = async { tokio::try_join!(rest, grpc).map(|_| ()) };
    let drain = options.drain;
    let mut deadline_rx = stop_rx.clone();
    tokio::select! {
        r = servers => r?,
        () = async move {
            let _ = deadline_rx.wait_for(|&stop| stop).await;
            tokio::time::sleep(drain).await;
        } => {
            log::event("warn", "drain timed out; requests still in flight were cut off", &[("drain_seconds", &drain.as_secs().to_string())]);
        }
    }
    log::event("info", "stopped", &[]);
    Ok(())
}

async fn signals(repo: Arc<Repository>, state: Arc<state::State>, stop: tokio::sync::watch::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        else {
            log::event("error", "cannot install signal handlers", &[]);
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    log::event("info", "SIGHUP: reloading the repository", &[]);
                    reload(&repo, Reload::Signal).await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = &repo;
        let _ = tokio::signal::ctrl_c().await;
    }
    state.draining.store(true, Ordering::Relaxed);
    log::event("info", "draining: no new connections; finishing requests in flight", &[]);
    let _ = stop.send(true);
}

async fn reload(repo: &Arc<Repository>, when: Reload) {
    let repo = Arc::clone(repo);
    match tokio::task::spawn_blocking(move || repo.reload(when)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::event("error", "reload failed", &[("reason", &e.to_string())]),
        Err(e) => log::event("error", "reload failed", &[("reason", &e.to_string())]),
    }
}

async fn poll(repo: Arc<Repository>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        reload(&repo, Reload::Poll).await;
    }
}
