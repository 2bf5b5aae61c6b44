//! OIP v2 over HTTP/JSON, with the binary tensor data extension, and Ferry's records extension.

use crate::error::RequestError;
use crate::oip::{self, RequestedOutput};
use crate::repository::Served;
use crate::state::{Protocol, State};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as Axum};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The binary tensor data extension's header: the length of the JSON part of the body.
const HEADER_LENGTH: &str = "inference-header-content-length";

/// The REST routes.
pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{model}", get(model_metadata))
        .route("/v2/models/{model}/versions/{version}", get(model_metadata))
        .route("/v2/models/{model}/ready", get(model_ready))
        .route("/v2/models/{model}/versions/{version}/ready", get(model_ready))
        .route("/v2/models/{model}/infer", post(infer))
        .route("/v2/models/{model}/versions/{version}/infer", post(infer))
        .route("/v2/models/{model}/records", post(records))
        .route("/v2/models/{model}/versions/{version}/records", post(records))
        .route("/v2/models/{model}/drift", get(drift))
        .route("/v2/models/{model}/versions/{version}/drift", get(drift))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

fn error_response(e: &RequestError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(e.body())).into_response();
    if let RequestError::Overloaded { retry_after, .. } | RequestError::Saturated { retry_after, .. } = e {
        let secs = retry_after.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    if let RequestError::Unauthorized = e {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn authorize(state: &State, headers: &HeaderMap) -> Result<(), RequestError> {
    if state.authorized(headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes)) {
        Ok(())
    } else {
        Err(RequestError::Unauthorized)
    }
}

/// A path segment axum could not decode (not UTF-8 once percent-decoded): the protocol's JSON error,
/// not axum's plain-text one.
fn bad_path(e: &PathRejection) -> RequestError {
    RequestError::BadRequest(format!("bad path: {}", e.body_text()))
}

async fn not_found() -> Response {
    error_response(&RequestError::NotFound("no such endpoint".into()))
}

async fn live() -> Response {
    (StatusCode::OK, axum::Json(json!({ "live": true }))).into_response()
}

async fn ready(Axum(state): Axum<Arc<State>>) -> Response {
    let ready = state.ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(json!({ "ready": ready }))).into_response()
}

async fn metrics(Axum(state): Axum<Arc<State>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return error_response(&e);
    }
    let mut text = state.metrics.render();
    let served: Vec<Arc<Served>> = state.repo.snapshot().all().cloned().collect();
    state.drift.retain(&served);
    let reports: Vec<(Arc<Served>, crate::drift::WindowReport)> =
        served.into_iter().filter_map(|s| state.drift.report(&s).map(|r| (s, r))).collect();
    crate::drift::render(&mut text, &reports);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// `GET /v2/models/{m}/drift`: the model's sliding window of traffic compared with its bundle's
/// reference profile, per feature and output column, with the contract's refusal shares.
async fn drift(Axum(state): Axum<Arc<State>>, path: ModelPath, headers: HeaderMap) -> Response {
    let answer = || -> Result<Response, RequestError> {
        authorize(&state, &headers)?;
        let (model, version) = model_and_version(path)?;
        let served = state.find(&model, version.as_deref())?;
        let report = state.drift.report(&served).ok_or_else(|| {
            RequestError::NotFound(format!(
                "model `{}` version `{}` has no reference profile ([reference] in its ferry.toml)",
                served.name, served.version
            ))
        })?;
        Ok(axum::Json(report.json(&served)).into_response())
    };
    answer().unwrap_or_else(|e| error_response(&e))
}

/// The server's name, version and the protocol extensions it speaks.
pub(crate) const EXTENSIONS: &[&str] = &["binary_tensor_data", "ferry_records"];

async fn server_metadata(Axum(state): Axum<Arc<State>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&state, &headers) {
        return error_response(&e);
    }
    axum::Json(json!({
        "name": "ferry",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": EXTENSIONS,
    }))
    .into_response()
}

/// A tensor's metadata: `-1` for a symbolic dim, as OIP v2 writes a variable size.
pub(crate) fn shape_metadata(spec: &ferry_spec::TensorSpec) -> Vec<i64> {
    spec.shape
        .iter()
        .map(|d| match d {
            ferry_spec::Dim::Fixed(n) => i64::try_from(*n).unwrap_or(-1),
            ferry_spec::Dim::Symbolic(_) => -1,
        })
        .collect()
}

