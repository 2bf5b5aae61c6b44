//! `read_model` on models built with the encoder, including hand-made malformed ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use ferry_onnx::encode::{self, ModelBuilder, ProtoWriter};
use ferry_onnx::{OnnxDim, OnnxError, TensorProtoData, TensorValues, ValueKind, read_model};
use ferry_spec::{DType, Dim};

fn dims() -> Vec<OnnxDim> {
    vec![OnnxDim::Param("batch".into()), OnnxDim::Value(3), OnnxDim::Unknown, OnnxDim::Value(-1)]
}

#[test]
fn identity_model_round_trips_every_dtype() {
    for dtype in DType::ALL {
        for opset in [7, 13, 17, 21, 24] {
            let bytes = encode::identity_model("in", "out", dtype, &dims(), opset);
            let info = read_model(&bytes).unwrap();
            assert_eq!(info.ir_version, encode::ir_version_for_opset(opset));
            assert_eq!(info.opsets, BTreeMap::from([(String::new(), opset)]));
            assert_eq!(info.producer_name, "ferry-onnx");
            assert_eq!(info.inputs.len(), 1);
            assert_eq!(info.outputs.len(), 1);
            for (vi, name) in [(&info.inputs[0], "in"), (&info.outputs[0], "out")] {
                assert_eq!(vi.name, name);
                assert_eq!(vi.kind, ValueKind::Tensor);
                assert_eq!(vi.elem_type, Some(dtype));
                assert_eq!(vi.raw_elem_type, dtype.onnx_code());
                assert_eq!(vi.shape, Some(dims()));
            }
            assert!(info.external_data.is_empty());
            // Deterministic.
            assert_eq!(bytes, encode::identity_model("in", "out", dtype, &dims(), opset));
        }
    }
    let info = read_model(&encode::identity_model("a", "b", DType::Bool, &[], 17)).unwrap();
    assert_eq!(info.inputs[0].shape, Some(vec![]));
}

#[test]
fn dims_convert_to_contract_dims() {
    let d: Vec<_> = dims().iter().map(OnnxDim::to_dim).collect();
    assert_eq!(d, [Some(Dim::Symbolic("batch".into())), Some(Dim::Fixed(3)), None, None]);
}

#[test]
fn external_initializer_model() {
    let bytes = encode::model_with_external_initializer("weights.bin", 4096);
    let info = read_model(&bytes).unwrap();
    assert_eq!(info.external_data, ["weights.bin"]);
    assert!(info.external_data_elsewhere.is_empty(), "only a main-graph initializer names it");
    assert_eq!(info.inputs.len(), 1);
    assert_eq!(info.inputs[0].name, "x");
    assert_eq!(info.inputs[0].shape, Some(vec![OnnxDim::Value(1024)]));
    assert_eq!(info.outputs[0].name, "y");
    assert_eq!(info.opsets[""], 17);
    assert_eq!(info.ir_version, 8);
    let pins = info.pins();
    assert_eq!((pins.ir_version, pins.external_data), (8, vec!["weights.bin".to_owned()]));
}

#[test]
fn initializers_listed_as_inputs_are_not_inputs() {
    let w = TensorProtoData {
        name: "w".into(),
        dtype: DType::Float32,
        dims: vec![2],
        data: TensorValues::F32(vec![1.0, 2.0]),
    };
    let bytes = ModelBuilder::new(8)
        .input("x", DType::Float32, &[OnnxDim::Value(2)])
        .input("w", DType::Float32, &[OnnxDim::Value(2)])
        .input("e", DType::Float32, &[OnnxDim::Value(2)])
        .initializer(&w)
        .external_initializer("e", DType::Float32, &[2], "e.bin", 0, 8)
        .external_initializer("e2", DType::Float32, &[2], "e.bin", 8, 8)
        .external_initializer("e3", DType::Float32, &[2], "a.bin", 0, 8)
        .output("y", DType::Float32, &[OnnxDim::Value(2)])
        .node("Sum", &["x", "w", "e"], &["y"])
        .build();
    let info = read_model(&bytes).unwrap();
    let names: Vec<_> = info.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["x"]);
    assert_eq!(info.external_data, ["a.bin", "e.bin"], "distinct and sorted");
}

