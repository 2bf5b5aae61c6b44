//! Sequences, maps and optionals across the ONNX Runtime boundary: built from a request's [`Value`]s and
//! read back from a session's outputs. Tensors go through [`session`](crate::session)'s views; a
//! container must own its elements, so tensors inside one are copied.

use std::borrow::Cow;

use ferry_spec::{DType, TensorSpec};
use ferry_tensor::{MapValue, Tensor, TensorData, Value, ValueMap};
use ort::environment::Environment;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, DynValueTypeMarker, Map, Sequence, TensorElementType, ValueType};

use crate::RuntimeError;
use crate::session::{input_value, output_tensor};

fn inference(message: impl Into<String>) -> RuntimeError {
    RuntimeError::Inference { message: message.into() }
}

/// Runs one request of values on `session`: inputs in the contract's order (an empty optional is left
/// out, as ONNX Runtime reads a missing optional input), outputs read back whatever their kind.
pub(crate) fn run(
    session: &mut Session,
    env: &Environment,
    declared: &[TensorSpec],
    inputs: &ValueMap,
) -> Result<ValueMap, RuntimeError> {
    let mut feeds: Vec<(&str, &Value, DType)> = Vec::with_capacity(declared.len());
    for spec in declared {
        let name = &spec.name;
        let v = inputs.get(name).ok_or_else(|| inference(format!("input `{name}` vanished")))?;
        if let Some(v) = present(v) {
            feeds.push((name.as_str(), v, spec.dtype));
        }
    }
    // Containers are ONNX Runtime values over buffers this side owns, and an output may alias them
    // (SequenceInsert hands back the input sequence's tensors): they live until the outputs are copied.
    let mut owned_values: Vec<Option<DynValue>> = Vec::with_capacity(feeds.len());
    for (name, v, dtype) in &feeds {
        owned_values.push(match v {
            Value::Tensor(_) => None,
            Value::Sequence(items) if items.is_empty() => Some(empty_sequence(env, name, *dtype)?),
            other => Some(owned(name, other)?),
        });
    }
    let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(feeds.len());
    for ((name, v, _), held) in feeds.iter().zip(&owned_values) {
        let input = match (v, held) {
            (Value::Tensor(t), _) => input_value(t)?,
            (_, Some(held)) => SessionInputValue::from(held),
            (_, None) => return Err(inference(format!("input `{name}` was not built"))),
        };
        values.push((Cow::Borrowed(*name), input));
    }
    let outputs = session.run(values).map_err(|e| inference(e.to_string()))?;
    let mut out = ValueMap::new();
    for (name, value) in outputs.iter() {
        out.insert(name.to_owned(), output(name, &value, 0)?);
    }
    drop(outputs);
    drop(owned_values);
    Ok(out)
}

/// An empty sequence of `dtype` tensors. ONNX Runtime's C API builds a sequence from its elements (the
/// element type is the first one's), so it cannot make an empty one; ONNX Runtime itself can: a
/// one-node model of `SequenceEmpty` (built here, never part of a bundle) is run once and its output fed.
fn empty_sequence(env: &Environment, name: &str, dtype: DType) -> Result<DynValue, RuntimeError> {
    use ferry_onnx::encode::{ModelBuilder, ProtoWriter, sequence_value_info};
    let err = |e: ort::Error| inference(format!("input `{name}`: an empty sequence of {dtype}: {e}"));
    let mut attribute = ProtoWriter::new();
    // AttributeProto: name (1), i (3), type (20) = INT (2).
    attribute.string(1, "dtype").int64(3, i64::from(dtype.onnx_code())).varint(20, 2);
    let mut node = ProtoWriter::new();
    node.string(2, "empty").string(4, "SequenceEmpty").message(5, &attribute);
    let model =
        ModelBuilder::new(17).raw_output(sequence_value_info("empty", dtype, &[])).raw_node(node).build();
    let mut session = Session::builder(env).map_err(err)?.commit_from_memory(&model).map_err(err)?;
    let mut outputs = session.run(Vec::<(Cow<'_, str>, SessionInputValue<'_>)>::new()).map_err(err)?;
    outputs.remove("empty").ok_or_else(|| inference(format!("input `{name}`: SequenceEmpty gave no output")))
}

/// The value to feed: a present optional's content, `None` for an empty optional.
fn present(v: &Value) -> Option<&Value> {
    match v {
        Value::Optional(None) => None,
        Value::Optional(Some(inner)) => present(inner),
        other => Some(other),
    }
}

/// An owned ONNX Runtime value of a request value.
fn owned(name: &str, v: &Value) -> Result<DynValue, RuntimeError> {
    match v {
        Value::Tensor(t) => owned_tensor(name, t),
        Value::Sequence(items) => {
            if items.is_empty() {
                return Err(inference(format!(
                    "input `{name}`: an empty sequence inside a container cannot be given to ONNX Runtime"
                )));
            }
            let elements = items.iter().map(|x| owned(name, x)).collect::<Result<Vec<_>, _>>()?;
            Ok(Sequence::<DynValueTypeMarker>::new(elements)
                .map_err(|e| inference(e.to_string()))?
                .into_dyn())
        }
        Value::Map(m) => owned_map(name, m),
        Value::Optional(Some(inner)) => owned(name, inner),
        Value::Optional(None) => {
            Err(inference(format!("input `{name}`: an empty optional inside a container")))
        }
    }
}

