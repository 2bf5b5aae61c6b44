//! `ModelProto`: the facts Ferry pins and the data contract it derives, read without decoding weights.

use std::collections::{BTreeMap, BTreeSet};

use ferry_spec::{DType, Dim, OnnxPins, ValueType};

use crate::error::{OnnxError, display_name};
use crate::tensor::{EXTERNAL, T_DATA_LOCATION, T_EXTERNAL_DATA, T_NAME, read_entry};
use crate::wire::{Field, Fields, Span};

/// What [`read_model`] reports about a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// `ModelProto.ir_version`.
    pub ir_version: i64,
    /// Operator set imports, domain to version; `""` is the default ONNX domain (`ai.onnx` is folded into it).
    pub opsets: BTreeMap<String, i64>,
    /// `ModelProto.producer_name`; empty when absent.
    pub producer_name: String,
    /// `ModelProto.producer_version`; empty when absent.
    pub producer_version: String,
    /// The graph inputs a caller must feed: declared inputs that are not initializers.
    pub inputs: Vec<ValueInfo>,
    /// The graph outputs.
    pub outputs: Vec<ValueInfo>,
    /// Distinct `location`s of tensors whose data is external (initializers, sparse initializers and
    /// tensor attributes, subgraphs included), sorted. Paths are as written in the model, unchecked.
    pub external_data: Vec<String>,
    /// Those of [`external_data`](Self::external_data) that something other than an initializer of the
    /// main graph names (a sparse initializer, a tensor attribute, anything in a subgraph): a runtime that
    /// supplies the main graph's initializers itself still has to provide these files.
    pub external_data_elsewhere: Vec<String>,
}

impl ModelInfo {
    /// The ONNX facts a bundle manifest pins.
    pub fn pins(&self) -> OnnxPins {
        OnnxPins {
            ir_version: self.ir_version,
            opsets: self.opsets.clone(),
            producer_name: self.producer_name.clone(),
            producer_version: self.producer_version.clone(),
            external_data: self.external_data.clone(),
        }
    }
}

/// A graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueInfo {
    /// The value's name in the graph.
    pub name: String,
    /// What kind of value the type declares.
    pub kind: ValueKind,
    /// The element type, when `kind` is a tensor and Ferry supports its element type.
    pub elem_type: Option<DType>,
    /// The raw `TensorProto.DataType` code of a tensor or sparse tensor type; 0 otherwise.
    pub raw_elem_type: i32,
    /// The declared shape of a tensor or sparse tensor; `None` when the rank is unknown.
    pub shape: Option<Vec<OnnxDim>>,
    /// The value's type as a contract writes it, when Ferry can hold it: `tensor`, or the sequences, maps
    /// and optionals around an innermost tensor, whose element type and shape are then `elem_type`,
    /// `raw_elem_type` and `shape`. `None` for sparse, opaque and untyped values, unsupported map keys
    /// and innermost element types Ferry does not support.
    pub value_type: Option<ValueType>,
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OnnxDim {
    /// A fixed size (`dim_value`). Some exporters write -1 for "unknown"; it is passed on as is.
    Value(i64),
    /// A symbolic size (`dim_param`), such as `batch`.
    Param(String),
    /// Neither a value nor a (non-empty) name.
    Unknown,
}

impl OnnxDim {
    /// The contract dimension, when this one can be expressed as one (not negative, not unknown).
    pub fn to_dim(&self) -> Option<Dim> {
        match self {
            OnnxDim::Value(v) => u64::try_from(*v).ok().map(Dim::Fixed),
            OnnxDim::Param(p) => Some(Dim::Symbolic(p.clone())),
            OnnxDim::Unknown => None,
        }
    }
}

/// A size as a number, a name as itself, an unknown dim as `?`.
impl std::fmt::Display for OnnxDim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OnnxDim::Value(v) => write!(f, "{v}"),
            OnnxDim::Param(p) => f.write_str(p),
            OnnxDim::Unknown => f.write_str("?"),
        }
    }
}