#[test]
fn opsets_fold_ai_onnx_and_reject_conflicts() {
    let ok = ModelBuilder::new(17).opset("ai.onnx", 17).opset("com.microsoft", 1).build();
    let info = read_model(&ok).unwrap();
    assert_eq!(info.opsets, BTreeMap::from([(String::new(), 17), ("com.microsoft".to_owned(), 1)]));
    let bad = ModelBuilder::new(17).opset("ai.onnx", 18).build();
    let err = read_model(&bad).unwrap_err();
    assert_eq!(err, OnnxError::ConflictingOpset { domain: String::new(), first: 17, second: 18 });
    assert_eq!(err.to_string(), "opset_import lists domain `` with versions 17 and 18");
}

#[test]
fn missing_graph_and_empty_input() {
    assert_eq!(read_model(&[]).unwrap_err(), OnnxError::MissingGraph);
    let mut m = ProtoWriter::new();
    m.int64(1, 8);
    assert_eq!(read_model(m.as_bytes()).unwrap_err(), OnnxError::MissingGraph);
    // An empty graph is a (useless) valid model.
    m.bytes(7, &[]);
    let info = read_model(m.as_bytes()).unwrap();
    assert_eq!(info.ir_version, 8);
    assert!(info.inputs.is_empty() && info.outputs.is_empty() && info.opsets.is_empty());
}

#[test]
fn wrong_wire_types_are_named_with_offsets() {
    let mut m = ProtoWriter::new();
    m.int64(1, 8).varint(7, 1);
    let err = read_model(m.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        OnnxError::WireType { message: "ModelProto", field: 7, offset: 2, found: 0, expected: 2 }
    );
    assert_eq!(err.to_string(), "field 7 of ModelProto at byte 2: wire type 0, expected 2");

    // Deep inside: a ValueInfoProto whose name is a varint. ModelProto: [0x3a, len] then GraphProto:
    // [0x5a, len] then ValueInfoProto at byte 4: [0x08, 0x01].
    let mut vi = ProtoWriter::new();
    vi.varint(1, 1);
    let mut g = ProtoWriter::new();
    g.message(11, &vi);
    let mut m = ProtoWriter::new();
    m.message(7, &g);
    let err = read_model(m.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        OnnxError::WireType { message: "ValueInfoProto", field: 1, offset: 4, found: 0, expected: 2 }
    );
}

#[test]
fn invalid_utf8_names_fail() {
    let mut vi = ProtoWriter::new();
    vi.bytes(1, &[0xff, 0xfe]);
    let mut g = ProtoWriter::new();
    g.message(12, &vi);
    let mut m = ProtoWriter::new();
    m.message(7, &g);
    let err = read_model(m.as_bytes()).unwrap_err();
    assert_eq!(err, OnnxError::InvalidUtf8 { message: "ValueInfoProto", field: 1, offset: 4 });
}

/// Appends one unknown field of every wire type, a group included.
fn unknown_fields(m: &mut ProtoWriter) {
    m.varint(900, 5).fixed64(901, 7).fixed32(902, 9).bytes(903, b"junk");
    m.key(904, 3).varint(1, 1).key(2, 3).key(2, 4).key(904, 4);
}

#[test]
fn unknown_fields_are_skipped() {
    let plain = encode::identity_model("x", "y", DType::Int32, &dims(), 17);
    let expected = read_model(&plain).unwrap();
    // Unknown fields at the model level, before and after the known ones.
    let mut m = ProtoWriter::new();
    unknown_fields(&mut m);
    m.raw(&plain);
    unknown_fields(&mut m);
    assert_eq!(read_model(m.as_bytes()).unwrap(), expected);
    // Unknown fields inside a ValueInfoProto's TypeProto, and known-but-unused ones (doc_string, denotation).
    let mut ty = ProtoWriter::new();
    let mut tt = ProtoWriter::new();
    tt.varint(1, 7);
    unknown_fields(&mut tt);
    ty.message(1, &tt).string(6, "TENSOR");
    unknown_fields(&mut ty);
    let mut vi = ProtoWriter::new();
    vi.string(1, "ids").message(2, &ty).string(3, "doc");
    let mut g = ProtoWriter::new();
    g.message(11, &vi).string(10, "graph doc");
    unknown_fields(&mut g);
    let mut m = ProtoWriter::new();
    m.message(7, &g).string(6, "model doc");
    let info = read_model(m.as_bytes()).unwrap();
    assert_eq!(info.inputs[0].name, "ids");
    assert_eq!(info.inputs[0].elem_type, Some(DType::Int64));
    assert_eq!(info.inputs[0].shape, None);
}