fn owned_tensor(name: &str, t: &Tensor) -> Result<DynValue, RuntimeError> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
    let err = |e: ort::Error| inference(format!("input `{name}`: {e}"));
    macro_rules! own {
        ($v:expr) => {
            ort::value::Tensor::from_array((shape, $v.clone())).map_err(err)?.into_dyn()
        };
    }
    Ok(match &t.data {
        TensorData::F16(v) => own!(v),
        TensorData::F32(v) => own!(v),
        TensorData::F64(v) => own!(v),
        TensorData::I8(v) => own!(v),
        TensorData::I16(v) => own!(v),
        TensorData::I32(v) => own!(v),
        TensorData::I64(v) => own!(v),
        TensorData::U8(v) => own!(v),
        TensorData::U16(v) => own!(v),
        TensorData::U32(v) => own!(v),
        TensorData::U64(v) => own!(v),
        TensorData::Bool(v) => own!(v),
        TensorData::String(v) => {
            ort::value::Tensor::from_string_array((shape, v.as_slice())).map_err(err)?.into_dyn()
        }
        other => {
            return Err(inference(format!(
                "input `{name}`: {} tensors cannot sit inside a sequence or map",
                other.dtype()
            )));
        }
    })
}

/// A map of the key and value types ONNX Runtime's ML operators use: integer or string keys to float,
/// double, int64 or string values.
fn owned_map(name: &str, m: &MapValue) -> Result<DynValue, RuntimeError> {
    let err = |e: ort::Error| inference(format!("input `{name}`: {e}"));
    let n = m.len();
    macro_rules! kv {
        ($keys:expr, $values:expr) => {
            Map::new_kv(
                ort::value::Tensor::from_array((vec![n], $keys.clone())).map_err(err)?,
                ort::value::Tensor::from_array((vec![n], $values.clone())).map_err(err)?,
            )
            .map_err(err)?
            .into_dyn()
        };
    }
    macro_rules! string_keys {
        ($keys:expr, $values:expr) => {
            Map::new_kv(
                ort::value::Tensor::from_string_array((vec![n], $keys.as_slice())).map_err(err)?,
                ort::value::Tensor::from_array((vec![n], $values.clone())).map_err(err)?,
            )
            .map_err(err)?
            .into_dyn()
        };
    }
    Ok(match (m.keys(), m.values()) {
        (TensorData::I64(k), TensorData::F32(v)) => kv!(k, v),
        (TensorData::I64(k), TensorData::F64(v)) => kv!(k, v),
        (TensorData::I64(k), TensorData::I64(v)) => kv!(k, v),
        (TensorData::String(k), TensorData::F32(v)) => string_keys!(k, v),
        (TensorData::String(k), TensorData::F64(v)) => string_keys!(k, v),
        (TensorData::String(k), TensorData::I64(v)) => string_keys!(k, v),
        (k, v) => {
            return Err(inference(format!(
                "input `{name}`: a map of {} to {} is not one ONNX Runtime takes (int64 or string keys to \
                 float32, float64 or int64 values)",
                k.dtype(),
                v.dtype()
            )));
        }
    })
}

/// How deep a returned value may nest before Ferry stops reading it; ONNX's own types nest a few levels.
const MAX_OUTPUT_DEPTH: usize = ferry_spec::MAX_TYPE_DEPTH + 1;

/// Copies an ONNX Runtime output of any kind into a [`Value`].
fn output(name: &str, value: &DynValue, depth: usize) -> Result<Value, RuntimeError> {
    let out_err = |message: String| RuntimeError::Output { output: name.to_owned(), message };
    if depth > MAX_OUTPUT_DEPTH {
        return Err(out_err(format!("nests containers more than {MAX_OUTPUT_DEPTH} deep")));
    }
    match value.dtype() {
        ValueType::Tensor { .. } => Ok(Value::Tensor(output_tensor(name, value)?)),
        ValueType::Sequence(_) => {
            let items =
                value.try_extract_sequence::<DynValueTypeMarker>().map_err(|e| out_err(e.to_string()))?;
            let items = items.iter().map(|x| output(name, x, depth + 1)).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Sequence(items))
        }
        ValueType::Map { key, value: v } => {
            let (key, v) = (*key, *v);
            let map = read_map(value, key, v).map_err(out_err)?;
            Ok(Value::Map(map))
        }
        ValueType::Optional(_) => Err(out_err("is an optional ONNX Runtime did not unwrap".into())),
    }
}

fn read_map(value: &DynValue, key: TensorElementType, v: TensorElementType) -> Result<MapValue, String> {
    macro_rules! kv {
        ($k:ty, $v:ty, $kw:ident, $vw:ident) => {{
            let pairs = value.try_extract_key_values::<$k, $v>().map_err(|e| e.to_string())?;
            let (keys, values): (Vec<$k>, Vec<$v>) = pairs.into_iter().unzip();
            MapValue::new(TensorData::$kw(keys), TensorData::$vw(values)).map_err(|e| e.to_string())
        }};
    }
    use TensorElementType as E;
    match (key, v) {
        (E::Int64, E::Float32) => kv!(i64, f32, I64, F32),
        (E::Int64, E::Float64) => kv!(i64, f64, I64, F64),
        (E::Int64, E::Int64) => kv!(i64, i64, I64, I64),
        (E::String, E::Float32) => kv!(String, f32, String, F32),
        (E::String, E::Float64) => kv!(String, f64, String, F64),
        (E::String, E::Int64) => kv!(String, i64, String, I64),
        (k, v) => Err(format!("is a map of {k} to {v}, which Ferry does not read")),
    }
}
