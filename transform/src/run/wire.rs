//! Tensors across the interface: the WIT `tensor` record to and from Ferry's [`Tensor`].

use super::bindings::{decide, prepare};
use ferry_tensor::{Tensor, TensorData, TensorMap};

/// `prepare`'s tensors as Ferry tensors, by name: each shape must hold its data exactly, and names must
/// be unique.
pub(crate) fn tensors_from_wire(
    wire: Vec<prepare::ferry::transform::types::Tensor>,
) -> Result<TensorMap, String> {
    use prepare::ferry::transform::types::Data;
    let mut out = TensorMap::new();
    for t in wire {
        let shape = t
            .shape
            .iter()
            .map(|&d| {
                usize::try_from(d).map_err(|_| format!("tensor {:?}: dimension {d} is too large", t.name))
            })
            .collect::<Result<Vec<usize>, String>>()?;
        let data = match t.data {
            Data::Float32(v) => TensorData::F32(v),
            Data::Float64(v) => TensorData::F64(v),
            Data::Int32(v) => TensorData::I32(v),
            Data::Int64(v) => TensorData::I64(v),
            Data::Uint8(v) => TensorData::U8(v),
            Data::Boolean(v) => TensorData::Bool(v),
            Data::Text(v) => TensorData::String(v),
        };
        let tensor = Tensor::new(shape, data).map_err(|e| format!("tensor {:?}: {e}", t.name))?;
        if out.insert(t.name.clone(), tensor).is_some() {
            return Err(format!("tensor {:?} is returned twice", t.name));
        }
    }
    Ok(out)
}

/// The model's outputs as `decide` takes them. Element types the interface has no case for are widened
/// where that is exact (float16, bfloat16 and float8 to float32; 4-, 8- and 16-bit integers to int32;
/// uint32 to int64); uint64 is refused.
pub(crate) fn tensors_to_wire(
    map: &TensorMap,
) -> Result<Vec<decide::ferry::transform::types::Tensor>, String> {
    use decide::ferry::transform::types::{Data, Tensor as Wire};
    let mut out = Vec::with_capacity(map.len());
    for (name, t) in map {
        let data = match &t.data {
            TensorData::F32(v) => Data::Float32(v.clone()),
            TensorData::F64(v) => Data::Float64(v.clone()),
            TensorData::I32(v) => Data::Int32(v.clone()),
            TensorData::I64(v) => Data::Int64(v.clone()),
            TensorData::U8(v) => Data::Uint8(v.clone()),
            TensorData::Bool(v) => Data::Boolean(v.clone()),
            TensorData::String(v) => Data::Text(v.clone()),
            TensorData::F16(v) => Data::Float32(v.iter().map(|x| x.to_f32()).collect()),
            TensorData::BF16(v) => Data::Float32(v.iter().map(|x| x.to_f32()).collect()),
            TensorData::F8E4M3FN(v) => Data::Float32(v.iter().map(|x| x.to_f32()).collect()),
            TensorData::F8E4M3FNUZ(v) => Data::Float32(v.iter().map(|x| x.to_f32()).collect()),
            TensorData::F8E5M2(v) => Data::Float32(v.iter().map(|x| x.to_f32()).collect()),
            TensorData::F8E5M2FNUZ(v) => Data::Float32(v.iter().map(|x| x.to_f32()).collect()),
            TensorData::I8(v) | TensorData::I4(v) => Data::Int32(v.iter().map(|&x| i32::from(x)).collect()),
            TensorData::I16(v) => Data::Int32(v.iter().map(|&x| i32::from(x)).collect()),
            TensorData::U16(v) => Data::Int32(v.iter().map(|&x| i32::from(x)).collect()),
            TensorData::U4(v) => Data::Int32(v.iter().map(|&x| i32::from(x)).collect()),
            TensorData::U32(v) => Data::Int64(v.iter().map(|&x| i64::from(x)).collect()),
            TensorData::U64(_) => {
                return Err(format!("output {name:?} is uint64, which the interface has no exact case for"));
            }
        };
        out.push(Wire { name: name.clone(), shape: t.shape.iter().map(|&d| d as u64).collect(), data });
    }
    Ok(out)
}
