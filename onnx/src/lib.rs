//! Reads what Ferry needs from ONNX protobuf files, with a hand-written wire-format reader.
//!
//! - [`read_model`]: a `ModelProto`'s IR version, opsets, producer, graph inputs and outputs, and the
//!   external data files it references. Weights are skipped, never decoded or copied.
//! - [`read_tensor`] / [`read_value`]: `TensorProto` (and `SequenceProto` / `OptionalProto`) values, as in
//!   the ONNX backend test data (`input_0.pb`, `output_0.pb`).
//! - [`encode`]: a tiny writer that builds valid models and tensors for tests and benchmarks.
//!
//! The reader treats its input as hostile: every length is checked against the bytes that remain before
//! anything is allocated, nesting is bounded, and every failure is an [`OnnxError`] naming the message,
//! field, tensor and byte offset involved. Field numbers follow `onnx/onnx.proto` and `onnx/onnx-data.proto`
//! (ONNX 1.19); unknown fields are skipped as protobuf requires, so newer models still read.

mod error;
mod model;
mod tensor;
mod wire;

pub mod encode;

pub use error::OnnxError;
pub use model::{ModelInfo, OnnxDim, ValueInfo, ValueKind, read_model};
pub use tensor::{TensorProtoData, TensorValues, Value, read_tensor, read_value};
