use std::fmt;
use std::time::Duration;

/// Where in the pipeline a transform runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Records to the model's inputs.
    Prepare,
    /// The model's outputs to one result per record.
    Decide,
}

impl Stage {
    /// The function a component of this stage exports (`prepare` or `decide`).
    pub fn export(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Decide => "decide",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.export())
    }
}

/// Why a transform could not be loaded or a call gave no result. Every variant names the transform (its
/// path in the bundle); those of a call also name the stage, and the record where one is to blame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// The WebAssembly engine could not be set up.
    #[error("cannot start the WebAssembly engine: {message}")]
    Engine { message: String },
    /// The bytes are not a valid WebAssembly component.
    #[error("transform {transform}: not a valid WebAssembly component: {source:#}")]
    NotAComponent {
        transform: String,
        #[source]
        source: wasmtime::Error,
    },
    /// The bytes could not be parsed as a component (before compiling).
    #[error("transform {transform}: not a valid WebAssembly component: {message}")]
    Invalid { transform: String, message: String },
    /// The component does not export the stage's function.
    #[error(
        "transform {transform}: the component does not export `{export}` (world ferry:transform/{export}@0.1.0); it exports {found}",
        export = stage.export(),
        found = if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") }
    )]
    MissingExport { transform: String, stage: Stage, exports: Vec<String> },
    /// The stage's export has the wrong type.
    #[error("transform {transform}: `{}` does not have the type of ferry:transform@0.1.0: {message}", stage.export())]
    WrongExport { transform: String, stage: Stage, message: String },
    /// The component imports something the sandbox does not provide.
    #[error("transform {transform}: imports what the sandbox does not provide: {message}")]
    Imports { transform: String, message: String },
    /// A call ran past its deadline and was stopped.
    #[error("transform {transform}: {stage} ran past its deadline of {} ms on a batch of {records} records and was stopped", deadline.as_millis())]
    Timeout { transform: String, stage: Stage, deadline: Duration, records: usize },
    /// A call tried to grow its memory past the cap.
    #[error("transform {transform}: {stage} needed more than its memory cap of {} MiB (a request for {} MiB was refused)", limit_bytes >> 20, refused >> 20)]
    MemoryLimit { transform: String, stage: Stage, limit_bytes: usize, refused: usize },
    /// The component trapped (or its code failed in another way the engine caught).
    #[error("transform {transform}: {stage} trapped: {message}{}", if stderr.is_empty() { String::new() } else { format!("; its stderr: {stderr}") })]
    Trap { transform: String, stage: Stage, message: String, stderr: String },
    /// The component refused the batch, naming the record when one is to blame.
    #[error("transform {transform}: {stage} refused {}: {message}", match record { Some(r) => format!("record {r}"), None => "the batch".to_owned() })]
    Refused { transform: String, stage: Stage, record: Option<u32>, message: String },
    /// The component answered with something that breaks the interface (a tensor whose data does not
    /// fill its shape, fewer results than records, a result that is not JSON).
    #[error("transform {transform}: {stage} returned a malformed answer: {detail}")]
    BadOutput { transform: String, stage: Stage, detail: String },
    /// A model output cannot cross the interface (its dtype has no `data` case that holds it exactly).
    #[error("transform {transform}: decide cannot be given the model's outputs: {detail}")]
    Unrepresentable { transform: String, detail: String },
    /// A transform loaded for one stage was called for the other.
    #[error("transform {transform}: loaded as {loaded}, called as {asked}")]
    WrongStage { transform: String, loaded: Stage, asked: Stage },
}

impl TransformError {
    pub(crate) fn engine(e: wasmtime::Error) -> TransformError {
        TransformError::Engine { message: format!("{e:#}") }
    }

    /// The record the error is about, when one is to blame.
    pub fn record(&self) -> Option<u32> {
        match self {
            TransformError::Refused { record, .. } => *record,
            _ => None,
        }
    }

    /// The stage of a failed call; `None` for a load error.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            TransformError::Timeout { stage, .. }
            | TransformError::MemoryLimit { stage, .. }
            | TransformError::Trap { stage, .. }
            | TransformError::Refused { stage, .. }
            | TransformError::BadOutput { stage, .. } => Some(*stage),
            _ => None,
        }
    }
}