/// The kind of a value, from `TypeProto`'s `value` oneof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ValueKind {
    /// `tensor_type`.
    Tensor,
    /// `sparse_tensor_type`.
    SparseTensor,
    /// `sequence_type`.
    Sequence,
    /// `map_type`.
    Map,
    /// `optional_type`.
    Optional,
    /// `opaque_type`.
    Opaque,
    /// No type given.
    #[default]
    Unspecified,
}

impl ValueKind {
    /// A lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Tensor => "tensor",
            ValueKind::SparseTensor => "sparse tensor",
            ValueKind::Sequence => "sequence",
            ValueKind::Map => "map",
            ValueKind::Optional => "optional",
            ValueKind::Opaque => "opaque",
            ValueKind::Unspecified => "unspecified",
        }
    }
}

/// Reads a serialized `ModelProto`: versions, opsets, producer, graph inputs/outputs and external data.
///
/// Tensor data is skipped, not decoded, so this is cheap even for models with large inline weights.
pub fn read_model(bytes: &[u8]) -> Result<ModelInfo, OnnxError> {
    let mut fields = Fields::new(Span::new(bytes), "ModelProto");
    let mut ir_version = 0;
    let mut opsets = BTreeMap::new();
    let mut producer_name = String::new();
    let mut producer_version = String::new();
    let mut has_graph = false;
    let mut io = GraphIo::default();
    let mut external = ExternalSeen::default();
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => ir_version = f.int64()?,
            2 => producer_name = f.string()?,
            3 => producer_version = f.string()?,
            7 => {
                // A repeated singular message merges, as protobuf does: the lists concatenate.
                read_graph(f.message(1, "GraphProto")?, 1, Some(&mut io), &mut external)?;
                has_graph = true;
            }
            8 => {
                let (domain, version) = read_opset(&f, 1)?;
                if let Some(first) = opsets.insert(domain.clone(), version)
                    && first != version
                {
                    return Err(OnnxError::ConflictingOpset { domain, first, second: version });
                }
            }
            _ => {}
        }
    }
    if !has_graph {
        return Err(OnnxError::MissingGraph);
    }
    let GraphIo { inputs, outputs, initializers } = io;
    let inputs = inputs.into_iter().filter(|i| !initializers.contains(&i.name)).collect();
    Ok(ModelInfo {
        ir_version,
        opsets,
        producer_name,
        producer_version,
        inputs,
        outputs,
        external_data: external.all.into_iter().collect(),
        external_data_elsewhere: external.elsewhere.into_iter().collect(),
    })
}

/// External-data locations seen, and those named by anything but a main-graph initializer.
#[derive(Debug, Default)]
struct ExternalSeen {
    all: BTreeSet<String>,
    elsewhere: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct GraphIo {
    inputs: Vec<ValueInfo>,
    outputs: Vec<ValueInfo>,
    initializers: BTreeSet<String>,
}

fn read_opset(f: &Field<'_>, depth: u32) -> Result<(String, i64), OnnxError> {
    let mut fields = f.message(depth, "OperatorSetIdProto")?;
    let (mut domain, mut version) = (String::new(), 0);
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => domain = f.string()?,
            2 => version = f.int64()?,
            _ => {}
        }
    }
    if domain == "ai.onnx" {
        domain.clear();
    }
    Ok((domain, version))
}

/// Reads a graph at nesting `depth`. `io` is `None` for subgraphs, whose inputs and outputs are internal;
/// their tensors still count for external data.
fn read_graph(
    mut fields: Fields<'_>,
    depth: u32,
    mut io: Option<&mut GraphIo>,
    external: &mut ExternalSeen,
) -> Result<(), OnnxError> {
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => read_node(&f, depth + 1, external)?,
            5 => {
                // Only the main graph's initializers (`io` is given for it alone) can be supplied by a
                // runtime in place of their files.
                let name = scan_tensor(&f, depth + 1, external, io.is_some())?;
                if let Some(io) = io.as_deref_mut() {
                    io.initializers.insert(name);
                }
            }
            15 => {
                let name = scan_sparse_tensor(&f, depth + 1, external)?;
                if let Some(io) = io.as_deref_mut() {
                    io.initializers.insert(name);
                }
            }
            11 | 12 => match io.as_deref_mut() {
                Some(io) => {
                    let vi = read_value_info(&f, depth + 1)?;
                    if f.number == 11 { io.inputs.push(vi) } else { io.outputs.push(vi) }
                }
                None => {
                    f.bytes()?;
                }
            },
            _ => {}
        }
    }
    Ok(())
}

