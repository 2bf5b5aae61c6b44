//! Runs a Ferry bundle's feature transforms: WebAssembly components implementing the
//! `ferry:transform@0.1.0` worlds of `spec/wit/transform.wit`, in a WASI p2 sandbox.
//!
//! A transform is the code between a raw record and a model: `prepare` turns a batch of JSON records
//! into the model's input tensors, `decide` turns the model's outputs into one JSON result per record.
//! It runs in-process, with no Python, network, filesystem or environment:
//!
//! - WASI p2 is linked with no preopened directory, no environment variable, no argument, an empty
//!   stdin, sockets and name lookup refused, stdout and stderr captured (their tail is reported when a
//!   call fails). The wall clock is fixed, the monotonic clock advances only when read, and random
//!   bytes come from a seeded stream, so a transform is a pure function of its records and config
//!   unless its [`Sandbox`] opts in to the host's clock or randomness.
//! - Every call has a wall-clock deadline (epoch interruption), a cap on linear memory, tables and
//!   instances, and gets a fresh instance: nothing a call leaves behind reaches the next. Instances are
//!   made from a pre-linked `InstancePre`, with copy-on-write memory images, so a fresh one is cheap.
//! - A component is compiled once per process and, with a cache directory, once per machine: the
//!   compiled code is kept under the component's SHA-256 and the engine's fingerprint ([`Runtime`]).
//! - A trap, a timeout, a memory-cap hit, a refusal or a malformed output is a [`TransformError`] naming
//!   the transform, the stage and, where known, the record; the runtime keeps serving.
//!
//! ```no_run
//! # fn main() -> Result<(), ferry_transform::TransformError> {
//! use ferry_transform::{Limits, Runtime, Sandbox, Stage, Transform};
//! let runtime = Runtime::new(None)?;
//! let bytes = std::fs::read("transforms/prepare.wasm").unwrap();
//! let prepare = Transform::load(&runtime, "transforms/prepare.wasm", &bytes, Stage::Prepare,
//!     Limits::default(), Sandbox::default())?;
//! let tensors = prepare.prepare(&[r#"{"age": 41}"#.to_owned()], "{}")?;
//! # Ok(()) }
//! ```

mod describe;
pub use describe::{ComponentInfo, allowed_import, describe, is_wasi_p2};

/// The WIT package every transform implements, as its components name it.
pub const WIT_PACKAGE: &str = "ferry:transform@0.1.0";

/// The WIT text of [`WIT_PACKAGE`] (`spec/wit/transform.wit`).
pub const WIT: &str = include_str!("../../spec/wit/transform.wit");

#[cfg(feature = "runtime")]
mod run;
#[cfg(feature = "runtime")]
pub use run::*;
