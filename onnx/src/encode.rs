//! A minimal protobuf writer and ONNX model builder, for tests and benchmarks that need small, valid
//! models and tensors without Python. Output is deterministic: the same calls give the same bytes.
//!
//! ```
//! use ferry_onnx::{OnnxDim, encode, read_model};
//! use ferry_spec::DType;
//!
//! let bytes = encode::identity_model("x", "y", DType::Float32, &[OnnxDim::Param("batch".into())], 17);
//! let info = read_model(&bytes).unwrap();
//! assert_eq!(info.inputs[0].name, "x");
//! ```

use ferry_spec::DType;

use crate::model::OnnxDim;
use crate::tensor::{TensorProtoData, TensorValues, Value};

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

/// Appends protobuf fields to a buffer. Methods chain; nothing is validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtoWriter {
    buf: Vec<u8>,
}

impl ProtoWriter {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a bare varint (no key); with [`ProtoWriter::key`] this can build malformed input on purpose.
    pub fn raw_varint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }

    /// Appends a field key.
    pub fn key(&mut self, field: u32, wire_type: u8) -> &mut Self {
        self.raw_varint((u64::from(field) << 3) | u64::from(wire_type))
    }

    /// Appends bytes as they are.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// A varint field (`uint64`, `bool`, non-negative `int32`/`int64`).
    pub fn varint(&mut self, field: u32, v: u64) -> &mut Self {
        self.key(field, VARINT).raw_varint(v)
    }

    /// An `int64` field (also right for `int32` and enums: negative values take 10 bytes).
    pub fn int64(&mut self, field: u32, v: i64) -> &mut Self {
        self.varint(field, v as u64)
    }

    /// A `fixed32`/`float` field.
    pub fn fixed32(&mut self, field: u32, v: u32) -> &mut Self {
        self.key(field, I32).raw(&v.to_le_bytes())
    }

    /// A `fixed64`/`double` field.
    pub fn fixed64(&mut self, field: u32, v: u64) -> &mut Self {
        self.key(field, I64).raw(&v.to_le_bytes())
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, LEN).raw_varint(v.len() as u64).raw(v)
    }

    /// A `string` field.
    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    /// An embedded message field.
    pub fn message(&mut self, field: u32, m: &ProtoWriter) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// A packed repeated varint field.
    pub fn packed_varints(&mut self, field: u32, values: impl IntoIterator<Item = u64>) -> &mut Self {
        let mut payload = ProtoWriter::new();
        for v in values {
            payload.raw_varint(v);
        }
        self.bytes(field, &payload.buf)
    }

    /// A packed repeated fixed32 field.
    pub fn packed_fixed32(&mut self, field: u32, values: impl IntoIterator<Item = u32>) -> &mut Self {
        let payload: Vec<u8> = values.into_iter().flat_map(u32::to_le_bytes).collect();
        self.bytes(field, &payload)
    }

    /// A packed repeated fixed64 field.
    pub fn packed_fixed64(&mut self, field: u32, values: impl IntoIterator<Item = u64>) -> &mut Self {
        let payload: Vec<u8> = values.into_iter().flat_map(u64::to_le_bytes).collect();
        self.bytes(field, &payload)
    }

    /// The encoded message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded message, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Where [`tensor`] puts the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorEncoding {
    /// Little-endian `raw_data` (strings always use `string_data`).
    Raw,
    /// The packed typed field for the data type (`float_data`, `int32_data`, ...).
    Typed,
}

/// Encodes a `TensorProto`. `dims` are written unpacked, as ONNX's Python package does.
pub fn tensor(t: &TensorProtoData, encoding: TensorEncoding) -> Vec<u8> {
    tensor_message(t, encoding).into_bytes()
}

fn tensor_message(t: &TensorProtoData, encoding: TensorEncoding) -> ProtoWriter {
    let mut m = ProtoWriter::new();
    for &d in &t.dims {
        m.int64(1, d);
    }
    m.int64(2, i64::from(t.dtype.onnx_code()));
    if let TensorValues::String(v) = &t.data {
        for s in v {
            m.bytes(6, s);
        }
    } else if encoding == TensorEncoding::Raw {
        m.bytes(9, &raw_bytes(&t.data));
    } else {
        write_typed(&mut m, &t.data);
    }
    if !t.name.is_empty() {
        m.string(8, &t.name);
    }
    m
}

