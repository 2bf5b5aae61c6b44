//! Finds a model's large initializers (weights) in the ONNX protobuf, inline or in external data, so that
//! they can be turned into ONNX Runtime values once and shared by every session of the model.
//!
//! This is an optimisation only: anything unexpected (malformed protobuf, typed-field storage, unknown
//! dtype, sizes that disagree) makes the initializer, or the whole model, unshared, and ONNX Runtime then
//! loads the weights itself and reports any real error.

use ferry_spec::DType;

/// Initializers smaller than this stay in the graph, where ONNX Runtime's optimizers may fold them.
pub(crate) const SHARE_MIN_BYTES: usize = 4096;

/// Where an initializer's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataRef {
    /// `raw_data` inside the model bytes: a byte range.
    Inline { start: usize, len: usize },
    /// ONNX external data: a file (relative to the model's directory), offset and length.
    External { location: String, offset: u64, len: u64 },
}

/// One top-level graph initializer stored as little-endian raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Initializer {
    pub name: String,
    pub dtype: DType,
    pub dims: Vec<usize>,
    pub data: DataRef,
}

impl Initializer {
    /// The size of the data in bytes, from the dims and dtype.
    pub fn byte_len(&self) -> Option<usize> {
        let elem = self.dtype.size()?;
        self.dims.iter().try_fold(elem, |a, &d| a.checked_mul(d))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Len { start: usize, body: &'a [u8] },
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// The next field: its number and payload; `None` at the end, `Some(Err)` on malformed input.
    fn field(&mut self) -> Option<Result<(u64, Wire<'a>), ()>> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        Some(self.field_inner().ok_or(()))
    }

    fn field_inner(&mut self) -> Option<(u64, Wire<'a>)> {
        let key = self.varint()?;
        let number = key >> 3;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.pos = self.pos.checked_add(8).filter(|&p| p <= self.bytes.len())?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let start = self.pos;
                let end = start.checked_add(len).filter(|&e| e <= self.bytes.len())?;
                self.pos = end;
                Wire::Len { start, body: &self.bytes[start..end] }
            }
            5 => {
                self.pos = self.pos.checked_add(4).filter(|&p| p <= self.bytes.len())?;
                Wire::Fixed
            }
            _ => return None,
        };
        Some((number, wire))
    }
}

/// The top-level initializers of a `ModelProto` that are worth sharing (at least [`SHARE_MIN_BYTES`],
/// stored as raw bytes of a fixed-size dtype). `None` if the protobuf cannot be walked.
pub(crate) fn shareable_initializers(model: &[u8]) -> Option<Vec<Initializer>> {
    let mut out = Vec::new();
    let mut r = Reader { bytes: model, pos: 0 };
    while let Some(f) = r.field() {
        let (number, wire) = f.ok()?;
        if let (7, Wire::Len { start, body }) = (number, wire) {
            graph(body, start, &mut out)?;
        }
    }
    Some(out)
}

