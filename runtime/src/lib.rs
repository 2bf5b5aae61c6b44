//! Ferry's embeddable runtime: open a `.ferry` bundle, check it, and run it on CPU through ONNX Runtime.
//!
//! ```no_run
//! use ferry_runtime::{OpenOptions, Runtime, RuntimeOptions};
//! # fn main() -> Result<(), ferry_runtime::RuntimeError> {
//! let runtime = Runtime::new(RuntimeOptions::default())?;
//! let model = runtime.open("credit-risk.ferry".as_ref(), &OpenOptions::default())?;
//! let inputs = ferry_tensor::TensorMap::new(); // named tensors, checked against the bundle's contract
//! let outputs = model.infer(&inputs)?;
//! # Ok(()) }
//! ```
//!
//! Opening a bundle always hashes every blob against its manifest and checks the format version and the
//! ONNX Runtime pin; a bundle that fails gets a typed [`RuntimeError`], never a session. Every request is
//! checked against the bundle's data contract before it reaches ONNX Runtime. A [`Model`] is `Send + Sync`
//! and serves concurrent callers in parallel without copying its weights per caller.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod config;
mod device;
mod error;
mod mapped;
mod model;
pub mod ort_lib;
mod raw_value;
#[cfg(feature = "transforms")]
mod records;
mod session;
mod values;

pub use config::ENV_PREFIX;
pub use error::RuntimeError;
/// The golden comparison rule, from [`ferry_contract`].
pub use ferry_contract::compare;
pub use ferry_contract::{ContractError, ContractErrorKind};
#[cfg(feature = "transforms")]
pub use ferry_transform::{Stage as TransformStage, TransformError};
#[cfg(feature = "transforms")]
pub use records::{MAX_RECORD_BYTES, MAX_RECORDS, RecordRun};

/// The data contract every request is checked against, from [`ferry_contract`] (pure Rust, no ONNX
/// Runtime).
pub mod contract {
    pub use ferry_contract::{Contract, DEFAULT_MAX_ELEMENTS};
}
pub use device::{
    ComputeCapability, CudaVersion, Device, DeviceInUse, GpuInUse, MAX_GPU_SESSIONS, MIN_DRIVER_CUDA,
};
pub use ferry_device::{self, DeviceError};
pub use model::{
    BundleCheck, CacheLocation, INTRA_OP_THREADS_KEY, MAX_THREADS, Model, OpenOptions, Runtime,
    RuntimeOptions, SAMPLE_BATCH_ROWS, SMALL_MODEL_BYTES, THREADS_PER_CORE, TrustPolicy, max_threads,
};
pub use ort_lib::{
    FERRY_HOME_VAR, GPU_DIR, LIBRARY_FILE, LibrarySource, ORT_CUDA_PROVIDERS, ORT_DYLIB_PATH_VAR,
    ORT_GPU_LIBRARY_SHA256, ORT_LIBRARY_SHA256, ORT_VERSION, OrtBuild, OrtLibrary, Probe, ProbeOutcome,
    probe_libraries,
};
