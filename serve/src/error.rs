//! What a request is answered when it is refused or fails: one type for REST and gRPC, so that both
//! protocols give the same status for the same fault.

use ferry::runtime::{ContractError, RuntimeError};
use std::time::Duration;

/// Why the server could not start (bad options, a port taken, a bundle refused).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The serve configuration file is unreadable or invalid; names the key.
    #[error("serve config `{path}`: {message}")]
    Config { path: String, message: String },
    /// A bundle named on the command line could not be opened (refused by a check, or unreadable).
    #[error("{path}: {source}")]
    Bundle {
        path: String,
        #[source]
        source: Box<RuntimeError>,
    },
    /// A bundle cannot be served over the Open Inference Protocol (its inputs are maps or sequences).
    #[error("{path}: {reason}")]
    Unservable { path: String, reason: String },
    /// A source path is neither a bundle nor a directory of bundles.
    #[error("{path}: {message}")]
    Source { path: String, message: String },
    /// Two bundles are the same model name and version.
    #[error("{path}: model `{name}` version `{version}` is already served from {other}")]
    Duplicate { path: String, name: String, version: String, other: String },
    /// A listening address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The token file could not be read or is empty.
    #[error("token file `{path}`: {message}")]
    Token { path: String, message: String },
    /// The TLS certificate or key is unreadable or unusable.
    #[error("tls `{path}`: {message}")]
    Tls { path: String, message: String },
    /// The limits contradict each other.
    #[error("{0}")]
    Limits(String),
    /// The server failed while running.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// A refused or failed request, as both protocols answer it.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request is malformed (not JSON, a shape that does not hold its data, an unknown datatype).
    #[error("{0}")]
    BadRequest(String),
    /// The request breaks the bundle's data contract: nothing reached the model.
    #[error("{0}")]
    Contract(Box<ContractError>),
    /// No such model, version or output.
    #[error("{0}")]
    NotFound(String),
    /// The model's queue is full; retry after the given time.
    #[error("model `{model}` is overloaded: its queue of {capacity} requests is full")]
    Overloaded { model: String, capacity: usize, retry_after: Duration },
    /// The request waited past its deadline; it was not run.
    #[error("the request's deadline of {0:?} passed before it could run")]
    Deadline(Duration),
    /// The request data held in flight is at the server's limit (`--max-inflight-bytes`).
    #[error("the server holds its limit of {limit_mib} MiB of request data in flight")]
    Saturated { limit_mib: usize, retry_after: Duration },
    /// The client did not send its body within the model's deadline.
    #[error("the request body did not arrive within {0:?}")]
    SlowBody(Duration),
    /// The body or a tensor is over the server's limits.
    #[error("{0}")]
    TooLarge(String),
    /// No valid bearer token.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The server is draining or the model is being unloaded.
    #[error("{0}")]
    Unavailable(String),
    /// The model failed on a request the contract accepted (ONNX Runtime, an output check).
    #[error("{0}")]
    Internal(String),
}

impl RequestError {
    /// The HTTP status of the REST answer.
    pub fn http_status(&self) -> u16 {
        match self {
            RequestError::BadRequest(_) | RequestError::Contract(_) => 400,
            RequestError::Unauthorized => 401,
            RequestError::SlowBody(_) => 408,
            RequestError::NotFound(_) => 404,
            RequestError::TooLarge(_) => 413,
            RequestError::Internal(_) => 500,
            RequestError::Overloaded { .. }
            | RequestError::Saturated { .. }
            | RequestError::Unavailable(_) => 503,
            RequestError::Deadline(_) => 504,
        }
    }

    /// The gRPC status code of the gRPC answer.
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            RequestError::BadRequest(_) | RequestError::Contract(_) => tonic::Code::InvalidArgument,
            RequestError::Unauthorized => tonic::Code::Unauthenticated,
            RequestError::NotFound(_) => tonic::Code::NotFound,
            RequestError::TooLarge(_) => tonic::Code::ResourceExhausted,
            RequestError::Internal(_) => tonic::Code::Internal,
            RequestError::Overloaded { .. }
            | RequestError::Saturated { .. }
            | RequestError::Unavailable(_) => tonic::Code::Unavailable,
            RequestError::Deadline(_) | RequestError::SlowBody(_) => tonic::Code::DeadlineExceeded,
        }
    }

    /// The outcome label of the request counter.
    pub fn outcome(&self) -> &'static str {
        match self {
            RequestError::BadRequest(_) => "bad_request",
            RequestError::Contract(_) => "contract",
            RequestError::NotFound(_) => "not_found",
            RequestError::Overloaded { .. } | RequestError::Saturated { .. } => "overloaded",
            RequestError::Deadline(_) | RequestError::SlowBody(_) => "deadline",
            RequestError::TooLarge(_) => "too_large",
            RequestError::Unauthorized => "unauthorized",
            RequestError::Unavailable(_) => "unavailable",
            RequestError::Internal(_) => "error",
        }
    }

    /// The error as text, cut to 1 KiB: a name a client sent (an unknown input, model or output) can be
    /// as long as the body, and the message goes into logs, JSON answers and gRPC headers.
    pub fn message(&self) -> String {
        const MAX: usize = 1024;
        let mut text = self.to_string();
        if text.len() > MAX {
            let mut cut = MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        text
    }

    /// The JSON error body: OIP v2's `{"error": message}`, with the library's structured contract error
    /// under `contract` when the contract refused the request.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.message() });
        if let RequestError::Contract(e) = self {
            body["contract"] = contract_json(e);
        }
        body
    }
}

/// The library's [`ContractError`] as JSON: what a client matches on.
pub fn contract_json(e: &ContractError) -> serde_json::Value {
    serde_json::json!({
        "input": e.input,
        "feature": e.feature,
        "index": e.index,
        "value": e.value,
        "rule": e.kind.rule(),
    })
}

impl From<ferry_oip::DecodeError> for RequestError {
    fn from(e: ferry_oip::DecodeError) -> RequestError {
        match e {
            ferry_oip::DecodeError::BadRequest(m) => RequestError::BadRequest(m),
            ferry_oip::DecodeError::Contract(c) => RequestError::Contract(c),
        }
    }
}

impl From<RuntimeError> for RequestError {
    fn from(e: RuntimeError) -> RequestError {
        match e {
            RuntimeError::Contract(c) => RequestError::Contract(c),
            RuntimeError::Request { error, .. } => RequestError::Contract(error),
            e @ (RuntimeError::Record { .. }
            | RuntimeError::NoTransform { .. }
            | RuntimeError::NeedsValues { .. }
            | RuntimeError::RequestFile(_)) => RequestError::BadRequest(e.to_string()),
            // A transform that traps or runs out of fuel did so on the records it was given.
            e @ RuntimeError::Transform(_) => RequestError::BadRequest(e.to_string()),
            e => RequestError::Internal(e.to_string()),
        }
    }
}
