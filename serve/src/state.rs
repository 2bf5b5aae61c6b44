//! What REST and gRPC share: the repository, the limits, the token, and the inference path from a
//! decoded request to its outputs (contract, queue, deadline, metrics).

use crate::error::RequestError;
use crate::log;
use crate::metrics::Metrics;
use crate::oip::InferRequest;
use crate::repository::{Repository, Served};
use ferry_tensor::Tensor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The release policy's latency budget (`[perf]`), exported as gauges; requests over the p99 budget are
/// counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyBudget {
    /// The median budget.
    pub p50: Option<Duration>,
    /// The 99th-percentile budget.
    pub p99: Option<Duration>,
}

/// The server's shared state.
#[derive(Debug)]
pub(crate) struct State {
    pub repo: Arc<Repository>,
    pub metrics: Arc<Metrics>,
    pub token: Option<String>,
    pub draining: AtomicBool,
    pub max_body: usize,
    pub budget: LatencyBudget,
    pub log_requests: bool,
    next_id: AtomicU64,
    /// Request memory in flight, in KiB ([`State::reserve`]).
    memory: Arc<tokio::sync::Semaphore>,
    memory_limit: usize,
    /// Each served model's drift window.
    pub drift: crate::drift::Windows,
}

/// What reading and decoding a JSON body may make of each of its bytes: the byte itself, and its share of
/// a 32-byte parsed value per JSON scalar (at least two bytes with its separator), doubled for a growing
/// vector's spare capacity.
pub const JSON_EXPANSION: usize = 33;

/// The same for binary tensor data: the bytes, and the decoded elements.
pub const BINARY_EXPANSION: usize = 2;

/// Memory reserved for one request, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

/// Which protocol a request came in, for metrics and logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Protocol {
    Rest,
    Grpc,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Rest => "rest",
            Protocol::Grpc => "grpc",
        }
    }
}

impl State {
    pub fn new(
        repo: Arc<Repository>,
        metrics: Arc<Metrics>,
        token: Option<String>,
        max_body: usize,
        budget: LatencyBudget,
        log_requests: bool,
        memory_limit: usize,
    ) -> State {
        State {
            repo,
            metrics,
            token,
            draining: AtomicBool::new(false),
            max_body,
            budget,
            log_requests,
            next_id: AtomicU64::new(1),
            memory: Arc::new(tokio::sync::Semaphore::new(memory_limit.div_ceil(1024))),
            memory_limit,
            drift: crate::drift::Windows::new(crate::drift::DEFAULT_WINDOW, Default::default()),
        }
    }

    /// The state with these drift windows.
    pub fn with_drift(self, drift: crate::drift::Windows) -> State {
        State { drift, ..self }
    }

    /// Reserves what a body may take while it is read and decoded: its JSON bytes times
    /// [`JSON_EXPANSION`], its binary bytes times [`BINARY_EXPANSION`]; `Saturated` when the server
    /// already holds its limit. Memory is bounded before it is allocated, whatever the number of clients.
    pub fn reserve(&self, json: usize, binary: usize) -> Result<Reservation, RequestError> {
        let bytes =
            json.saturating_mul(JSON_EXPANSION).saturating_add(binary.saturating_mul(BINARY_EXPANSION));
        let kib = bytes.div_ceil(1024).max(1);
        let permits = u32::try_from(kib).unwrap_or(u32::MAX);
        Arc::clone(&self.memory).try_acquire_many_owned(permits).map(Reservation).map_err(|_| {
            RequestError::Saturated {
                limit_mib: self.memory_limit >> 20,
                retry_after: Duration::from_secs(1),
            }
        })
    }