/// The external-data locations the top-level graph's initializers name, in order of first use, without
/// duplicates. Empty if the protobuf cannot be walked (ONNX Runtime then reports the problem).
pub(crate) fn external_locations(model: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut r = Reader { bytes: model, pos: 0 };
    while let Some(Ok((number, wire))) = r.field() {
        let (7, Wire::Len { body, .. }) = (number, wire) else { continue };
        let mut g = Reader { bytes: body, pos: 0 };
        while let Some(Ok((number, wire))) = g.field() {
            let (5, Wire::Len { body, .. }) = (number, wire) else { continue };
            let mut t = Reader { bytes: body, pos: 0 };
            while let Some(Ok((number, wire))) = t.field() {
                if let (13, Wire::Len { body, .. }) = (number, wire)
                    && let Some((k, v)) = entry(body)
                    && k == "location"
                    && !out.contains(&v)
                {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn graph(bytes: &[u8], base: usize, out: &mut Vec<Initializer>) -> Option<()> {
    let mut r = Reader { bytes, pos: 0 };
    while let Some(f) = r.field() {
        let (number, wire) = f.ok()?;
        if let (5, Wire::Len { start, body }) = (number, wire)
            && let Some(init) = tensor(body, base.checked_add(start)?)?
            && init.byte_len().is_some_and(|n| n >= SHARE_MIN_BYTES)
        {
            out.push(init);
        }
    }
    Some(())
}

/// Parses a `TensorProto`; `Some(None)` when it is valid but not shareable.
fn tensor(bytes: &[u8], base: usize) -> Option<Option<Initializer>> {
    let mut r = Reader { bytes, pos: 0 };
    let mut dims = Vec::new();
    let mut data_type = 0i64;
    let mut name = None;
    let mut raw: Option<(usize, usize)> = None;
    let mut typed_storage = false;
    let mut external = false;
    let (mut location, mut offset, mut length) = (None, 0u64, None);
    while let Some(f) = r.field() {
        let (number, wire) = f.ok()?;
        match (number, wire) {
            (1, Wire::Varint(v)) => dims.push(v),
            (1, Wire::Len { body, .. }) => {
                let mut p = Reader { bytes: body, pos: 0 };
                while p.pos < body.len() {
                    dims.push(p.varint()?);
                }
            }
            // Proto3 enums and int32 are varints of the two's complement value.
            #[allow(clippy::cast_possible_wrap)]
            (2, Wire::Varint(v)) => data_type = v as i64,
            (4..=7 | 10 | 11, _) => typed_storage = true,
            (8, Wire::Len { body, .. }) => name = Some(String::from_utf8(body.to_vec()).ok()?),
            (9, Wire::Len { start, body }) => raw = Some((base.checked_add(start)?, body.len())),
            (13, Wire::Len { body, .. }) => {
                let (k, v) = entry(body)?;
                match k.as_str() {
                    "location" => location = Some(v),
                    "offset" => offset = v.parse().ok()?,
                    "length" => length = Some(v.parse::<u64>().ok()?),
                    _ => {}
                }
            }
            (14, Wire::Varint(v)) => external = v == 1,
            _ => {}
        }
    }
    let Some(name) = name else { return Some(None) };
    let Some(dtype) = i32::try_from(data_type).ok().and_then(DType::from_onnx_code) else {
        return Some(None);
    };
    if dtype == DType::String || typed_storage {
        return Some(None);
    }
    let Ok(dims) = dims.into_iter().map(usize::try_from).collect::<Result<Vec<usize>, _>>() else {
        return Some(None);
    };
    let mut init = Initializer { name, dtype, dims, data: DataRef::Inline { start: 0, len: 0 } };
    let Some(need) = init.byte_len() else { return Some(None) };
    init.data = match (external, raw, location) {
        (true, _, Some(location)) => {
            let len = length.unwrap_or(need as u64);
            if len != need as u64 {
                return Some(None);
            }
            DataRef::External { location, offset, len }
        }
        (false, Some((start, len)), _) if len == need => DataRef::Inline { start, len },
        _ => return Some(None),
    };
    Some(Some(init))
}

fn entry(bytes: &[u8]) -> Option<(String, String)> {
    let mut r = Reader { bytes, pos: 0 };
    let (mut k, mut v) = (String::new(), String::new());
    while let Some(f) = r.field() {
        match f.ok()? {
            (1, Wire::Len { body, .. }) => k = String::from_utf8(body.to_vec()).ok()?,
            (2, Wire::Len { body, .. }) => v = String::from_utf8(body.to_vec()).ok()?,
            _ => {}
        }
    }
    Some((k, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_onnx::encode::{ModelBuilder, ProtoWriter};
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
        let mut graph = ProtoWriter::new();
        for t in tensors {
            graph.message(5, t);
        }
        let mut model = ProtoWriter::new();
        model.varint(1, 8).message(7, &graph);
        model.into_bytes()
    }

    #[test]
    fn finds_large_inline_and_external_initializers() {
        let big = vec![7u8; 4096];
        let small = vec![1u8; 16];
        let mut ext = ProtoWriter::new();
        ext.varint(1, 1024).varint(2, 1).string(8, "ext");
        for (k, v) in [("location", "w.bin"), ("offset", "64"), ("length", "4096")] {
            let mut e = ProtoWriter::new();
            e.string(1, k).string(2, v);
            ext.message(13, &e);
        }
        ext.varint(14, 1);
        let model = model_with(&[raw_tensor("big", &[32, 32], &big), raw_tensor("small", &[4], &small), ext]);
        let found = shareable_initializers(&model).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].name, "big");
        let DataRef::Inline { start, len } = found[0].data else { panic!("{found:?}") };
        assert_eq!(&model[start..start + len], &big[..]);
        assert_eq!(found[1].data, DataRef::External { location: "w.bin".into(), offset: 64, len: 4096 });
        assert_eq!(external_locations(&model), vec!["w.bin".to_owned()]);
    }

    #[test]
    fn mismatched_sizes_are_not_shared() {
        let model = model_with(&[raw_tensor("bad", &[32, 33], &[0u8; 4096])]);
        assert_eq!(shareable_initializers(&model).unwrap(), vec![]);
    }

    #[test]
    fn builder_models_parse() {
        let model = ModelBuilder::new(17).build();
        assert_eq!(shareable_initializers(&model), Some(vec![]));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = shareable_initializers(&bytes);
            let _ = external_locations(&bytes);
        }

        #[test]
        fn truncations_never_panic(cut in 0usize..5000) {
            let model = model_with(&[raw_tensor("big", &[32, 32], &[7u8; 4096])]);
            let _ = shareable_initializers(&model[..cut.min(model.len())]);
        }
    }
}