fn raw_bytes(data: &TensorValues) -> Vec<u8> {
    match data {
        TensorValues::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::F16(v) | TensorValues::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::I8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::U8(v) => v.clone(),
        TensorValues::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::Bool(v) => v.iter().map(|b| u8::from(*b)).collect(),
        TensorValues::String(_) => Vec::new(),
        TensorValues::BF16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorValues::F8E4M3FN(v)
        | TensorValues::F8E4M3FNUZ(v)
        | TensorValues::F8E5M2(v)
        | TensorValues::F8E5M2FNUZ(v) => v.clone(),
        TensorValues::I4(v) => pack_nibbles(v.iter().map(|x| x.to_le_bytes()[0])),
        TensorValues::U4(v) => pack_nibbles(v.iter().copied()),
    }
}

/// int4/uint4 two per byte, first element in the low nibble, as ONNX stores them.
fn pack_nibbles(values: impl Iterator<Item = u8>) -> Vec<u8> {
    let values: Vec<u8> = values.map(|x| x & 0x0f).collect();
    values.chunks(2).map(|c| c[0] | c.get(1).map_or(0, |hi| hi << 4)).collect()
}

fn write_typed(m: &mut ProtoWriter, data: &TensorValues) {
    // int32_data holds every narrow type; protobuf sign-extends negative int32 values to 64 bits.
    let int32 = |x: i64| x as u64;
    match data {
        TensorValues::F32(v) => m.packed_fixed32(4, v.iter().map(|x| x.to_bits())),
        TensorValues::F64(v) => m.packed_fixed64(10, v.iter().map(|x| x.to_bits())),
        TensorValues::F16(v) | TensorValues::U16(v) => m.packed_varints(5, v.iter().map(|x| u64::from(*x))),
        TensorValues::I8(v) => m.packed_varints(5, v.iter().map(|x| int32(i64::from(*x)))),
        TensorValues::I16(v) => m.packed_varints(5, v.iter().map(|x| int32(i64::from(*x)))),
        TensorValues::I32(v) => m.packed_varints(5, v.iter().map(|x| int32(i64::from(*x)))),
        TensorValues::U8(v) => m.packed_varints(5, v.iter().map(|x| u64::from(*x))),
        TensorValues::Bool(v) => m.packed_varints(5, v.iter().map(|x| u64::from(*x))),
        TensorValues::I64(v) => m.packed_varints(7, v.iter().map(|x| *x as u64)),
        TensorValues::U32(v) => m.packed_varints(11, v.iter().map(|x| u64::from(*x))),
        TensorValues::U64(v) => m.packed_varints(11, v.iter().copied()),
        TensorValues::String(_) => m,
        TensorValues::BF16(v) => m.packed_varints(5, v.iter().map(|x| u64::from(*x))),
        TensorValues::F8E4M3FN(v)
        | TensorValues::F8E4M3FNUZ(v)
        | TensorValues::F8E5M2(v)
        | TensorValues::F8E5M2FNUZ(v) => m.packed_varints(5, v.iter().map(|x| u64::from(*x))),
        TensorValues::I4(_) | TensorValues::U4(_) => {
            m.packed_varints(5, raw_bytes(data).into_iter().map(u64::from))
        }
    };
}

/// Encodes a value as the `TensorProto`, `SequenceProto` or `OptionalProto` ONNX test data uses.
///
/// A sequence's `elem_type` comes from its first element (an empty one gets 0); an empty optional gets 0.
pub fn value(v: &Value, encoding: TensorEncoding) -> Vec<u8> {
    value_message(v, encoding).into_bytes()
}

fn elem_code(v: &Value) -> u64 {
    match v {
        Value::Tensor(_) => 1,
        Value::Sequence(_) => 3,
        Value::Optional(_) => 5,
    }
}

fn elem_field(v: &Value) -> u32 {
    match v {
        Value::Tensor(_) => 3,
        Value::Sequence(_) => 5,
        Value::Optional(_) => 7,
    }
}

fn value_message(v: &Value, encoding: TensorEncoding) -> ProtoWriter {
    match v {
        Value::Tensor(t) => tensor_message(t, encoding),
        Value::Sequence(items) => {
            let mut m = ProtoWriter::new();
            m.varint(2, items.first().map_or(0, elem_code));
            for item in items {
                m.message(elem_field(item), &value_message(item, encoding));
            }
            m
        }
        Value::Optional(inner) => {
            let mut m = ProtoWriter::new();
            match inner {
                Some(item) => {
                    m.varint(2, elem_code(item)).message(elem_field(item), &value_message(item, encoding))
                }
                None => m.varint(2, 0),
            };
            m
        }
    }
}

