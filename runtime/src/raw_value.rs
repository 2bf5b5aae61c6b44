//! Tensors of the element types `ort` has no safe typed API for: float8 (E4M3FN, E4M3FNUZ, E5M2,
//! E5M2FNUZ) and int4/uint4. `ort`'s `PrimitiveTensorElementType` is sealed, so these go through an
//! untyped `DynTensor` and its raw buffer, in ONNX's layout: one byte per float8, int4/uint4 packed two
//! per byte with the first element in the low nibble.
//!
//! This is the only module of the crate with `unsafe` code: one copy into a buffer ONNX Runtime
//! allocated, one read of an output's buffer. Both check first that the memory is CPU-accessible and that
//! its size is exactly what the element type and shape take.

#![allow(unsafe_code)]

use ferry_spec::DType;
use ferry_tensor::{
    Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Tensor, TensorData, int4, numel,
};
use ort::memory::Allocator;
use ort::value::{DynTensor, DynTensorValueType, DynValue, TensorElementType};

/// The ONNX Runtime element type and ONNX-layout bytes of a float8 or int4/uint4 tensor; `None` for the
/// dtypes `ort` handles itself.
fn onnx_bytes(data: &TensorData) -> Option<(TensorElementType, Vec<u8>)> {
    Some(match data {
        TensorData::F8E4M3FN(v) => (TensorElementType::Float8E4M3FN, v.iter().map(|x| x.to_bits()).collect()),
        TensorData::F8E4M3FNUZ(v) => {
            (TensorElementType::Float8E4M3FNUZ, v.iter().map(|x| x.to_bits()).collect())
        }
        TensorData::F8E5M2(v) => (TensorElementType::Float8E5M2, v.iter().map(|x| x.to_bits()).collect()),
        TensorData::F8E5M2FNUZ(v) => {
            (TensorElementType::Float8E5M2FNUZ, v.iter().map(|x| x.to_bits()).collect())
        }
        TensorData::I4(v) => (TensorElementType::Int4, int4::pack_i4(v)),
        TensorData::U4(v) => (TensorElementType::Uint4, int4::pack_u4(v)),
        _ => return None,
    })
}

/// The Ferry dtype of an ONNX Runtime element type this module handles.
fn dtype_of(ty: TensorElementType) -> Option<DType> {
    Some(match ty {
        TensorElementType::Float8E4M3FN => DType::Float8E4M3FN,
        TensorElementType::Float8E4M3FNUZ => DType::Float8E4M3FNUZ,
        TensorElementType::Float8E5M2 => DType::Float8E5M2,
        TensorElementType::Float8E5M2FNUZ => DType::Float8E5M2FNUZ,
        TensorElementType::Int4 => DType::Int4,
        TensorElementType::Uint4 => DType::Uint4,
        _ => return None,
    })
}

/// An ONNX Runtime tensor (CPU memory, owned) holding a copy of `t`'s elements, for float8 and
/// int4/uint4; `Ok(None)` for every other dtype.
pub(crate) fn input(t: &Tensor) -> Result<Option<DynTensor>, String> {
    let Some((ty, bytes)) = onnx_bytes(&t.data) else { return Ok(None) };
    // Packing keeps four bits of each entry: an int4 entry out of range would silently change value.
    t.data.check_range().map_err(|e| e.to_string())?;
    let shape: Vec<i64> = t.shape.iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
    let mut value = DynTensor::new(&Allocator::default(), ty, shape).map_err(|e| e.to_string())?;
    if !value.memory_info().is_cpu_accessible() {
        return Err(format!("ONNX Runtime allocated the {ty} tensor outside CPU memory"));
    }
    let size = value.size().ok_or_else(|| format!("ONNX Runtime gives no size for a {ty} tensor"))?;
    if size != bytes.len() {
        return Err(format!(
            "ONNX Runtime allocated {size} bytes for {} {ty} elements, which take {}",
            t.data.len(),
            bytes.len()
        ));
    }
    if size > 0 {
        let ptr = value.data_ptr_mut().cast::<u8>();
        if ptr.is_null() {
            return Err(format!("ONNX Runtime gave a {size}-byte {ty} tensor no buffer"));
        }
        // SAFETY: `ptr` is the start of the buffer ONNX Runtime allocated for `value`, in CPU-accessible
        // memory (checked above), `size` bytes long (GetTensorSizeInBytes, checked equal to
        // `bytes.len()`), so writing `size` bytes stays inside it. `value` is owned here and not yet shared
        // with ONNX Runtime or anyone else, so nothing reads or writes the buffer meanwhile; `bytes` is a
        // separate allocation, so the ranges do not overlap. Every bit pattern is a valid u8.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, size) };
    }
    Ok(Some(value))
}