fn read_node(f: &Field<'_>, depth: u32, external: &mut ExternalSeen) -> Result<(), OnnxError> {
    let mut fields = f.message(depth, "NodeProto")?;
    while let Some(f) = fields.next_field()? {
        if f.number == 5 {
            read_attribute(&f, depth + 1, external)?;
        }
    }
    Ok(())
}

fn read_attribute(f: &Field<'_>, depth: u32, external: &mut ExternalSeen) -> Result<(), OnnxError> {
    let mut fields = f.message(depth, "AttributeProto")?;
    while let Some(f) = fields.next_field()? {
        match f.number {
            // t, tensors
            5 | 10 => {
                scan_tensor(&f, depth + 1, external, false)?;
            }
            // g, graphs
            6 | 11 => read_graph(f.message(depth + 1, "GraphProto")?, depth + 1, None, external)?,
            // sparse_tensor, sparse_tensors
            22 | 23 => {
                scan_sparse_tensor(&f, depth + 1, external)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads a tensor's name and, when its data is external, records its location (as named elsewhere
/// unless `main_initializer`). Data is not decoded.
fn scan_tensor(
    f: &Field<'_>,
    depth: u32,
    external: &mut ExternalSeen,
    main_initializer: bool,
) -> Result<String, OnnxError> {
    let mut fields = f.message(depth, "TensorProto")?;
    let mut name = String::new();
    let mut data_location = 0;
    let mut location = String::new();
    while let Some(t) = fields.next_field()? {
        match t.number {
            T_NAME => name = t.string()?,
            T_DATA_LOCATION => data_location = t.int32()?,
            T_EXTERNAL_DATA => {
                let (key, value) = read_entry(&t, depth + 1)?;
                if key == "location" {
                    location = value;
                }
            }
            _ => {}
        }
    }
    if data_location == EXTERNAL {
        if location.is_empty() {
            return Err(OnnxError::MissingExternalLocation { tensor: display_name(&name), offset: f.offset });
        }
        if !main_initializer {
            external.elsewhere.insert(location.clone());
        }
        external.all.insert(location);
    }
    Ok(name)
}

/// Scans a `SparseTensorProto`'s `values` and `indices`; its name is the name of `values`.
fn scan_sparse_tensor(f: &Field<'_>, depth: u32, external: &mut ExternalSeen) -> Result<String, OnnxError> {
    let mut fields = f.message(depth, "SparseTensorProto")?;
    let mut name = String::new();
    while let Some(t) = fields.next_field()? {
        match t.number {
            1 => name = scan_tensor(&t, depth + 1, external, false)?,
            2 => {
                scan_tensor(&t, depth + 1, external, false)?;
            }
            _ => {}
        }
    }
    Ok(name)
}

fn read_value_info(f: &Field<'_>, depth: u32) -> Result<ValueInfo, OnnxError> {
    let mut fields = f.message(depth, "ValueInfoProto")?;
    let mut vi = ValueInfo {
        name: String::new(),
        kind: ValueKind::Unspecified,
        elem_type: None,
        raw_elem_type: 0,
        shape: None,
        value_type: None,
    };
    let mut chain = TypeChain::default();
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => vi.name = f.string()?,
            2 => read_type(&f, depth + 1, &mut vi, &mut chain, 0)?,
            _ => {}
        }
    }
    let inner_is_tensor = chain.inner == ValueKind::Tensor;
    vi.elem_type = if inner_is_tensor { DType::from_onnx_code(vi.raw_elem_type) } else { None };
    vi.value_type = if inner_is_tensor && vi.elem_type.is_some() { chain.value_type() } else { None };
    Ok(vi)
}

/// The containers a `TypeProto` nests, from the outside in, and the kind of the innermost value.
#[derive(Default)]
struct TypeChain {
    containers: Vec<Container>,
    inner: ValueKind,
}

enum Container {
    Sequence,
    /// A map with its raw key type code.
    Map(i32),
    Optional,
}

impl TypeChain {
    fn value_type(&self) -> Option<ValueType> {
        self.containers.iter().rev().try_fold(ValueType::Tensor, |inner, c| {
            Some(match c {
                Container::Sequence => ValueType::Sequence(Box::new(inner)),
                Container::Optional => ValueType::Optional(Box::new(inner)),
                Container::Map(code) => {
                    // ONNX maps hold tensors; Ferry's map type is a map of scalars, the innermost tensor.
                    if inner != ValueType::Tensor {
                        return None;
                    }
                    ValueType::Map { key: DType::from_onnx_code(*code)? }
                }
            })
        })
    }
}

/// One `TypeProto` at nesting `level` (0 for the value's own type). A oneof: the last member given
/// replaces what the earlier ones said at this level and below.
fn read_type(
    f: &Field<'_>,
    depth: u32,
    vi: &mut ValueInfo,
    chain: &mut TypeChain,
    level: usize,
) -> Result<(), OnnxError> {
    let mut fields = f.message(depth, "TypeProto")?;
    while let Some(f) = fields.next_field()? {
        let kind = match f.number {
            1 => ValueKind::Tensor,
            8 => ValueKind::SparseTensor,
            4 => ValueKind::Sequence,
            5 => ValueKind::Map,
            7 => ValueKind::Opaque,
            9 => ValueKind::Optional,
            _ => continue,
        };
        if level == 0 {
            vi.kind = kind;
        }
        chain.containers.truncate(level);
        chain.inner = kind;
        vi.raw_elem_type = 0;
        vi.shape = None;
        match kind {
            ValueKind::Tensor | ValueKind::SparseTensor => read_tensor_type(&f, depth + 1, vi)?,
            ValueKind::Sequence | ValueKind::Optional => {
                chain.containers.push(if kind == ValueKind::Sequence {
                    Container::Sequence
                } else {
                    Container::Optional
                });
                chain.inner = ValueKind::Unspecified;
                let mut inner = f.message(depth + 1, "TypeProto.Sequence")?;
                while let Some(e) = inner.next_field()? {
                    if e.number == 1 {
                        read_type(&e, depth + 2, vi, chain, level + 1)?;
                    }
                }
            }
            ValueKind::Map => {
                chain.containers.push(Container::Map(0));
                chain.inner = ValueKind::Unspecified;
                let mut inner = f.message(depth + 1, "TypeProto.Map")?;
                while let Some(e) = inner.next_field()? {
                    match e.number {
                        1 => {
                            let key = e.int32()?;
                            if let Some(c) = chain.containers.get_mut(level) {
                                *c = Container::Map(key);
                            }
                        }
                        2 => read_type(&e, depth + 2, vi, chain, level + 1)?,
                        _ => {}
                    }
                }
            }
            _ => {
                f.bytes()?;
            }
        }
    }
    Ok(())
}

/// `TypeProto.Tensor` and `TypeProto.SparseTensor`, which share their layout.
fn read_tensor_type(f: &Field<'_>, depth: u32, vi: &mut ValueInfo) -> Result<(), OnnxError> {
    let mut fields = f.message(depth, "TypeProto.Tensor")?;
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => vi.raw_elem_type = f.int32()?,
            2 => {
                let dims = vi.shape.get_or_insert_with(Vec::new);
                let mut shape = f.message(depth + 1, "TensorShapeProto")?;
                while let Some(d) = shape.next_field()? {
                    if d.number == 1 {
                        dims.push(read_dim(&d, depth + 2)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn read_dim(f: &Field<'_>, depth: u32) -> Result<OnnxDim, OnnxError> {
    let mut fields = f.message(depth, "TensorShapeProto.Dimension")?;
    let mut dim = OnnxDim::Unknown;
    while let Some(f) = fields.next_field()? {
        match f.number {
            1 => dim = OnnxDim::Value(f.int64()?),
            2 => {
                let p = f.string()?;
                dim = if p.is_empty() { OnnxDim::Unknown } else { OnnxDim::Param(p) };
            }
            _ => {}
        }
    }
    Ok(dim)
}