/// A `ValueInfoProto` for a tensor of `dtype` and `shape`.
pub fn value_info(name: &str, dtype: DType, shape: &[OnnxDim]) -> ProtoWriter {
    let mut ty = ProtoWriter::new();
    ty.message(1, &tensor_type(dtype, shape));
    let mut vi = ProtoWriter::new();
    vi.string(1, name).message(2, &ty);
    vi
}

/// A `ValueInfoProto` for a sequence of tensors of `dtype` and `shape` (`seq(tensor(dtype))`).
pub fn sequence_value_info(name: &str, dtype: DType, shape: &[OnnxDim]) -> ProtoWriter {
    let mut elem = ProtoWriter::new();
    elem.message(1, &tensor_type(dtype, shape));
    let mut sequence = ProtoWriter::new();
    sequence.message(1, &elem);
    let mut ty = ProtoWriter::new();
    ty.message(4, &sequence);
    let mut vi = ProtoWriter::new();
    vi.string(1, name).message(2, &ty);
    vi
}

/// A `TypeProto.Tensor` of `dtype` and `shape`.
fn tensor_type(dtype: DType, shape: &[OnnxDim]) -> ProtoWriter {
    let mut dims = ProtoWriter::new();
    for d in shape {
        let mut dim = ProtoWriter::new();
        match d {
            OnnxDim::Value(v) => {
                dim.int64(1, *v);
            }
            OnnxDim::Param(p) => {
                dim.string(2, p);
            }
            OnnxDim::Unknown => {}
        }
        dims.message(1, &dim);
    }
    let mut tensor_type = ProtoWriter::new();
    tensor_type.int64(1, i64::from(dtype.onnx_code())).message(2, &dims);
    tensor_type
}

/// The IR version ONNX's own helpers pair with a default-domain opset (ONNX 1.19's version table).
pub fn ir_version_for_opset(opset: i64) -> i64 {
    match opset {
        ..=8 => 3,
        9 => 4,
        10 => 5,
        11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        21..=22 => 10,
        23 => 11,
        _ => 12,
    }
}

/// Builds a `ModelProto` with one graph. Inputs, outputs, nodes and initializers keep insertion order.
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    ir_version: i64,
    opsets: Vec<(String, i64)>,
    producer_name: String,
    producer_version: String,
    nodes: Vec<ProtoWriter>,
    initializers: Vec<ProtoWriter>,
    inputs: Vec<ProtoWriter>,
    outputs: Vec<ProtoWriter>,
}

