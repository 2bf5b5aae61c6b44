use ferry_bundle::BundleError;
use ferry_spec::DType;
use std::fmt;
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
    /// The model's graph or weights could not be prepared (missing external data, malformed initializer).
    #[error("model `{file}`: {message}")]
    Model { file: String, message: String },
    /// ONNX Runtime refused to create a session for the model.
    #[error("onnx runtime session for `{file}`: {message}")]
    Session { file: String, message: String },
    /// ONNX Runtime failed while running the model.
    #[error("inference failed: {message}")]
    Inference { message: String },
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

/// A request that breaks the data contract: which input, which feature, where, and what was found.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractError {
    /// The input tensor at fault.
    pub input: String,
    /// The declared feature, for per-feature checks.
    pub feature: Option<String>,
    /// The element's index (one entry per axis), for per-element checks.
    pub index: Option<Vec<usize>>,
    /// The offending value, as text.
    pub value: Option<String>,
    /// What rule was broken.
    pub kind: ContractErrorKind,
}

/// The rule a request broke.
#[derive(Debug, Clone, PartialEq)]
pub enum ContractErrorKind {
    /// A declared input is absent.
    MissingInput,
    /// The request carries a tensor the model does not declare.
    UnknownInput { declared: Vec<String> },
    /// The element type differs from the declared one.
    DType { expected: DType, found: DType },
    /// The number of axes differs from the declared shape.
    Rank { expected: usize, found: usize, declared: String },
    /// A fixed dimension has another size.
    Dim { axis: usize, expected: u64, found: usize },
    /// A symbolic dimension takes different sizes in two places.
    Symbol {
        symbol: String,
        axis: usize,
        found: usize,
        other_input: String,
        other_axis: usize,
        other_value: usize,
    },
    /// An input whose size the contract leaves open (a symbolic dim, or strings) holds more elements than
    /// the runtime accepts ([`crate::contract::Contract::with_max_elements`]).
    TooManyElements { shape: Vec<usize>, declared: String, limit: usize },
    /// Such an input's file declares more bytes of data than the runtime accepts (8 per allowed element).
    TooManyBytes { bytes: u64, limit: u64 },
    /// The tensor's data does not hold the product of its shape.
    DataLength { shape: Vec<usize>, len: usize },
    /// NaN in a feature that is not nullable.
    Null,
    /// Below the feature's declared minimum.
    BelowMin { min: f64 },
    /// Above the feature's declared maximum.
    AboveMax { max: f64 },
    /// Not one of the feature's allowed values.
    NotAllowed { allowed: Vec<f64> },
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input `{}`", self.input)?;
        if let Some(feature) = &self.feature {
            write!(f, ", feature `{feature}`")?;
        }
        if let Some(index) = &self.index {
            write!(f, " at {index:?}")?;
        }
        f.write_str(": ")?;
        let value = self.value.as_deref().unwrap_or("?");
        match &self.kind {
            ContractErrorKind::MissingInput => f.write_str("missing from the request"),
            ContractErrorKind::UnknownInput { declared } => {
                write!(f, "is not an input of this model (declared: {})", declared.join(", "))
            }
            ContractErrorKind::DType { expected, found } => {
                write!(f, "dtype is {found}, the contract says {expected}")
            }
            ContractErrorKind::Rank { expected, found, declared } => {
                write!(f, "has {found} axes, the contract declares {expected} ({declared})")
            }
            ContractErrorKind::Dim { axis, expected, found } => {
                write!(f, "axis {axis} has size {found}, the contract fixes it at {expected}")
            }
            ContractErrorKind::Symbol { symbol, axis, found, other_input, other_axis, other_value } => {
                write!(
                    f,
                    "dimension `{symbol}` is {found} at axis {axis}, but {other_value} at axis {other_axis} of `{other_input}`"
                )
            }
            ContractErrorKind::TooManyElements { shape, declared, limit } => write!(
                f,
                "shape {shape:?} holds {} elements, more than the {limit} this runtime accepts for the contract's {declared}",
                product(shape)
            ),
            ContractErrorKind::TooManyBytes { bytes, limit } => {
                write!(f, "declares {bytes} bytes of data, more than the {limit} this runtime accepts")
            }
            ContractErrorKind::DataLength { shape, len } => {
                write!(f, "shape {shape:?} needs {} elements but the data holds {len}", product(shape))
            }
            ContractErrorKind::Null => f.write_str("value is NaN (missing) but the feature is not nullable"),
            ContractErrorKind::BelowMin { min } => write!(f, "value {value} is below the minimum {min}"),
            ContractErrorKind::AboveMax { max } => write!(f, "value {value} is above the maximum {max}"),
            ContractErrorKind::NotAllowed { allowed } => {
                let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                write!(f, "value {value} is not one of the allowed values [{}]", list.join(", "))
            }
        }
    }
}

fn product(shape: &[usize]) -> String {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .map_or_else(|| "overflowing".to_owned(), |n| n.to_string())
}

impl std::error::Error for ContractError {}
