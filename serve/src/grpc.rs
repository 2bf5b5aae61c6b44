//! OIP v2 over gRPC: `inference.GRPCInferenceService` as KServe's `grpc_predict_v2.proto` publishes it
//! (the subset of Triton's `grpc_service.proto` that `tritonclient` calls for these six methods).
//!
//! The messages are prost derives written from the published proto's field numbers, so that building
//! Ferry needs no `protoc`; `proto::tests` pins the wire format against bytes Python's protobuf wrote.

use crate::error::RequestError;
use crate::oip::{self, Declared, InferRequest, RequestedOutput};
use crate::repository::Served;
use crate::state::{Protocol, State};
use ferry_spec::DType;
use ferry_tensor::{Tensor, TensorData, TensorMap};
use proto::infer_parameter::ParameterChoice;
use proto::*;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::codegen::{Body, BoxFuture, StdError, http};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

/// The messages of `grpc_predict_v2.proto` (package `inference`).
#[allow(missing_docs)]
pub mod proto {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServerLiveRequest {}
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServerLiveResponse {
        #[prost(bool, tag = "1")]
        pub live: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServerReadyRequest {}
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServerReadyResponse {
        #[prost(bool, tag = "1")]
        pub ready: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelReadyRequest {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelReadyResponse {
        #[prost(bool, tag = "1")]
        pub ready: bool,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServerMetadataRequest {}
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ServerMetadataResponse {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
        #[prost(string, repeated, tag = "3")]
        pub extensions: Vec<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelMetadataRequest {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorMetadata {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub datatype: String,
        #[prost(int64, repeated, tag = "3")]
        pub shape: Vec<i64>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelMetadataResponse {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, repeated, tag = "2")]
        pub versions: Vec<String>,
        #[prost(string, tag = "3")]
        pub platform: String,
        #[prost(message, repeated, tag = "4")]
        pub inputs: Vec<TensorMetadata>,
        #[prost(message, repeated, tag = "5")]
        pub outputs: Vec<TensorMetadata>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InferParameter {
        #[prost(oneof = "infer_parameter::ParameterChoice", tags = "1, 2, 3, 4, 5")]
        pub parameter_choice: Option<infer_parameter::ParameterChoice>,
    }
    pub mod infer_parameter {
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum ParameterChoice {
            #[prost(bool, tag = "1")]
            BoolParam(bool),
            #[prost(int64, tag = "2")]
            Int64Param(i64),
            #[prost(string, tag = "3")]
            StringParam(String),
            // Triton's additions, which tritonclient may send.
            #[prost(double, tag = "4")]
            DoubleParam(f64),
            #[prost(uint64, tag = "5")]
            Uint64Param(u64),
        }
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InferTensorContents {
        #[prost(bool, repeated, tag = "1")]
        pub bool_contents: Vec<bool>,
        #[prost(int32, repeated, tag = "2")]
        pub int_contents: Vec<i32>,
        #[prost(int64, repeated, tag = "3")]
        pub int64_contents: Vec<i64>,
        #[prost(uint32, repeated, tag = "4")]
        pub uint_contents: Vec<u32>,
        #[prost(uint64, repeated, tag = "5")]
        pub uint64_contents: Vec<u64>,
        #[prost(float, repeated, tag = "6")]
        pub fp32_contents: Vec<f32>,
        #[prost(double, repeated, tag = "7")]
        pub fp64_contents: Vec<f64>,
        #[prost(bytes = "vec", repeated, tag = "8")]
        pub bytes_contents: Vec<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InferInputTensor {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub datatype: String,
        #[prost(int64, repeated, tag = "3")]
        pub shape: Vec<i64>,
        #[prost(map = "string, message", tag = "4")]
        pub parameters: HashMap<String, InferParameter>,
        #[prost(message, optional, tag = "5")]
        pub contents: Option<InferTensorContents>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InferRequestedOutputTensor {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(map = "string, message", tag = "2")]
        pub parameters: HashMap<String, InferParameter>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelInferRequest {
        #[prost(string, tag = "1")]
        pub model_name: String,
        #[prost(string, tag = "2")]
        pub model_version: String,
        #[prost(string, tag = "3")]
        pub id: String,
        #[prost(map = "string, message", tag = "4")]
        pub parameters: HashMap<String, InferParameter>,
        #[prost(message, repeated, tag = "5")]
        pub inputs: Vec<InferInputTensor>,
        #[prost(message, repeated, tag = "6")]
        pub outputs: Vec<InferRequestedOutputTensor>,
        #[prost(bytes = "vec", repeated, tag = "7")]
        pub raw_input_contents: Vec<Vec<u8>>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InferOutputTensor {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub datatype: String,
        #[prost(int64, repeated, tag = "3")]
        pub shape: Vec<i64>,
        #[prost(map = "string, message", tag = "4")]
        pub parameters: HashMap<String, InferParameter>,
        #[prost(message, optional, tag = "5")]
        pub contents: Option<InferTensorContents>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelInferResponse {
        #[prost(string, tag = "1")]
        pub model_name: String,
        #[prost(string, tag = "2")]
        pub model_version: String,
        #[prost(string, tag = "3")]
        pub id: String,
        #[prost(map = "string, message", tag = "4")]
        pub parameters: HashMap<String, InferParameter>,
        #[prost(message, repeated, tag = "5")]
        pub outputs: Vec<InferOutputTensor>,
        #[prost(bytes = "vec", repeated, tag = "6")]
        pub raw_output_contents: Vec<Vec<u8>>,
    }
}

/// The gRPC service, routed by method path.
#[derive(Debug, Clone)]
pub(crate) struct InferenceService {
    state: Arc<State>,
}

impl InferenceService {
    pub(crate) fn new(state: Arc<State>) -> InferenceService {
        InferenceService { state }
    }
}

impl NamedService for InferenceService {
    const NAME: &'static str = "inference.GRPCInferenceService";
}

/// An `async fn(state, request)` as a tonic unary service.
struct Unary<F> {
    state: Arc<State>,
    f: F,
}

impl<R, T, F, Fut> UnaryService<R> for Unary<F>
where
    F: Fn(Arc<State>, Request<R>) -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>> + Send + 'static,
{
    type Response = T;
    type Future = Fut;
    fn call(&mut self, request: Request<R>) -> Fut {
        (self.f)(Arc::clone(&self.state), request)
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for InferenceService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let state = Arc::clone(&self.state);
        let max = state.max_body;
        // The token is checked from the headers before a message is read and decoded (the health
        // checks need none), so an unauthenticated client cannot make the server hold its messages.
        let path = req.uri().path();
        let health = path.ends_with("/ServerLive") || path.ends_with("/ServerReady");
        if !health && !state.authorized(req.headers().get("authorization").map(|v| v.as_bytes())) {
            let status = status(&RequestError::Unauthorized);
            return Box::pin(async move { Ok(status.into_http()) });
        }
        macro_rules! unary {
            ($handler:expr) => {{
                let svc = Unary { state, f: $handler };
                Box::pin(async move {
                    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(usize::MAX);
                    Ok(grpc.unary(svc, req).await)
                })
            }};
        }
        match req.uri().path() {
            "/inference.GRPCInferenceService/ServerLive" => unary!(server_live),
            "/inference.GRPCInferenceService/ServerReady" => unary!(server_ready),
            "/inference.GRPCInferenceService/ModelReady" => unary!(model_ready),
            "/inference.GRPCInferenceService/ServerMetadata" => unary!(server_metadata),
            "/inference.GRPCInferenceService/ModelMetadata" => unary!(model_metadata),
            "/inference.GRPCInferenceService/ModelInfer" => unary!(model_infer),
            other => {
                let status = Status::unimplemented(format!("{other} is not a method this server implements"));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

fn status(e: &RequestError) -> Status {
    let mut s = Status::new(e.grpc_code(), e.message());
    if let RequestError::Contract(c) = e
        && let Ok(v) = crate::error::contract_json(c).to_string().parse()
    {
        s.metadata_mut().insert("ferry-contract", v);
    }
    s
}

fn authorize<R>(state: &State, req: &Request<R>) -> Result<(), Status> {
    if state.authorized(req.metadata().get("authorization").map(|v| v.as_bytes())) {
        Ok(())
    } else {
        Err(status(&RequestError::Unauthorized))
    }
}

fn version(v: &str) -> Option<&str> {
    (!v.is_empty()).then_some(v)
}

async fn server_live(
    _state: Arc<State>,
    _req: Request<ServerLiveRequest>,
) -> Result<Response<ServerLiveResponse>, Status> {
    Ok(Response::new(ServerLiveResponse { live: true }))
}

async fn server_ready(
    state: Arc<State>,
    _req: Request<ServerReadyRequest>,
) -> Result<Response<ServerReadyResponse>, Status> {
    Ok(Response::new(ServerReadyResponse { ready: state.ready() }))
}

async fn model_ready(
    state: Arc<State>,
    req: Request<ModelReadyRequest>,
) -> Result<Response<ModelReadyResponse>, Status> {
    authorize(&state, &req)?;
    let r = req.into_inner();
    Ok(Response::new(ModelReadyResponse { ready: state.find(&r.name, version(&r.version)).is_ok() }))
}

async fn server_metadata(
    state: Arc<State>,
    req: Request<ServerMetadataRequest>,
) -> Result<Response<ServerMetadataResponse>, Status> {
    authorize(&state, &req)?;
    Ok(Response::new(ServerMetadataResponse {
        name: "ferry".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        extensions: crate::rest::EXTENSIONS.iter().map(|s| (*s).to_owned()).collect(),
    }))
}

fn tensor_metadata(specs: &[ferry_spec::TensorSpec]) -> Vec<TensorMetadata> {
    specs
        .iter()
        .map(|s| TensorMetadata {
            name: s.name.clone(),
            datatype: oip::datatype(s.dtype).unwrap_or("UNKNOWN").to_owned(),
            shape: crate::rest::shape_metadata(s),
        })
        .collect()
}

async fn model_metadata(
    state: Arc<State>,
    req: Request<ModelMetadataRequest>,
) -> Result<Response<ModelMetadataResponse>, Status> {
    authorize(&state, &req)?;
    let r = req.into_inner();
    let served = state.find(&r.name, version(&r.version)).map_err(|e| status(&e))?;
    Ok(Response::new(ModelMetadataResponse {
        name: served.name.clone(),
        versions: state.repo.snapshot().versions(&served.name),
        platform: "onnx_onnxv1".into(),
        inputs: tensor_metadata(&served.inputs),
        outputs: tensor_metadata(&served.outputs),
    }))
}

async fn model_infer(
    state: Arc<State>,
    req: Request<ModelInferRequest>,
) -> Result<Response<ModelInferResponse>, Status> {
    let started = Instant::now();
    let _inflight = state.metrics.start();
    authorize(&state, &req)?;
    let r = req.into_inner();
    let id = state.request_id(Some(&r.id));
    let served = match state.find(&r.model_name, version(&r.model_version)) {
        Ok(s) => s,
        Err(e) => {
            state.finish_unresolved(&r.model_name, &r.model_version, Protocol::Grpc, &id, started, &e);
            return Err(status(&e));
        }
    };
    let client_id = r.id.clone();
    let result = async {
        let request = decode(&served, r).inspect_err(|e| {
            if let RequestError::Contract(c) = e {
                state.violation(&served, c);
            }
        })?;
        let outputs = state.infer(&served, request).await?;
        Ok::<_, RequestError>(encode(&served, client_id, outputs))
    }
    .await;
    state.finish(&served.name, &served.version, Protocol::Grpc, &id, started, result.as_ref().map(|_| ()));
    result.map(Response::new).map_err(|e| status(&e))
}

fn decode(served: &Served, r: ModelInferRequest) -> Result<InferRequest, RequestError> {
    let contract = served.model.contract();
    if !r.raw_input_contents.is_empty() && r.raw_input_contents.len() != r.inputs.len() {
        return Err(RequestError::BadRequest(format!(
            "{} inputs but {} raw_input_contents: give one per input or none",
            r.inputs.len(),
            r.raw_input_contents.len()
        )));
    }
    let mut inputs = TensorMap::new();
    for (i, input) in r.inputs.into_iter().enumerate() {
        if inputs.contains_key(&input.name) {
            return Err(RequestError::BadRequest(format!("input `{}` is given twice", input.name)));
        }
        let shape: Vec<usize> =
            input.shape.iter().map(|&d| usize::try_from(d)).collect::<Result<_, _>>().map_err(|_| {
                RequestError::BadRequest(format!(
                    "input `{}`: shape {:?} has a negative dim",
                    input.name, input.shape
                ))
            })?;
        let declared = Declared { name: &input.name, datatype: &input.datatype, shape };
        let tensor = match r.raw_input_contents.get(i) {
            Some(raw) => {
                let (dtype, n) = oip::check_declared(contract, &declared, Some(raw.len() as u64))?;
                oip::from_raw(&input.name, dtype, declared.shape, n, raw)?
            }
            None => {
                let (dtype, n) = oip::check_declared(contract, &declared, None)?;
                let contents = input.contents.ok_or_else(|| {
                    RequestError::BadRequest(format!(
                        "input `{}` has no contents and no raw_input_contents",
                        input.name
                    ))
                })?;
                from_contents(&input.name, dtype, declared.shape, n, contents)?
            }
        };
        inputs.insert(input.name, tensor);
    }
    let outputs = r.outputs.into_iter().map(|o| RequestedOutput { name: o.name, binary: None }).collect();
    let timeout = match r.parameters.get("timeout").and_then(|p| p.parameter_choice.as_ref()) {
        None => None,
        Some(ParameterChoice::Int64Param(us)) => Some(oip::timeout_micros(*us).ok_or_else(|| {
            RequestError::BadRequest("parameter `timeout` is not a positive number of microseconds".into())
        })?),
        Some(ParameterChoice::Uint64Param(us)) => oip::timeout_micros(i64::try_from(*us).unwrap_or(i64::MAX)),
        Some(_) => return Err(RequestError::BadRequest("parameter `timeout` is not an integer".into())),
    };
    Ok(InferRequest { id: version(&r.id).map(str::to_owned), inputs, outputs, binary_output: true, timeout })
}

/// A tensor from the typed `contents` fields: the field that the datatype names, holding exactly the
/// shape's element count.
fn from_contents(
    name: &str,
    dtype: DType,
    shape: Vec<usize>,
    n: usize,
    c: InferTensorContents,
) -> Result<Tensor, RequestError> {
    let bad = |m: String| RequestError::BadRequest(format!("input `{name}`: {m}"));
    fn narrow<S: Copy + std::fmt::Display, T: TryFrom<S>>(
        v: Vec<S>,
        name: &str,
    ) -> Result<Vec<T>, RequestError> {
        v.into_iter()
            .enumerate()
            .map(|(i, x)| {
                T::try_from(x).map_err(|_| {
                    RequestError::BadRequest(format!(
                        "input `{name}` element {i}: {x} is out of range for its datatype"
                    ))
                })
            })
            .collect()
    }
    let data = match dtype {
        DType::Bool => TensorData::Bool(c.bool_contents),
        DType::Int8 => TensorData::I8(narrow(c.int_contents, name)?),
        DType::Int16 => TensorData::I16(narrow(c.int_contents, name)?),
        DType::Int32 => TensorData::I32(c.int_contents),
        DType::Int64 => TensorData::I64(c.int64_contents),
        DType::Uint8 => TensorData::U8(narrow(c.uint_contents, name)?),
        DType::Uint16 => TensorData::U16(narrow(c.uint_contents, name)?),
        DType::Uint32 => TensorData::U32(c.uint_contents),
        DType::Uint64 => TensorData::U64(c.uint64_contents),
        DType::Float32 => TensorData::F32(c.fp32_contents),
        DType::Float64 => TensorData::F64(c.fp64_contents),
        DType::String => TensorData::String(
            c.bytes_contents
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    String::from_utf8(b).map_err(|_| bad(format!("BYTES element {i} is not UTF-8")))
                })
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(bad(format!("{other} travels only in raw_input_contents")));
        }
    };
    if data.len() != n {
        return Err(bad(format!("shape {shape:?} holds {n} elements, contents has {}", data.len())));
    }
    Tensor::new(shape, data).map_err(|e| bad(e.to_string()))
}

fn encode(served: &Served, id: String, outputs: Vec<(String, Tensor)>) -> ModelInferResponse {
    let mut response = ModelInferResponse {
        model_name: served.name.clone(),
        model_version: served.version.clone(),
        id,
        ..ModelInferResponse::default()
    };
    for (name, t) in outputs {
        response.outputs.push(InferOutputTensor {
            name,
            datatype: oip::datatype(t.dtype()).unwrap_or("UNKNOWN").to_owned(),
            shape: t.shape.iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect(),
            ..InferOutputTensor::default()
        });
        response.raw_output_contents.push(oip::to_raw(&t));
    }
    response
}