impl ModelBuilder {
    /// A model importing `opset` of the default domain, with the matching IR version and producer
    /// `ferry-onnx` (version `1`, fixed so the bytes do not change with Ferry's version).
    pub fn new(opset: i64) -> Self {
        ModelBuilder {
            ir_version: ir_version_for_opset(opset),
            opsets: vec![(String::new(), opset)],
            producer_name: "ferry-onnx".to_owned(),
            producer_version: "1".to_owned(),
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Overrides the IR version.
    pub fn ir_version(mut self, v: i64) -> Self {
        self.ir_version = v;
        self
    }

    /// Adds an opset import.
    pub fn opset(mut self, domain: &str, version: i64) -> Self {
        self.opsets.push((domain.to_owned(), version));
        self
    }

    /// Sets the producer name and version.
    pub fn producer(mut self, name: &str, version: &str) -> Self {
        self.producer_name = name.to_owned();
        self.producer_version = version.to_owned();
        self
    }

    /// Adds a graph input.
    pub fn input(mut self, name: &str, dtype: DType, shape: &[OnnxDim]) -> Self {
        self.inputs.push(value_info(name, dtype, shape));
        self
    }

    /// Adds a graph output.
    pub fn output(mut self, name: &str, dtype: DType, shape: &[OnnxDim]) -> Self {
        self.outputs.push(value_info(name, dtype, shape));
        self
    }

    /// Adds a graph input given as an encoded `ValueInfoProto` (a sequence, say).
    pub fn raw_input(mut self, vi: ProtoWriter) -> Self {
        self.inputs.push(vi);
        self
    }

    /// Adds a graph output given as an encoded `ValueInfoProto`.
    pub fn raw_output(mut self, vi: ProtoWriter) -> Self {
        self.outputs.push(vi);
        self
    }

    /// Adds a node of the default domain, without attributes.
    pub fn node(mut self, op_type: &str, inputs: &[&str], outputs: &[&str]) -> Self {
        let mut n = ProtoWriter::new();
        for i in inputs {
            n.string(1, i);
        }
        for o in outputs {
            n.string(2, o);
        }
        n.string(4, op_type);
        self.nodes.push(n);
        self
    }

    /// Adds a node given as an encoded `NodeProto` (for attributes or other domains).
    pub fn raw_node(mut self, node: ProtoWriter) -> Self {
        self.nodes.push(node);
        self
    }

    /// Adds an initializer given as an encoded `TensorProto` (for the odd ones readers must handle:
    /// negative dims, data in two fields, segments).
    pub fn raw_initializer(mut self, t: ProtoWriter) -> Self {
        self.initializers.push(t);
        self
    }

    /// Adds an initializer with inline `raw_data`.
    pub fn initializer(mut self, t: &TensorProtoData) -> Self {
        self.initializers.push(tensor_message(t, TensorEncoding::Raw));
        self
    }

    /// Adds an initializer whose data is `length` bytes at `offset` of the file `location`, relative to
    /// the model's directory.
    pub fn external_initializer(
        mut self,
        name: &str,
        dtype: DType,
        dims: &[i64],
        location: &str,
        offset: u64,
        length: u64,
    ) -> Self {
        self.initializers.push(external_tensor(name, dtype, dims, location, offset, length));
        self
    }

    /// The encoded `ModelProto`.
    pub fn build(&self) -> Vec<u8> {
        let mut graph = ProtoWriter::new();
        for n in &self.nodes {
            graph.message(1, n);
        }
        graph.string(2, "ferry");
        for t in &self.initializers {
            graph.message(5, t);
        }
        for i in &self.inputs {
            graph.message(11, i);
        }
        for o in &self.outputs {
            graph.message(12, o);
        }
        let mut model = ProtoWriter::new();
        model.int64(1, self.ir_version).string(2, &self.producer_name).string(3, &self.producer_version);
        model.message(7, &graph);
        for (domain, version) in &self.opsets {
            let mut op = ProtoWriter::new();
            op.string(1, domain).int64(2, *version);
            model.message(8, &op);
        }
        model.into_bytes()
    }
}

/// A `TensorProto` whose data is external (`data_location = EXTERNAL`).
pub fn external_tensor(
    name: &str,
    dtype: DType,
    dims: &[i64],
    location: &str,
    offset: u64,
    length: u64,
) -> ProtoWriter {
    let mut t = ProtoWriter::new();
    for &d in dims {
        t.int64(1, d);
    }
    t.int64(2, i64::from(dtype.onnx_code())).string(8, name);
    for (k, v) in
        [("location", location.to_owned()), ("offset", offset.to_string()), ("length", length.to_string())]
    {
        let mut e = ProtoWriter::new();
        e.string(1, k).string(2, &v);
        t.message(13, &e);
    }
    t.int64(14, 1);
    t
}

/// A model computing `output = Identity(input)`, both of `dtype` and `shape`.
pub fn identity_model(input: &str, output: &str, dtype: DType, shape: &[OnnxDim], opset: i64) -> Vec<u8> {
    ModelBuilder::new(opset)
        .input(input, dtype, shape)
        .output(output, dtype, shape)
        .node("Identity", &[input], &[output])
        .build()
}

/// A model computing `y = Add(x, w)` (opset 17), where `x`, `y` and `w` are float32 `[n]` with
/// `n = len_bytes / 4`, and the initializer `w` is read from bytes `0..4n` of the external file `location`.
///
/// The data file must hold at least `4n` bytes of little-endian float32.
pub fn model_with_external_initializer(location: &str, len_bytes: u64) -> Vec<u8> {
    let n = len_bytes / 4;
    let dim = i64::try_from(n).unwrap_or(i64::MAX);
    let shape = [OnnxDim::Value(dim)];
    ModelBuilder::new(17)
        .input("x", DType::Float32, &shape)
        .output("y", DType::Float32, &shape)
        .external_initializer("w", DType::Float32, &[dim], location, 0, n * 4)
        .node("Add", &["x", "w"], &["y"])
        .build()
}