#[test]
fn repeated_graph_fields_merge() {
    let mut g1 = ProtoWriter::new();
    g1.message(11, &encode::value_info("a", DType::Float32, &[]));
    let mut g2 = ProtoWriter::new();
    g2.message(11, &encode::value_info("b", DType::Float32, &[]));
    let mut m = ProtoWriter::new();
    m.message(7, &g1).message(7, &g2);
    let names: Vec<_> = read_model(m.as_bytes()).unwrap().inputs.into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["a", "b"]);
}

/// A graph whose single `If` node nests `levels` more graphs; the innermost holds a Constant node whose
/// tensor attribute reads external data from `deep.bin`.
fn nested_graph(levels: usize) -> ProtoWriter {
    let mut t = encode::external_tensor("c", DType::Float32, &[1], "deep.bin", 0, 4);
    let mut attr = ProtoWriter::new();
    attr.string(1, "value").message(5, &t).varint(20, 4);
    let mut node = ProtoWriter::new();
    node.string(2, "c").string(4, "Constant").message(5, &attr);
    let mut graph = ProtoWriter::new();
    graph.message(1, &node);
    for _ in 0..levels {
        attr = ProtoWriter::new();
        attr.string(1, "then_branch").message(6, &graph).varint(20, 5);
        node = ProtoWriter::new();
        node.string(1, "cond").string(4, "If").message(5, &attr);
        graph = ProtoWriter::new();
        graph.message(1, &node);
        t = ProtoWriter::new();
    }
    let _ = t;
    graph
}

#[test]
fn subgraph_external_data_and_depth_limit() {
    let mut m = ProtoWriter::new();
    m.message(7, &nested_graph(20));
    let info = read_model(m.as_bytes()).unwrap();
    assert_eq!(info.external_data, ["deep.bin"]);
    assert_eq!(info.external_data_elsewhere, ["deep.bin"], "a subgraph names it");

    let mut m = ProtoWriter::new();
    m.message(7, &nested_graph(200));
    let err = read_model(m.as_bytes()).unwrap_err();
    assert!(matches!(err, OnnxError::TooDeep { limit: 100, .. }), "{err}");
}

#[test]
fn external_tensor_without_location_fails() {
    let mut t = ProtoWriter::new();
    t.string(8, "w").varint(14, 1);
    let mut g = ProtoWriter::new();
    g.message(5, &t);
    let mut m = ProtoWriter::new();
    m.message(7, &g);
    let err = read_model(m.as_bytes()).unwrap_err();
    assert_eq!(err, OnnxError::MissingExternalLocation { tensor: "w".into(), offset: 2 });
}

#[test]
fn sparse_initializers_are_not_inputs_and_count_for_external_data() {
    let values = encode::external_tensor("s", DType::Float32, &[1], "sparse.bin", 0, 4);
    let mut indices = ProtoWriter::new();
    indices.int64(1, 1).int64(2, 7).packed_varints(7, [0]);
    let mut sparse = ProtoWriter::new();
    sparse.message(1, &values).message(2, &indices).packed_varints(3, [4]);
    let mut g = ProtoWriter::new();
    g.message(15, &sparse);
    g.message(11, &encode::value_info("s", DType::Float32, &[OnnxDim::Value(4)]));
    g.message(11, &encode::value_info("x", DType::Float32, &[OnnxDim::Value(4)]));
    let mut m = ProtoWriter::new();
    m.message(7, &g);
    let info = read_model(m.as_bytes()).unwrap();
    assert_eq!(info.inputs.len(), 1);
    assert_eq!(info.inputs[0].name, "x");
    assert_eq!(info.external_data, ["sparse.bin"]);
    assert_eq!(info.external_data_elsewhere, ["sparse.bin"], "a sparse initializer is not supplied in place");
}

#[test]
fn oneof_type_last_member_wins() {
    let mut seq = ProtoWriter::new();
    seq.bytes(1, &[]);
    let mut ty = ProtoWriter::new();
    let mut tt = ProtoWriter::new();
    tt.varint(1, 1);
    ty.message(1, &tt).message(4, &seq);
    let mut vi = ProtoWriter::new();
    vi.string(1, "s").message(2, &ty);
    let mut g = ProtoWriter::new();
    g.message(12, &vi);
    let mut m = ProtoWriter::new();
    m.message(7, &g);
    let out = &read_model(m.as_bytes()).unwrap().outputs[0];
    assert_eq!((out.kind, out.elem_type, out.raw_elem_type), (ValueKind::Sequence, None, 0));
}
