//! The top-level graph's nodes, as far as a contract can learn from them: which operator reads which
//! values. Only what `ferry init` uses is read (operator, inputs, integer attributes); the rest of each
//! node, and every subgraph, is skipped.

use std::collections::BTreeMap;

use crate::error::OnnxError;
use crate::initializer::read_initializers;
use crate::wire::{Fields, Span};

/// One node of the top-level graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `NodeProto.op_type`.
    pub op_type: String,
    /// `NodeProto.domain`; empty for the default ONNX domain (`ai.onnx` is folded into it).
    pub domain: String,
    /// `NodeProto.name`; empty when absent.
    pub name: String,
    /// The values it reads, in order (an empty name is an omitted optional input).
    pub inputs: Vec<String>,
    /// Its integer attributes (`AttributeProto.i`), by name.
    pub int_attributes: BTreeMap<String, i64>,
}

/// Reads the nodes of a serialized `ModelProto`'s top-level graph, in model order.
pub fn read_nodes(bytes: &[u8]) -> Result<Vec<Node>, OnnxError> {
    let mut model = Fields::new(Span::new(bytes), "ModelProto");
    let mut nodes = Vec::new();
    while let Some(f) = model.next_field()? {
        if f.number != 7 {
            continue;
        }
        let mut graph = f.message(1, "GraphProto")?;
        while let Some(g) = graph.next_field()? {
            if g.number != 1 {
                continue;
            }
            let mut fields = g.message(2, "NodeProto")?;
            let mut node = Node {
                op_type: String::new(),
                domain: String::new(),
                name: String::new(),
                inputs: Vec::new(),
                int_attributes: BTreeMap::new(),
            };
            while let Some(n) = fields.next_field()? {
                match n.number {
                    1 => node.inputs.push(n.string()?),
                    3 => node.name = n.string()?,
                    4 => node.op_type = n.string()?,
                    7 => node.domain = n.string()?,
                    5 => {
                        let mut attr = n.message(3, "AttributeProto")?;
                        let (mut name, mut int) = (String::new(), None);
                        while let Some(a) = attr.next_field()? {
                            match a.number {
                                1 => name = a.string()?,
                                3 => int = Some(a.int64()?),
                                _ => {}
                            }
                        }
                        if let Some(i) = int {
                            node.int_attributes.insert(name, i);
                        }
                    }
                    _ => {}
                }
            }
            if node.domain == "ai.onnx" {
                node.domain.clear();
            }
            nodes.push(node);
        }
    }
    Ok(nodes)
}

/// The bound a model itself puts on an integer graph input that only indexes tables: for every input
/// that a top-level `Gather` uses as `indices` into an initializer (an embedding table), the size of that
/// table along the gathered axis; the smallest when several tables are indexed. An id outside
/// `[0, size)` is an out-of-vocabulary token (a negative one silently counts from the end).
///
/// Inputs used any other way as well are left out: their values mean something besides an index.
pub fn index_bounds(bytes: &[u8]) -> Result<BTreeMap<String, IndexBound>, OnnxError> {
    let nodes = read_nodes(bytes)?;
    let tables: BTreeMap<String, Vec<i64>> =
        read_initializers(bytes)?.into_iter().map(|i| (i.name, i.dims)).collect();
    let mut bounds: BTreeMap<String, IndexBound> = BTreeMap::new();
    let mut other_use: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for n in &nodes {
        let gather = n.op_type == "Gather" && n.domain.is_empty();
        for (slot, input) in n.inputs.iter().enumerate() {
            if !(gather && slot == 1) {
                other_use.insert(input);
            }
        }
        let (true, [data, indices, ..]) = (gather, n.inputs.as_slice()) else { continue };
        let Some(dims) = tables.get(data) else { continue };
        let axis = n.int_attributes.get("axis").copied().unwrap_or(0);
        let axis =
            if axis < 0 { axis.checked_add(i64::try_from(dims.len()).unwrap_or(0)) } else { Some(axis) };
        let Some(size) = axis.and_then(|a| usize::try_from(a).ok()).and_then(|a| dims.get(a)) else {
            continue;
        };
        let Ok(size) = u64::try_from(*size) else { continue };
        let bound = IndexBound { size, table: data.clone(), node: n.name.clone() };
        match bounds.get(indices) {
            Some(b) if b.size <= size => {}
            _ => {
                bounds.insert(indices.clone(), bound);
            }
        }
    }
    bounds.retain(|name, _| !other_use.contains(name.as_str()));
    Ok(bounds)
}

