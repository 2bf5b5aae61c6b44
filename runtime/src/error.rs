use ferry_bundle::BundleError;
use ferry_contract::ContractError;
use ferry_spec::DType;
use std::path::PathBuf;

/// Why the runtime refused a bundle, a configuration or a request, or why ONNX Runtime failed.
///
/// Every variant names what is at fault (a file, a pin, a config key, an input) so that a host can map it
/// to a precise answer without parsing the message.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The bundle could not be read or a blob does not match its digest.
    #[error("bundle: {0}")]
    Bundle(#[from] BundleError),
    /// The bundle was written in a format version this runtime does not read.
    #[error(
        "bundle format version {found} is not supported (this runtime reads versions 1 to {supported}); \
         pack the source with a Ferry that writes it, or upgrade this runtime"
    )]
    Format { found: u32, supported: u32 },
    /// A pin of the bundle excludes this runtime (for example the ONNX Runtime version range).
    #[error("pin `{pin}`: the bundle requires {required}, this runtime has {found}")]
    Pin { pin: String, required: String, found: String },
    /// A trust check configured in [`TrustPolicy`](crate::TrustPolicy) refused the bundle.
    #[error("trust check `{check}` refused the bundle: {reason}")]
    Untrusted { check: String, reason: String },
    /// The effective configuration breaks the bundle's schema, or an override could not be applied.
    #[error("config {pointer}: {message} (rule: {rule})", pointer = display_pointer(.pointer))]
    Config { pointer: String, rule: String, message: String },
    /// A feature transform could not be loaded, or a call of it gave no result.
    #[cfg(feature = "transforms")]
    #[error("{0}")]
    Transform(#[source] Box<ferry_transform::TransformError>),
    /// A raw record was refused at the door (not JSON, not an object, or against the records schema).
    #[error("record {index}{}: {message} (rule: {rule})", if pointer.is_empty() { String::new() } else { format!(" at {pointer}") })]
    Record { index: usize, pointer: String, rule: String, message: String },
    /// A result of `decide` breaks the bundle's results schema.
    #[error("result {index}{}: {message} (rule: {rule}); the bundle's decide transform broke its results schema", if pointer.is_empty() { String::new() } else { format!(" at {pointer}") })]
    Result { index: usize, pointer: String, rule: String, message: String },
    /// The bundle has no transform for this stage.
    #[error("the bundle has no `{stage}` transform ([transform] {stage} in ferry.toml)")]
    NoTransform { stage: &'static str },
    /// The bundle's reference profile (`reference/profile.json`) is not one this runtime reads.
    #[error("reference profile `{file}`: {source}")]
    Reference {
        file: String,
        #[source]
        source: ferry_drift::DriftError,
    },
    /// A configuration file could not be read or parsed.
    #[error("config file `{path}`: {message}")]
    ConfigFile { path: PathBuf, message: String },
    /// A request broke the bundle's data contract; nothing reached ONNX Runtime.
    #[error(transparent)]
    Contract(Box<ContractError>),
    /// A request file declares a tensor that the data contract refuses: refused from the file's header
    /// (dtype and shape), before the tensor's data was read or inflated.
    #[error(
        "{}: tensor `{tensor}` declares {dtype} {shape:?}, refused before reading its data: {error}",
        path.display()
    )]
    Request { path: PathBuf, tensor: String, dtype: DType, shape: Vec<usize>, error: Box<ContractError> },
    /// A request file could not be read or is not a well-formed tensor file.
    #[error(transparent)]
    RequestFile(ferry_tensor::TensorError),
    /// A thread count above what this machine can use ([`crate::max_threads`]).
    #[error(
        "{option} = {value} is more than the {cap} threads allowed on this machine ({per_core} per core, at most {absolute})",
        per_core = crate::model::THREADS_PER_CORE,
        absolute = crate::model::MAX_THREADS
    )]
    Threads { option: String, value: usize, cap: usize },
    /// The ONNX Runtime shared library is missing, altered or unusable.
    #[error("onnx runtime library `{path}`: {reason}")]
    OrtLibrary { path: PathBuf, reason: String },
    /// The requested device cannot be used.
    #[error("device `{device}`: {reason}")]
    Device { device: String, reason: String },
    /// The bundle's `[devices]` rule out the device this runtime runs on.
    #[error("device `{device}` is not one this bundle runs on: {reason}")]
    DeviceNotSupported { device: String, reason: String },
    /// A GPU cannot be used: no driver, no GPU, or a CUDA library missing ([`ferry_device`] says which).
    #[error("device `{device}` cannot be used")]
    Gpu {
        device: String,
        #[source]
        source: ferry_device::DeviceError,
    },
    /// The model's graph or weights could not be prepared (missing external data, malformed initializer).
    #[error("model `{file}`: {message}")]
    Model { file: String, message: String },
    /// ONNX Runtime refused to create a session for the model.
    #[error("onnx runtime session for `{file}`: {message}")]
    Session { file: String, message: String },
    /// ONNX Runtime failed while running the model.
    #[error("inference failed: {message}")]
    Inference { message: String },
    /// [`Model::infer`](crate::Model::infer) was called on a model that takes or gives a sequence, map
    /// or optional.
    #[error("`{name}` is a {ty}: call infer_values, which takes and gives values of every kind")]
    NeedsValues { name: String, ty: String },
    /// ONNX Runtime returned an output that breaks the bundle's declared outputs.
    #[error("output `{output}`: {message}")]
    Output { output: String, message: String },
}

impl From<ContractError> for RuntimeError {
    fn from(e: ContractError) -> RuntimeError {
        RuntimeError::Contract(Box::new(e))
    }
}

impl From<Box<ContractError>> for RuntimeError {
    fn from(e: Box<ContractError>) -> RuntimeError {
        RuntimeError::Contract(e)
    }
}

fn display_pointer(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}