fn tensor_metadata(specs: &[ferry_spec::TensorSpec]) -> Vec<Value> {
    specs
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "datatype": oip::datatype(s.dtype).unwrap_or("UNKNOWN"),
                "shape": shape_metadata(s),
            })
        })
        .collect()
}

fn metadata(state: &State, served: &Served) -> Value {
    let snapshot = state.repo.snapshot();
    json!({
        "name": served.name,
        "versions": snapshot.versions(&served.name),
        "platform": "onnx_onnxv1",
        "inputs": tensor_metadata(&served.inputs),
        "outputs": tensor_metadata(&served.outputs),
    })
}

/// A route's `{model}` and optional `{version}`, or the protocol's JSON 400 for a path axum could not
/// decode. One extractor serves both forms of each route.
type ModelPath = Result<Path<BTreeMap<String, String>>, PathRejection>;

fn model_and_version(path: ModelPath) -> Result<(String, Option<String>), RequestError> {
    let Path(mut params) = path.map_err(|e| bad_path(&e))?;
    let model =
        params.remove("model").ok_or_else(|| RequestError::BadRequest("no model in the path".into()))?;
    Ok((model, params.remove("version")))
}

async fn model_metadata(Axum(state): Axum<Arc<State>>, path: ModelPath, headers: HeaderMap) -> Response {
    match model_and_version(path) {
        Ok((model, version)) => metadata_answer(&state, &headers, &model, version.as_deref()),
        Err(e) => error_response(&e),
    }
}

fn metadata_answer(state: &State, headers: &HeaderMap, model: &str, version: Option<&str>) -> Response {
    match authorize(state, headers).and_then(|()| state.find(model, version)) {
        Ok(served) => axum::Json(metadata(state, &served)).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn model_ready(Axum(state): Axum<Arc<State>>, path: ModelPath, headers: HeaderMap) -> Response {
    match model_and_version(path) {
        Ok((model, version)) => ready_answer(&state, &headers, &model, version.as_deref()),
        Err(e) => error_response(&e),
    }
}

fn ready_answer(state: &State, headers: &HeaderMap, model: &str, version: Option<&str>) -> Response {
    match authorize(state, headers).and_then(|()| state.find(model, version)) {
        Ok(served) => axum::Json(json!({ "name": served.name, "ready": true })).into_response(),
        Err(e) => error_response(&e),
    }
}

/// Reserves the memory a request may take before its body is read (its `Content-Length`, or the body
/// limit when it does not say, times what decoding may make of it), then reads the body.
async fn read_body(
    state: &State,
    served: &Served,
    headers: &HeaderMap,
    body: Body,
) -> Result<(bytes::Bytes, crate::state::Reservation), RequestError> {
    let number = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok())
    };
    let declared = number(header::CONTENT_LENGTH.as_str()).unwrap_or(state.max_body).min(state.max_body);
    // The JSON part is what the binary extension's header says, or all of it: a header longer than the
    // body is refused later, and reserves the body as JSON meanwhile.
    let json = number(HEADER_LENGTH).map_or(declared, |n| n.min(declared));
    let reservation = state.reserve(json, declared - json)?;
    // A client that declares a body and never sends it holds its reservation only this long.
    let deadline = served.settings.deadline;
    let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, state.max_body)).await {
        Err(_) => return Err(RequestError::SlowBody(deadline)),
        Ok(Err(_)) => {
            return Err(RequestError::TooLarge(format!(
                "the request body is over the server's limit of {} bytes, or was cut off",
                state.max_body
            )));
        }
        Ok(Ok(b)) => b,
    };
    Ok((bytes, reservation))
}

fn encode(
    served: &Served,
    id: Option<&str>,
    outputs: Vec<(String, ferry_tensor::Tensor)>,
    asked: &[RequestedOutput],
    binary_default: bool,
) -> Response {
    let mut binary = Vec::new();
    let mut list = Vec::with_capacity(outputs.len());
    for (name, t) in outputs {
        let as_binary =
            asked.iter().find(|o| o.name == name).and_then(|o| o.binary).unwrap_or(binary_default);
        let mut out = json!({
            "name": name,
            "datatype": oip::datatype(t.dtype()).unwrap_or("UNKNOWN"),
            "shape": t.shape,
        });
        if as_binary {
            let raw = oip::to_raw(&t);
            out["parameters"] = json!({ "binary_data_size": raw.len() });
            binary.extend_from_slice(&raw);
        } else {
            out["data"] = oip::to_json(&t);
        }
        list.push(out);
    }
    let mut head = json!({
        "model_name": served.name,
        "model_version": served.version,
        "outputs": list,
    });
    if let Some(id) = id {
        head["id"] = Value::from(id);
    }
    let head = head.to_string().into_bytes();
    if binary.is_empty() {
        return ([(header::CONTENT_TYPE, "application/json")], head).into_response();
    }
    let length = head.len().to_string();
    let mut body = head;
    body.extend_from_slice(&binary);
    let mut response = ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&length) {
        response.headers_mut().insert(HEADER_LENGTH, v);
    }
    response
}

