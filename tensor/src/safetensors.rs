//! Hugging Face `.safetensors`: an 8-byte little-endian header length, a JSON header mapping each name to
//! `{dtype, shape, data_offsets}` (plus an optional `__metadata__` of strings), then the data.

use std::fmt::Write as _;

use ferry_spec::DType;
use serde_json::Value;

use crate::json::{Entries, push_string};
use crate::raw::{self, Endian};
use crate::{Declared, Format, HeaderCheck, Tensor, TensorError, TensorMap, check_header, numel};

/// The reference implementation's limit on the header length.
const MAX_HEADER_LEN: u64 = 100_000_000;

const METADATA_KEY: &str = "__metadata__";

fn dtype_from_name(name: &str) -> Option<DType> {
    Some(match name {
        "F16" => DType::Float16,
        "F32" => DType::Float32,
        "F64" => DType::Float64,
        "I8" => DType::Int8,
        "I16" => DType::Int16,
        "I32" => DType::Int32,
        "I64" => DType::Int64,
        "U8" => DType::Uint8,
        "U16" => DType::Uint16,
        "U32" => DType::Uint32,
        "U64" => DType::Uint64,
        "BOOL" => DType::Bool,
        "BF16" => DType::BFloat16,
        "F8_E4M3" => DType::Float8E4M3FN,
        "F8_E4M3FNUZ" => DType::Float8E4M3FNUZ,
        "F8_E5M2" => DType::Float8E5M2,
        "F8_E5M2FNUZ" => DType::Float8E5M2FNUZ,
        _ => return None,
    })
}

fn dtype_name(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Float16 => "F16",
        DType::Float32 => "F32",
        DType::Float64 => "F64",
        DType::Int8 => "I8",
        DType::Int16 => "I16",
        DType::Int32 => "I32",
        DType::Int64 => "I64",
        DType::Uint8 => "U8",
        DType::Uint16 => "U16",
        DType::Uint32 => "U32",
        DType::Uint64 => "U64",
        DType::Bool => "BOOL",
        // The safetensors names: `F8_E4M3` is E4M3FN (PyTorch's float8_e4m3fn). The format has no 4-bit
        // integers (its `F4` is a 4-bit float).
        DType::BFloat16 => "BF16",
        DType::Float8E4M3FN => "F8_E4M3",
        DType::Float8E4M3FNUZ => "F8_E4M3FNUZ",
        DType::Float8E5M2 => "F8_E5M2",
        DType::Float8E5M2FNUZ => "F8_E5M2FNUZ",
        DType::String | DType::Int4 | DType::Uint4 => return None,
    })
}

fn header_err(reason: impl Into<String>) -> TensorError {
    TensorError::SafetensorsHeader { reason: reason.into() }
}