    /// Whether an `Authorization` header value carries the token (compared in constant time).
    pub fn authorized(&self, header: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let want = token.as_bytes();
        given.len() == want.len() && given.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// Whether the server takes requests (not draining, at least one model).
    pub fn ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed) && !self.repo.snapshot().is_empty()
    }

    /// The model version a request names.
    pub fn find(&self, name: &str, version: Option<&str>) -> Result<Arc<Served>, RequestError> {
        self.repo.snapshot().get(name, version).ok_or_else(|| {
            RequestError::NotFound(match version {
                Some(v) => format!("model `{name}` version `{v}` is not served"),
                None => format!("model `{name}` is not served"),
            })
        })
    }

    /// An id for a request that did not bring one (for logs).
    pub fn request_id(&self, given: Option<&str>) -> String {
        match given {
            Some(id) if !id.is_empty() => id.chars().take(128).collect(),
            _ => format!("ferry-{}", self.next_id.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Runs a decoded request: the contract, the model's queue, the deadline; the outputs asked for, in
    /// the order asked (all declared tensor outputs, in declaration order, when none were named).
    pub async fn infer(
        &self,
        served: &Arc<Served>,
        req: InferRequest,
    ) -> Result<Vec<(String, Tensor)>, RequestError> {
        if let Err(e) = served.model.contract().check_request(&req.inputs) {
            self.violation(served, &e);
            return Err(RequestError::Contract(e));
        }
        let names: Vec<String> = if req.outputs.is_empty() {
            served.outputs.iter().map(|o| o.name.clone()).collect()
        } else {
            let mut names = Vec::with_capacity(req.outputs.len());
            for o in &req.outputs {
                if !served.outputs.iter().any(|s| s.name == o.name) {
                    let declared: Vec<&str> = served.outputs.iter().map(|s| s.name.as_str()).collect();
                    return Err(RequestError::BadRequest(format!(
                        "output `{}` is not an output of model `{}` (outputs: {})",
                        o.name,
                        served.name,
                        declared.join(", ")
                    )));
                }
                if names.contains(&o.name) {
                    return Err(RequestError::BadRequest(format!("output `{}` is asked for twice", o.name)));
                }
                names.push(o.name.clone());
            }
            names
        };
        let deadline = req.timeout.map_or(served.settings.deadline, |t| t.min(served.settings.deadline));
        let answer = served.batcher.submit(req.inputs, Instant::now() + deadline)?;
        self.metrics.set_queue_depth(&served.name, &served.version, served.batcher.depth());
        let answer = match tokio::time::timeout(deadline, answer).await {
            Err(_) => return Err(RequestError::Deadline(deadline)),
            Ok(Err(_)) => {
                return Err(RequestError::Internal("the model's worker stopped before answering".into()));
            }
            Ok(Ok(reply)) => reply?,
        };
        self.metrics.latency(&served.name, "queue", answer.queued);
        self.metrics.latency(&served.name, "inference", answer.inference);
        let mut outputs = answer.outputs;
        names
            .into_iter()
            .map(|n| {
                outputs.remove(&n).map(|t| (n.clone(), t)).ok_or_else(|| {
                    RequestError::Internal(format!("the model did not produce its declared output `{n}`"))
                })
            })
            .collect()
    }

    /// Runs raw records through the bundle's transforms and model: one decision per record.
    pub async fn records(
        &self,
        served: &Arc<Served>,
        records: Vec<String>,
    ) -> Result<Vec<String>, RequestError> {
        if !served.model.takes_records() {
            return Err(RequestError::NotFound(format!(
                "model `{}` has no feature transforms: send tensors to /infer",
                served.name
            )));
        }
        let permit =
            Arc::clone(&served.records).try_acquire_owned().map_err(|_| RequestError::Overloaded {
                model: served.name.clone(),
                capacity: served.settings.max_queue,
                retry_after: Duration::from_secs(1),
            })?;
        let model = Arc::clone(&served.model);
        let started = Instant::now();
        let run = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            model.infer_records(&records)
        });
        let deadline = served.settings.deadline;
        let result = match tokio::time::timeout(deadline, run).await {
            Err(_) => return Err(RequestError::Deadline(deadline)),
            Ok(Err(e)) => return Err(RequestError::Internal(format!("the records call stopped: {e}"))),
            Ok(Ok(r)) => r,
        };
        self.metrics.latency(&served.name, "transform", started.elapsed());
        result.map_err(|e| {
            let e = RequestError::from(e);
            if let RequestError::Contract(c) = &e {
                self.violation(served, c);
            }
            e
        })
    }

    /// A decoding error as the request's answer; a contract refusal is counted as a violation, as it is
    /// when the whole request is checked.
    pub fn decode_error(&self, served: &Served, e: ferry_oip::DecodeError) -> RequestError {
        if let ferry_oip::DecodeError::Contract(c) = &e {
            self.violation(served, c);
        }
        RequestError::from(e)
    }

    /// Counts a contract violation. Labels come from the bundle's contract only: an input the contract
    /// does not declare is counted as `input=""`, so clients cannot mint new series.
    pub fn violation(&self, served: &Served, e: &ferry::runtime::ContractError) {
        let input = match e.kind {
            ferry::runtime::ContractErrorKind::UnknownInput { .. } => "",
            _ => e.input.as_str(),
        };
        self.metrics.violation(&served.name, input, e.feature.as_deref(), e.kind.rule());
        if let Some(live) = served.model.drift() {
            live.refuse(input, e.feature.as_deref(), e.kind.rule());
        }
    }

    /// [`State::finish`] for a request refused before a served model was found (no such model, no
    /// token): counted under `model=""`, since the name is the client's and labels must stay bounded;
    /// logged with the name the client gave.
    pub fn finish_unresolved(
        &self,
        requested: &str,
        version: &str,
        protocol: Protocol,
        id: &str,
        started: Instant,
        e: &RequestError,
    ) {
        self.metrics.request("", "", protocol.name(), e.outcome());
        let micros = started.elapsed().as_micros().to_string();
        log::event(
            "warn",
            "request failed",
            &[
                ("id", id),
                ("model", requested),
                ("version", version),
                ("protocol", protocol.name()),
                ("outcome", e.outcome()),
                ("error", &e.message()),
                ("micros", &micros),
            ],
        );
    }

    /// Counts and (for failures, or always with `--log-requests`) logs a finished request.
    pub fn finish(
        &self,
        model: &str,
        version: &str,
        protocol: Protocol,
        id: &str,
        started: Instant,
        result: Result<(), &RequestError>,
    ) {
        let elapsed = started.elapsed();
        let outcome = match result {
            Ok(()) => "ok",
            Err(e) => e.outcome(),
        };
        self.metrics.request(model, version, protocol.name(), outcome);
        if result.is_ok() {
            self.metrics.latency(model, "total", elapsed);
            if self.budget.p99.is_some_and(|b| elapsed > b) {
                self.metrics.over_budget(model, version);
            }
        }
        let micros = elapsed.as_micros().to_string();
        match result {
            Err(e) => {
                let level = if e.http_status() >= 500 { "error" } else { "warn" };
                log::event(
                    level,
                    "request failed",
                    &[
                        ("id", id),
                        ("model", model),
                        ("version", version),
                        ("protocol", protocol.name()),
                        ("outcome", outcome),
                        ("error", &e.message()),
                        ("micros", &micros),
                    ],
                );
            }
            Ok(()) if self.log_requests => log::event(
                "info",
                "request",
                &[
                    ("id", id),
                    ("model", model),
                    ("version", version),
                    ("protocol", protocol.name()),
                    ("micros", &micros),
                ],
            ),
            Ok(()) => {}
        }
    }
}
