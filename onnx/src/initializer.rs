//! The top-level graph's initializers as descriptions: name, type, shape and where their bytes are.
//!
//! A runtime that hands weights to ONNX Runtime itself (to share one copy between sessions) needs to know
//! where each weight's bytes lie, not the decoded values: so this reports byte ranges of `raw_data` within
//! the model buffer, and external-data locations, and copies nothing.

use std::ops::Range;

use ferry_spec::DType;

use crate::error::{OnnxError, display_name};
use crate::tensor::{
    EXTERNAL, T_DATA_LOCATION, T_DATA_TYPE, T_DIMS, T_DOUBLE_DATA, T_EXTERNAL_DATA, T_FLOAT_DATA,
    T_INT32_DATA, T_INT64_DATA, T_NAME, T_RAW_DATA, T_SEGMENT, T_STRING_DATA, T_UINT64_DATA, field_name,
    read_entry,
};
use crate::wire::{Field, Fields, Span};

/// One initializer of a model's top-level graph, as [`read_initializers`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initializer {
    /// `TensorProto.name`; empty when absent.
    pub name: String,
    /// The element type, when Ferry supports the tensor's data type.
    pub dtype: Option<DType>,
    /// The raw `TensorProto.DataType` code.
    pub raw_data_type: i32,
    /// `TensorProto.dims` as written (unchecked: may be negative); empty for a scalar.
    pub dims: Vec<i64>,
    /// Where the elements are stored.
    pub data: InitializerData,
}

/// Where an initializer's elements are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitializerData {
    /// `raw_data`: little-endian elements at this byte range of the buffer given to [`read_initializers`].
    Raw(Range<usize>),
    /// External data (`data_location = EXTERNAL`): `location` is a file relative to the model's directory,
    /// as written in the model (unchecked); `length` is `None` when the model does not give one.
    External {
        /// The `location` entry.
        location: String,
        /// The `offset` entry; 0 when absent.
        offset: u64,
        /// The `length` entry.
        length: Option<u64>,
    },
    /// A typed field (`float_data`, `int64_data`, ...): protobuf scalars, not a byte range of the file.
    Typed,
    /// No data field at all (ONNX's encoding of a tensor with no elements, or a tensor left undefined).
    Empty,
}

impl Initializer {
    /// The bytes the data takes as raw little-endian elements (int4/uint4 two per byte), from `dtype` and
    /// `dims`: `None` for
    /// strings, unsupported data types, negative dims or a size that does not fit 64 bits.
    pub fn data_len(&self) -> Option<u64> {
        let numel = self.dims.iter().try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))?;
        u64::try_from(self.dtype?.byte_len(usize::try_from(numel).ok()?)?).ok()
    }
}

/// Describes the initializers (`GraphProto.initializer`) of a serialized `ModelProto`'s top-level graph,
/// in model order, without decoding or copying their data.
///
/// Only the top-level graph: its initializers are the ones a session can be given from outside
/// (ONNX Runtime's `AddInitializer`). Subgraph (`If`/`Loop`/`Scan` body) initializers, sparse initializers
/// and tensor attributes are not listed; their external-data files are in [`crate::read_model`]'s
/// `external_data`, which walks every graph.
///
/// Fails on malformed protobuf, on a model without a graph, on external data without a `location` or with
/// an `offset` or `length` that is not a byte count, on data in both `raw_data` and a typed field, and on
/// chunked (segmented) tensors, whose `raw_data` is only a part of the tensor.
pub fn read_initializers(bytes: &[u8]) -> Result<Vec<Initializer>, OnnxError> {
    let mut model = Fields::new(Span::new(bytes), "ModelProto");
    let mut out = Vec::new();
    let mut has_graph = false;
    while let Some(f) = model.next_field()? {
        if f.number != 7 {
            continue;
        }
        // A repeated singular message merges, as protobuf does: the initializer lists concatenate.
        has_graph = true;
        let mut graph = f.message(1, "GraphProto")?;
        while let Some(g) = graph.next_field()? {
            if g.number == 5 {
                out.push(describe(&g, 2)?);
            }
        }
    }
    if !has_graph {
        return Err(OnnxError::MissingGraph);
    }
    Ok(out)
}

