//! Ferry: deterministic, signed, portable model bundles.
//!
//! This crate is the one dependency a host service needs. It re-exports the runtime (open a bundle,
//! check it, run it), the packager and the bundle reader; the `ferry` command-line tool is built on
//! exactly these calls.
//!
//! ```no_run
//! use ferry::runtime::{Runtime, RuntimeOptions, OpenOptions};
//! let runtime = Runtime::new(RuntimeOptions::default())?;
//! let model = runtime.open(std::path::Path::new("credit-risk.ferry"), OpenOptions::default())?;
//! println!("{} inputs", model.manifest().inputs.len());
//! # Ok::<(), ferry::runtime::RuntimeError>(())
//! ```

pub use ferry_bundle as bundle;
pub use ferry_packager as packager;
pub use ferry_runtime as runtime;
pub use ferry_spec as spec;
pub use ferry_tensor as tensor;
pub use ferry_verifier as verifier;
