//! Reads what Ferry needs from ONNX protobuf files, with a hand-written wire-format reader.
//!
//! - [`read_model`]: a `ModelProto`'s IR version, opsets, producer, graph inputs and outputs, and the
//!   external data files it references (subgraphs included). Weights are skipped, never decoded or copied.
//! - [`read_initializers`]: the top-level graph's initializers as descriptions (name, type, shape, and
//!   where the bytes are: a `raw_data` byte range of the model buffer or an external-data location), so a
//!   runtime can share weights between sessions without a second protobuf reader.
//! - [`read_tensor`] / [`read_value`]: `TensorProto` (and `SequenceProto` / `OptionalProto`) values, as in
//!   the ONNX backend test data (`input_0.pb`, `output_0.pb`).
//! - [`encode`]: a tiny writer that builds valid models and tensors for tests and benchmarks.
//!
//! The reader treats its input as hostile: every length is checked against the bytes that remain before
//! anything is allocated, nesting is bounded, and every failure is an [`OnnxError`] naming the message,
//! field, tensor and byte offset involved. Field numbers follow `onnx/onnx.proto` and `onnx/onnx-data.proto`
//! (ONNX 1.19); unknown fields are skipped as protobuf requires, so newer models still read.

mod error;
mod initializer;
mod model;
mod nodes;
mod tensor;
mod wire;

pub mod encode;

pub use error::OnnxError;
pub use initializer::{Initializer, InitializerData, read_initializers};
pub use model::{ModelInfo, OnnxDim, ValueInfo, ValueKind, read_model};
pub use nodes::{IndexBound, Node, index_bounds, read_nodes};
pub use tensor::{TensorProtoData, TensorValues, Value, read_tensor, read_value};