fn describe(f: &Field<'_>, depth: u32) -> Result<Initializer, OnnxError> {
    let mut fields = f.message(depth, "TensorProto")?;
    let mut init = Initializer {
        name: String::new(),
        dtype: None,
        raw_data_type: 0,
        dims: Vec::new(),
        data: InitializerData::Empty,
    };
    let mut raw: Option<Span<'_>> = None;
    let mut typed: Option<u32> = None;
    let mut segmented = false;
    let mut data_location = 0;
    let (mut location, mut offset, mut length) = (String::new(), None, None);
    while let Some(t) = fields.next_field()? {
        match t.number {
            T_DIMS => t.for_each_varint(|d| {
                // int64 dims are varints of the two's complement value.
                init.dims.push(d as i64);
                Ok(())
            })?,
            T_DATA_TYPE => init.raw_data_type = t.int32()?,
            T_SEGMENT => {
                t.bytes()?;
                segmented = true;
            }
            T_NAME => init.name = t.string()?,
            T_RAW_DATA => raw = Some(t.bytes()?),
            T_DATA_LOCATION => data_location = t.int32()?,
            T_EXTERNAL_DATA => match read_entry(&t, depth + 1)? {
                (k, v) if k == "location" => location = v,
                (k, v) if k == "offset" => offset = Some(v),
                (k, v) if k == "length" => length = Some(v),
                _ => {}
            },
            T_FLOAT_DATA | T_INT32_DATA | T_STRING_DATA | T_INT64_DATA | T_DOUBLE_DATA | T_UINT64_DATA => {
                typed.get_or_insert(t.number);
            }
            _ => {}
        }
    }
    init.dtype = DType::from_onnx_code(init.raw_data_type);
    let tensor = || display_name(&init.name);
    if segmented {
        return Err(OnnxError::Segmented { tensor: tensor() });
    }
    init.data = if data_location == EXTERNAL {
        if location.is_empty() {
            return Err(OnnxError::MissingExternalLocation { tensor: tensor(), offset: f.offset });
        }
        let count = |key: &'static str, value: Option<String>| -> Result<Option<u64>, OnnxError> {
            value
                .map(|v| {
                    v.parse().map_err(|_| OnnxError::BadExternalData { tensor: tensor(), key, value: v })
                })
                .transpose()
        };
        let offset = count("offset", offset)?.unwrap_or(0);
        InitializerData::External { location, offset, length: count("length", length)? }
    } else {
        match (raw, typed) {
            (Some(_), Some(number)) => {
                return Err(OnnxError::ConflictingData { tensor: tensor(), field: field_name(number) });
            }
            (Some(span), None) => InitializerData::Raw(span.base..span.base + span.bytes.len()),
            (None, Some(_)) => InitializerData::Typed,
            (None, None) => InitializerData::Empty,
        }
    };
    Ok(init)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::encode::{ModelBuilder, ProtoWriter, external_tensor};
    use proptest::prelude::*;

    fn raw_tensor(name: &str, dims: &[u64], bytes: &[u8]) -> ProtoWriter {
        let mut t = ProtoWriter::new();
        for d in dims {
            t.varint(1, *d);
        }
        t.varint(2, 1).string(8, name).bytes(9, bytes);
        t
    }

    fn model_with(tensors: &[ProtoWriter]) -> Vec<u8> {
        let model = tensors.iter().cloned().fold(ModelBuilder::new(13), ModelBuilder::raw_initializer);
        model.build()
    }

    #[test]
    fn raw_data_is_a_byte_range_of_the_model_and_external_data_a_location() {
        let big = vec![7u8; 4096];
        let ext = external_tensor("ext", DType::Float32, &[1024], "w.bin", 64, 4096);
        let mut typed = ProtoWriter::new();
        typed.varint(2, 1).string(8, "typed").packed_fixed32(4, [0, 0]);
        let mut empty = ProtoWriter::new();
        empty.varint(1, 0).varint(2, 7).string(8, "empty");
        let model = model_with(&[raw_tensor("big", &[32, 32], &big), ext, typed, empty]);
        let found = read_initializers(&model).unwrap();
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(
            (found[0].name.as_str(), found[0].dtype, &found[0].dims[..]),
            ("big", Some(DType::Float32), &[32, 32][..])
        );
        let InitializerData::Raw(range) = found[0].data.clone() else { panic!("{found:?}") };
        assert_eq!(&model[range], &big[..]);
        assert_eq!(found[0].data_len(), Some(4096));
        assert_eq!(
            found[1].data,
            InitializerData::External { location: "w.bin".into(), offset: 64, length: Some(4096) }
        );
        assert_eq!(found[2].data, InitializerData::Typed);
        assert_eq!(
            (found[3].dtype, found[3].data.clone(), found[3].data_len()),
            (Some(DType::Int64), InitializerData::Empty, Some(0))
        );
    }

    #[test]
    fn only_the_top_level_graph_is_listed() {
        // An `If` whose then-branch holds an initializer: not one a session can be given from outside.
        let mut inner = ProtoWriter::new();
        inner.message(5, &raw_tensor("inner", &[1], &[0; 4]));
        let mut attr = ProtoWriter::new();
        attr.string(1, "then_branch").message(6, &inner).varint(20, 5);
        let mut node = ProtoWriter::new();
        node.string(1, "cond").string(4, "If").message(5, &attr);
        let mut graph = ProtoWriter::new();
        graph.message(1, &node).message(5, &raw_tensor("outer", &[1], &[0; 4]));
        let mut model = ProtoWriter::new();
        model.message(7, &graph);
        let names: Vec<_> =
            read_initializers(model.as_bytes()).unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["outer"]);
    }

    #[test]
    fn unusable_sizes_and_bad_external_entries() {
        let found = read_initializers(&model_with(&[raw_tensor("neg", &[u64::MAX], &[])])).unwrap();
        assert_eq!((found[0].dims.clone(), found[0].data_len()), (vec![-1], None));

        let mut t = external_tensor("w", DType::Float32, &[1], "w.bin", 0, 4);
        let mut e = ProtoWriter::new();
        e.string(1, "offset").string(2, "-8");
        t.message(13, &e);
        let err = read_initializers(&model_with(&[t])).unwrap_err();
        assert_eq!(err, OnnxError::BadExternalData { tensor: "w".into(), key: "offset", value: "-8".into() });

        let mut t = ProtoWriter::new();
        t.string(8, "w").varint(14, 1);
        assert!(matches!(
            read_initializers(&model_with(&[t])),
            Err(OnnxError::MissingExternalLocation { .. })
        ));
        let mut t = raw_tensor("both", &[1], &[0; 4]);
        t.packed_fixed32(4, [0]);
        assert!(matches!(read_initializers(&model_with(&[t])), Err(OnnxError::ConflictingData { .. })));
        assert_eq!(read_initializers(&[]), Err(OnnxError::MissingGraph));
    }

    #[test]
    fn builder_models_read() {
        assert_eq!(read_initializers(&ModelBuilder::new(17).build()), Ok(vec![]));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_initializers(&bytes);
        }

        #[test]
        fn truncations_never_panic(cut in 0usize..5000) {
            let model = model_with(&[raw_tensor("big", &[32, 32], &[7u8; 4096])]);
            let _ = read_initializers(&model[..cut.min(model.len())]);
        }
    }
}