/// Copies an ONNX Runtime output of a float8 or int4/uint4 element type into Ferry's form; `None` for
/// every other element type.
pub(crate) fn output(
    value: &DynValue,
    ty: TensorElementType,
) -> Option<Result<(Vec<usize>, TensorData), String>> {
    let dtype = dtype_of(ty)?;
    Some(read(value, ty, dtype))
}

fn read(value: &DynValue, ty: TensorElementType, dtype: DType) -> Result<(Vec<usize>, TensorData), String> {
    let tensor = value.view().downcast::<DynTensorValueType>().map_err(|e| e.to_string())?;
    let shape = tensor
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Vec<usize>, String>>()?;
    let n = numel(&shape).ok_or_else(|| format!("shape {shape:?} overflows"))?;
    let expected = dtype.byte_len(n).ok_or_else(|| format!("shape {shape:?} of {ty} overflows"))?;
    if !tensor.memory_info().is_cpu_accessible() {
        return Err(format!("the {ty} output is not in CPU memory"));
    }
    let size = tensor.size().ok_or_else(|| format!("ONNX Runtime gives no size for a {ty} tensor"))?;
    if size != expected {
        return Err(format!(
            "ONNX Runtime reports {size} bytes for shape {shape:?} of {ty}, which takes {expected}"
        ));
    }
    let bytes = if size == 0 {
        Vec::new()
    } else {
        let ptr = tensor.data_ptr().cast::<u8>();
        if ptr.is_null() {
            return Err(format!("ONNX Runtime gave a {size}-byte {ty} output no buffer"));
        }
        // SAFETY: `ptr` is the start of the output's buffer, in CPU-accessible memory (checked above) and
        // `size` bytes long (GetTensorSizeInBytes, checked equal to what the shape takes). `tensor`
        // borrows `value`, which owns the buffer, for the whole read, and ONNX Runtime no longer writes
        // to an output once `run` has returned it. The bytes are copied out before the borrow ends, and
        // every bit pattern is a valid u8.
        unsafe { std::slice::from_raw_parts(ptr, size) }.to_vec()
    };
    let data = match dtype {
        DType::Float8E4M3FN => TensorData::F8E4M3FN(bytes.into_iter().map(Float8E4M3FN::from_bits).collect()),
        DType::Float8E4M3FNUZ => {
            TensorData::F8E4M3FNUZ(bytes.into_iter().map(Float8E4M3FNUZ::from_bits).collect())
        }
        DType::Float8E5M2 => TensorData::F8E5M2(bytes.into_iter().map(Float8E5M2::from_bits).collect()),
        DType::Float8E5M2FNUZ => {
            TensorData::F8E5M2FNUZ(bytes.into_iter().map(Float8E5M2FNUZ::from_bits).collect())
        }
        DType::Int4 => TensorData::I4(int4::unpack_i4(&bytes, n).ok_or("int4 bytes do not match the shape")?),
        _ => TensorData::U4(int4::unpack_u4(&bytes, n).ok_or("uint4 bytes do not match the shape")?),
    };
    Ok((shape, data))
}