struct Entry {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

fn parse_entry(value: &Value, data_len: usize) -> Result<(DType, Vec<usize>, usize, usize), TensorError> {
    let Value::Object(m) = value else {
        return Err(header_err("entry must be an object with dtype, shape and data_offsets"));
    };
    let dtype = match m.get("dtype") {
        Some(Value::String(s)) => {
            dtype_from_name(s).ok_or_else(|| TensorError::UnsupportedDType { dtype: s.clone() })?
        }
        _ => return Err(header_err("entry needs a string `dtype`")),
    };
    let shape = match m.get("shape") {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<Vec<usize>>>(),
        _ => None,
    }
    .ok_or_else(|| header_err("entry needs `shape`, an array of non-negative integers"))?;
    let (begin, end) = match m.get("data_offsets") {
        Some(Value::Array(o)) => match o.as_slice() {
            [b, e] => b.as_u64().zip(e.as_u64()),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| header_err("entry needs `data_offsets`, two non-negative integers"))?;
    let bad = |reason: String| TensorError::BadOffsets { begin, end, reason };
    if begin > end {
        return Err(bad("begin after end".to_owned()));
    }
    if end > data_len as u64 {
        return Err(bad(format!("are out of range: the data section is {data_len} bytes")));
    }
    // Both fit in usize now: they are at most data_len.
    let (b, e) = (usize::try_from(begin).unwrap_or(usize::MAX), usize::try_from(end).unwrap_or(usize::MAX));
    let size = raw::stored_size(dtype).unwrap_or(1);
    let needed = numel(&shape).and_then(|n| n.checked_mul(size));
    if needed != Some(e - b) {
        let needed = needed.map_or_else(|| "more than addressable".to_owned(), |n| n.to_string());
        return Err(bad(format!("span {} bytes but shape {shape:?} of {dtype} needs {needed}", e - b)));
    }
    Ok((dtype, shape, b, e))
}

/// `check` sees every entry's header before any tensor is decoded.
pub(crate) fn read(bytes: &[u8], check: &mut HeaderCheck<'_>) -> Result<TensorMap, TensorError> {
    let len = bytes.len() as u64;
    let Some(&[a, b, c, d, e, f, g, h]) = bytes.get(..8) else {
        return Err(TensorError::Truncated { what: "safetensors header length", needed: 8, len });
    };
    let header_len = u64::from_le_bytes([a, b, c, d, e, f, g, h]);
    if header_len > MAX_HEADER_LEN {
        return Err(header_err(format!("length {header_len} exceeds the {MAX_HEADER_LEN}-byte limit")));
    }
    let header_end = 8 + header_len;
    if header_end > len {
        return Err(TensorError::Truncated { what: "safetensors header", needed: header_end, len });
    }
    let header_end = usize::try_from(header_end).unwrap_or(usize::MAX);
    let header = bytes.get(8..header_end).unwrap_or_default();
    let text = std::str::from_utf8(header)
        .map_err(|e| header_err(format!("not UTF-8 at byte {}", 8 + e.valid_up_to())))?;
    if !text.starts_with('{') {
        return Err(header_err("must be a JSON object starting with '{'"));
    }
    let Entries(raw_entries) =
        serde_json::from_str(text).map_err(|e| header_err(format!("invalid JSON: {e}")))?;
    let data = bytes.get(header_end..).unwrap_or_default();

    let mut entries: Vec<Entry> = Vec::with_capacity(raw_entries.len());
    let mut names = std::collections::BTreeSet::new();
    let mut seen_metadata = false;
    for (name, value) in raw_entries {
        if name == METADATA_KEY {
            let valid = matches!(&value, Value::Object(m) if m.values().all(Value::is_string));
            if !valid || seen_metadata {
                return Err(header_err("`__metadata__` must appear once, as an object of strings"));
            }
            seen_metadata = true;
            continue;
        }
        if !names.insert(name.clone()) {
            return Err(TensorError::DuplicateName { name });
        }
        let (dtype, shape, begin, end) = parse_entry(&value, data.len()).map_err(|e| e.in_tensor(&name))?;
        entries.push(Entry { name, dtype, shape, begin, end });
    }

    // The data must be exactly the tensors laid end to end: no overlaps (two tensors aliasing bytes) and no
    // gaps (bytes no tensor accounts for, which a signature would cover but no reader would see).
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries.get(i).map(|e| (e.begin, e.end)));
    let mut covered = 0usize;
    for &i in &order {
        let Some(e) = entries.get(i) else { continue };
        if e.begin != covered {
            let reason = if e.begin < covered {
                format!("overlap the tensor data before byte {covered}")
            } else {
                format!("leave bytes {covered}..{} of the data section unused", e.begin)
            };
            return Err(TensorError::BadOffsets { begin: e.begin as u64, end: e.end as u64, reason }
                .in_tensor(&e.name));
        }
        covered = e.end;
    }
    if covered != data.len() {
        return Err(header_err(format!(
            "the tensors cover {covered} bytes but the data section has {} (unused trailing bytes)",
            data.len()
        )));
    }

    for e in &entries {
        let data_bytes = Some((e.end - e.begin) as u64);
        check_header(check, &Declared { name: &e.name, dtype: e.dtype, shape: &e.shape, data_bytes })
            .map_err(|err| err.in_tensor(&e.name))?;
    }
    let mut out = TensorMap::new();
    for e in entries {
        let slice = data.get(e.begin..e.end).unwrap_or_default();
        let tensor_data =
            raw::decode(e.dtype, slice, Endian::Little).map_err(|err| err.in_tensor(&e.name))?;
        out.insert(e.name, Tensor { shape: e.shape, data: tensor_data });
    }
    Ok(out)
}

/// Keys sorted, data laid out in key order, header padded with spaces to a multiple of 8 (as the reference
/// writer does, so the data stays aligned).
pub(crate) fn write(tensors: &TensorMap) -> Result<Vec<u8>, TensorError> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, t)) in tensors.iter().enumerate() {
        if name == METADATA_KEY {
            return Err(TensorError::ReservedName { name: name.clone(), format: Format::Safetensors });
        }
        let unsupported = || {
            TensorError::UnsupportedForFormat { format: Format::Safetensors, dtype: t.dtype() }
                .in_tensor(name)
        };
        let dtype = dtype_name(t.dtype()).ok_or_else(unsupported)?;
        let bytes = raw::encode_le(&t.data).ok_or_else(unsupported)?;
        if i > 0 {
            header.push(',');
        }
        push_string(&mut header, name);
        let shape = t.shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let begin = data.len();
        data.extend_from_slice(&bytes);
        let _ = write!(
            header,
            ":{{\"dtype\":\"{dtype}\",\"shape\":[{shape}],\"data_offsets\":[{begin},{}]}}",
            data.len()
        );
    }
    header.push('}');
    header.push_str(&" ".repeat((8 - header.len() % 8) % 8));
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}