/// What a `POST` to a model asks for.
#[derive(Debug, Clone, Copy)]
enum Post {
    Infer,
    Records,
}

async fn infer(Axum(state): Axum<Arc<State>>, path: ModelPath, headers: HeaderMap, body: Body) -> Response {
    match model_and_version(path) {
        Ok((model, version)) => answer_post(state, headers, body, model, version, Post::Infer).await,
        Err(e) => error_response(&e),
    }
}

async fn records(Axum(state): Axum<Arc<State>>, path: ModelPath, headers: HeaderMap, body: Body) -> Response {
    match model_and_version(path) {
        Ok((model, version)) => answer_post(state, headers, body, model, version, Post::Records).await,
        Err(e) => error_response(&e),
    }
}

/// A `POST` to a model: token, model, memory reserved and body read, the request run, then counted and
/// logged under the client's id (its OIP `id`, else `x-request-id`, else one of the server's).
async fn answer_post(
    state: Arc<State>,
    headers: HeaderMap,
    body: Body,
    model: String,
    version: Option<String>,
    what: Post,
) -> Response {
    let started = Instant::now();
    let _inflight = state.metrics.start();
    let header_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut id = state.request_id(header_id.as_deref());
    let served = match authorize(&state, &headers).and_then(|()| state.find(&model, version.as_deref())) {
        Ok(s) => s,
        Err(e) => {
            let version = version.as_deref().unwrap_or("");
            state.finish_unresolved(&model, version, Protocol::Rest, &id, started, &e);
            return error_response(&e);
        }
    };
    let result = async {
        let (body, _reservation) = read_body(&state, &served, &headers, body).await?;
        match what {
            Post::Infer => run_infer(&state, &served, &headers, body, &mut id).await,
            Post::Records => run_records(&state, &served, body, &mut id).await,
        }
    }
    .await;
    state.finish(&served.name, &served.version, Protocol::Rest, &id, started, result.as_ref().map(|_| ()));
    result.unwrap_or_else(|e| error_response(&e))
}

async fn run_infer(
    state: &State,
    served: &Arc<Served>,
    headers: &HeaderMap,
    body: bytes::Bytes,
    id: &mut String,
) -> Result<Response, RequestError> {
    let header_length = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            RequestError::BadRequest(format!(
                "header `Inference-Header-Content-Length` is not a byte count: {v:?}"
            ))
        })?),
    };
    let request = oip::decode_rest(served.model.contract(), header_length, &body)
        .map_err(|e| state.decode_error(served, e))?;
    drop(body);
    if let Some(given) = &request.id {
        *id = state.request_id(Some(given));
    }
    let asked = request.outputs.clone();
    let binary = request.binary_output;
    let client_id = request.id.clone();
    let outputs = state.infer(served, request).await?;
    Ok(encode(served, client_id.as_deref(), outputs, &asked, binary))
}

#[derive(Deserialize)]
struct RecordsRequest {
    #[serde(default)]
    id: Option<String>,
    records: Vec<Value>,
}

async fn run_records(
    state: &State,
    served: &Arc<Served>,
    body: bytes::Bytes,
    id: &mut String,
) -> Result<Response, RequestError> {
    let request: RecordsRequest = serde_json::from_slice(&body).map_err(|e| {
        RequestError::BadRequest(format!("the body is not a records request ({{\"records\": [...]}}): {e}"))
    })?;
    drop(body);
    if let Some(given) = &request.id {
        *id = state.request_id(Some(given));
    }
    let records: Vec<String> = request.records.iter().map(Value::to_string).collect();
    let decisions = state.records(served, records).await?;
    let decisions: Vec<Value> = decisions
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.clone())))
        .collect();
    let mut answer = json!({
        "model_name": served.name,
        "model_version": served.version,
        "decisions": decisions,
    });
    if let Some(id) = request.id {
        answer["id"] = Value::from(id);
    }
    Ok(axum::Json(answer).into_response())
}