/// A bound [`index_bounds`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexBound {
    /// The table's size along the gathered axis: valid indices are `0..size`.
    pub size: u64,
    /// The initializer indexed.
    pub table: String,
    /// The `Gather` node's name (may be empty).
    pub node: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OnnxDim;
    use crate::encode::{ModelBuilder, ProtoWriter};
    use ferry_spec::DType;

    fn gather(name: &str, data: &str, indices: &str, axis: Option<i64>) -> ProtoWriter {
        let mut n = ProtoWriter::new();
        n.string(1, data)
            .string(1, indices)
            .string(2, &format!("{name}_out"))
            .string(3, name)
            .string(4, "Gather");
        if let Some(axis) = axis {
            let mut a = ProtoWriter::new();
            a.string(1, "axis").int64(3, axis).int64(20, 2);
            n.message(5, &a);
        }
        n
    }

    fn model(nodes: Vec<ProtoWriter>, extra: &[(&str, &[&str])]) -> Vec<u8> {
        let ids = [OnnxDim::Param("batch".into()), OnnxDim::Param("seq".into())];
        let mut b = ModelBuilder::new(17)
            .input("ids", DType::Int64, &ids)
            .input("other", DType::Int64, &ids)
            .external_initializer("emb", DType::Float32, &[1000, 64], "w.bin", 0, 256_000)
            .external_initializer("small", DType::Float32, &[4, 50], "w.bin", 0, 800)
            .output("y", DType::Float32, &[]);
        for n in nodes {
            b = b.raw_node(n);
        }
        for (op, inputs) in extra {
            b = b.node(op, inputs, &["z"]);
        }
        b.build()
    }

    #[test]
    fn a_gathered_input_is_bounded_by_its_table() {
        let bounds = index_bounds(&model(vec![gather("embed", "emb", "ids", None)], &[])).unwrap();
        assert_eq!(bounds.len(), 1);
        assert_eq!(bounds["ids"], IndexBound { size: 1000, table: "emb".into(), node: "embed".into() });
        // The gathered axis decides; a negative axis counts from the back.
        for axis in [1, -1] {
            let bounds = index_bounds(&model(vec![gather("g", "small", "ids", Some(axis))], &[])).unwrap();
            assert_eq!(bounds["ids"].size, 50, "axis {axis}");
        }
        let out_of_range = index_bounds(&model(vec![gather("g", "small", "ids", Some(7))], &[])).unwrap();
        assert!(out_of_range.is_empty());
        // Two tables: the smaller one bounds the ids.
        let two = model(vec![gather("a", "emb", "ids", None), gather("b", "small", "ids", None)], &[]);
        assert_eq!(index_bounds(&two).unwrap()["ids"].size, 4);
    }

    #[test]
    fn inputs_used_otherwise_or_gathering_from_non_tables_are_not_bounded() {
        // `ids` also feeds an Add: its values mean more than an index.
        let both = model(vec![gather("embed", "emb", "ids", None)], &[("Add", &["ids", "other"])]);
        assert!(index_bounds(&both).unwrap().is_empty());
        // Gathering from a graph input, or gathering a table *with* the input as data.
        let from_input = model(vec![gather("g", "other", "ids", None)], &[]);
        assert!(index_bounds(&from_input).unwrap().is_empty());
        let nodes =
            read_nodes(&model(vec![gather("g", "emb", "ids", Some(0))], &[("Relu", &["y"])])).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!((nodes[0].op_type.as_str(), nodes[0].int_attributes.get("axis")), ("Gather", Some(&0)));
        assert_eq!(nodes[1].inputs, ["y"]);
    }

    #[test]
    fn truncated_models_are_errors() {
        let bytes = model(vec![gather("embed", "emb", "ids", None)], &[]);
        for cut in 0..bytes.len() {
            let _ = index_bounds(&bytes[..cut]);
        }
        assert!(index_bounds(&bytes[..bytes.len() / 2]).is_err());
    }
}
