//! Typed errors: a request (or golden input) that breaks the contract, and an output that does.

use ferry_spec::DType;
use std::fmt;

/// A request that breaks the data contract: which input, which feature, where, and what was found.
// `Display` is written by hand below: the message depends on which of the optional fields are set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
    /// the runtime accepts ([`crate::Contract::with_max_elements`]).
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
    /// A sequence, map or optional input does not have the declared structure (or a value stands where
    /// the contract declares another kind).
    Structure { reason: String },
}

impl ContractErrorKind {
    /// A stable, short name for the rule (`min`, `dtype`, `missing`...): a label a server's metrics and
    /// a client's error handling can match on without parsing the message.
    pub fn rule(&self) -> &'static str {
        match self {
            ContractErrorKind::MissingInput => "missing",
            ContractErrorKind::UnknownInput { .. } => "unknown",
            ContractErrorKind::DType { .. } => "dtype",
            ContractErrorKind::Rank { .. } => "rank",
            ContractErrorKind::Dim { .. } => "dim",
            ContractErrorKind::Symbol { .. } => "symbol",
            ContractErrorKind::TooManyElements { .. } => "size",
            ContractErrorKind::TooManyBytes { .. } => "size",
            ContractErrorKind::DataLength { .. } => "data_length",
            ContractErrorKind::Null => "nullable",
            ContractErrorKind::BelowMin { .. } => "min",
            ContractErrorKind::AboveMax { .. } => "max",
            ContractErrorKind::NotAllowed { .. } => "allowed",
            ContractErrorKind::Structure { .. } => "structure",
        }
    }
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
                let axes = if *found == 1 { "axis" } else { "axes" };
                write!(f, "has {found} {axes}, the contract declares {expected} ({declared})")
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
                "shape {shape:?} holds {}, more than the {limit} this runtime accepts for the contract's {declared}",
                elements(shape)
            ),
            ContractErrorKind::TooManyBytes { bytes, limit } => {
                write!(f, "declares {bytes} bytes of data, more than the {limit} this runtime accepts")
            }
            ContractErrorKind::DataLength { shape, len } => {
                write!(f, "shape {shape:?} needs {} but the data holds {len}", elements(shape))
            }
            ContractErrorKind::Null if self.feature.is_some() => {
                f.write_str("value is NaN (missing) but the feature is not nullable")
            }
            ContractErrorKind::Null => {
                f.write_str("value is NaN (missing) but the input's values are not nullable")
            }
            ContractErrorKind::BelowMin { min } => write!(f, "value {value} is below the minimum {min}"),
            ContractErrorKind::AboveMax { max } => write!(f, "value {value} is above the maximum {max}"),
            ContractErrorKind::NotAllowed { allowed } => {
                let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                write!(f, "value {value} is not one of the allowed values [{}]", list.join(", "))
            }
            ContractErrorKind::Structure { reason } => f.write_str(reason),
        }
    }
}

/// How many elements a shape holds, counted in words: `1 element`, `6 elements`.
fn elements(shape: &[usize]) -> String {
    match ferry_tensor::numel(shape) {
        Some(n) => format!("{n} element{}", plural(n)),
        None => "an overflowing number of elements".to_owned(),
    }
}

/// The plural ending of a count's noun: `""` for 1, `"s"` otherwise (the crate's one such helper).
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// An output (returned by a model, or expected by a golden set) that breaks the contract's declared
/// outputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("output `{output}`: {kind}")]
pub struct OutputError {
    /// The output at fault.
    pub output: String,
    /// What rule was broken.
    pub kind: OutputErrorKind,
}

/// The rule an output broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputErrorKind {
    /// A declared output is absent.
    #[error("missing: the contract declares this output")]
    Missing,
    /// An output the contract does not declare.
    #[error("not a declared output")]
    Unknown,
    /// The element type differs from the declared one.
    #[error("dtype is {found}, the contract says {expected}")]
    DType { expected: DType, found: DType },
    /// The number of axes differs from the declared shape.
    #[error("shape {shape:?} does not have the declared rank of {declared}")]
    Rank { shape: Vec<usize>, declared: String },
    /// An axis has another size than a fixed dim, or than the inputs give a symbolic dim.
    #[error("axis {axis} has size {found}, but the contract {declared} makes it {expected}")]
    Dim { axis: usize, found: usize, expected: usize, declared: String },
    /// A sequence, map or optional output does not have the declared structure.
    #[error("{reason}")]
    Structure { reason: String },
}
