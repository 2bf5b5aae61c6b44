//! Tensor descriptors from C: dtype codes, and the checks that come before any allocation.

use crate::error::Error;
use crate::ffi::str_arg;
use ferry::tensor::{DType, Tensor, TensorMap};
use std::ffi::{c_char, c_void};

/// The most dims a tensor descriptor may have.
pub const FERRY_MAX_RANK: usize = 32;

/// Element types, numbered as ONNX's `TensorProto.DataType`. Strings (8), complex numbers, float8 and
/// 4-bit types are not carried by this API and are refused with `FERRY_STATUS_INVALID_ARGUMENT`.
///
/// cbindgen:rename-all=prefix:FERRY_DTYPE_
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum FerryDType {
    /// 32-bit IEEE 754 float.
    FLOAT = 1,
    /// Unsigned 8-bit integer.
    UINT8 = 2,
    /// Signed 8-bit integer.
    INT8 = 3,
    /// Unsigned 16-bit integer.
    UINT16 = 4,
    /// Signed 16-bit integer.
    INT16 = 5,
    /// Signed 32-bit integer.
    INT32 = 6,
    /// Signed 64-bit integer.
    INT64 = 7,
    /// Boolean, one byte per element, 0 or 1.
    BOOL = 9,
    /// 16-bit IEEE 754 half-precision float.
    FLOAT16 = 10,
    /// 64-bit IEEE 754 float.
    DOUBLE = 11,
    /// Unsigned 32-bit integer.
    UINT32 = 12,
    /// Unsigned 64-bit integer.
    UINT64 = 13,
    /// bfloat16.
    BFLOAT16 = 16,
}

impl FerryDType {
    const ALL: [FerryDType; 13] = [
        FerryDType::FLOAT,
        FerryDType::UINT8,
        FerryDType::INT8,
        FerryDType::UINT16,
        FerryDType::INT16,
        FerryDType::INT32,
        FerryDType::INT64,
        FerryDType::BOOL,
        FerryDType::FLOAT16,
        FerryDType::DOUBLE,
        FerryDType::UINT32,
        FerryDType::UINT64,
        FerryDType::BFLOAT16,
    ];

    pub(crate) fn from_code(code: i32) -> Option<FerryDType> {
        FerryDType::ALL.into_iter().find(|d| *d as i32 == code)
    }

    pub(crate) fn dtype(self) -> DType {
        match self {
            FerryDType::FLOAT => DType::Float32,
            FerryDType::UINT8 => DType::Uint8,
            FerryDType::INT8 => DType::Int8,
            FerryDType::UINT16 => DType::Uint16,
            FerryDType::INT16 => DType::Int16,
            FerryDType::INT32 => DType::Int32,
            FerryDType::INT64 => DType::Int64,
            FerryDType::BOOL => DType::Bool,
            FerryDType::FLOAT16 => DType::Float16,
            FerryDType::DOUBLE => DType::Float64,
            FerryDType::UINT32 => DType::Uint32,
            FerryDType::UINT64 => DType::Uint64,
            FerryDType::BFLOAT16 => DType::BFloat16,
        }
    }

    pub(crate) fn of(dtype: DType) -> Option<FerryDType> {
        FerryDType::ALL.into_iter().find(|d| d.dtype() == dtype)
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            FerryDType::UINT8 | FerryDType::INT8 | FerryDType::BOOL => 1,
            FerryDType::UINT16 | FerryDType::INT16 | FerryDType::FLOAT16 | FerryDType::BFLOAT16 => 2,
            FerryDType::FLOAT | FerryDType::INT32 | FerryDType::UINT32 => 4,
            FerryDType::INT64 | FerryDType::DOUBLE | FerryDType::UINT64 => 8,
        }
    }
}

/// One input tensor, described by the caller; nothing in it is kept after the call returns.
///
/// The data is dense, row-major (C order), in the machine's native little-endian layout: `byte_len` must
/// be the product of the dims times the element size. The runtime takes owned tensors, so the bytes are
/// copied once into the library's memory; the caller's buffer is only read.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FerryTensorIn {
    /// The input's name, as the bundle declares it (UTF-8, NUL-terminated).
    pub name: *const c_char,
    /// A `FerryDType` code.
    pub dtype: i32,
    /// `rank` dims, each 0 or more; may be NULL when `rank` is 0 (a scalar).
    pub shape: *const i64,
    /// The number of dims, at most `FERRY_MAX_RANK`.
    pub rank: usize,
    /// The elements; may be NULL only when `byte_len` is 0.
    pub data: *const c_void,
    /// The size of `data` in bytes.
    pub byte_len: usize,
}

/// Checks every descriptor and copies the tensors into a request.
///
/// # Safety
///
/// `inputs` is NULL or points to `n` descriptors; each descriptor's `name` is a NUL-terminated string,
/// `shape` points to `rank` dims and `data` to `byte_len` readable bytes (each may be NULL as documented).
pub(crate) unsafe fn request(inputs: *const FerryTensorIn, n: usize) -> Result<TensorMap, Error> {
    if n == 0 {
        return Ok(TensorMap::new());
    }
    if inputs.is_null() {
        return Err(Error::invalid(format!("inputs is NULL but n_inputs is {n}")));
    }
    if n.checked_mul(size_of::<FerryTensorIn>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(Error::invalid(format!("n_inputs {n} is too large")));
    }
    // SAFETY: not NULL; the caller guarantees `n` descriptors, and their total size fits in isize.
    let descriptors = unsafe { std::slice::from_raw_parts(inputs, n) };
    let mut map = TensorMap::new();
    for (i, d) in descriptors.iter().enumerate() {
        // SAFETY: the caller guarantees each name is NULL or a NUL-terminated string.
        let name = unsafe { str_arg(d.name, &format!("inputs[{i}].name")) }?;
        if map.contains_key(name) {
            return Err(Error::invalid(format!("input `{name}` is given twice (inputs[{i}])")));
        }
        // SAFETY: the caller's guarantee for this descriptor.
        let tensor = unsafe { tensor(name, d) }?;
        map.insert(name.to_owned(), tensor);
    }
    Ok(map)
}

/// # Safety
///
/// As [`request`], for one descriptor.
unsafe fn tensor(name: &str, d: &FerryTensorIn) -> Result<Tensor, Error> {
    let dtype = FerryDType::from_code(d.dtype).ok_or_else(|| {
        Error::invalid(format!(
            "input `{name}`: dtype code {} is not one this API carries (FERRY_DTYPE_*; strings, complex, \
             float8 and 4-bit types are not)",
            d.dtype
        ))
    })?;
    if d.rank > FERRY_MAX_RANK {
        return Err(Error::invalid(format!(
            "input `{name}`: rank {} is above the maximum of {FERRY_MAX_RANK}",
            d.rank
        )));
    }
    let dims: &[i64] = if d.rank == 0 {
        &[]
    } else if d.shape.is_null() {
        return Err(Error::invalid(format!("input `{name}`: shape is NULL but rank is {}", d.rank)));
    } else {
        // SAFETY: not NULL, rank <= 32, and the caller guarantees `rank` readable dims.
        unsafe { std::slice::from_raw_parts(d.shape, d.rank) }
    };
    let mut shape = Vec::with_capacity(dims.len());
    let mut elements: usize = 1;
    for (axis, &dim) in dims.iter().enumerate() {
        let n = usize::try_from(dim).map_err(|_| {
            Error::invalid(format!("input `{name}`: dim {axis} is {dim}; dims must be 0 or more"))
        })?;
        elements = elements.checked_mul(n).ok_or_else(|| {
            Error::invalid(format!(
                "input `{name}`: shape {dims:?} has more elements than this machine can address"
            ))
        })?;
        shape.push(n);
    }
    let expected = elements
        .checked_mul(dtype.size())
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| Error::invalid(format!("input `{name}`: shape {dims:?} is too large to address")))?;
    if expected != d.byte_len {
        return Err(Error::invalid(format!(
            "input `{name}`: shape {dims:?} of {dtype:?} ({elements} elements of {} bytes) needs {expected} bytes, \
             byte_len is {}",
            dtype.size(),
            d.byte_len
        )));
    }
    let bytes: &[u8] = if d.byte_len == 0 {
        &[]
    } else if d.data.is_null() {
        return Err(Error::invalid(format!("input `{name}`: data is NULL but byte_len is {}", d.byte_len)));
    } else {
        // SAFETY: not NULL, byte_len <= isize::MAX (checked above), and the caller guarantees `byte_len`
        // readable bytes that stay unchanged during the call.
        unsafe { std::slice::from_raw_parts(d.data.cast::<u8>(), d.byte_len) }
    };
    let data = ferry::tensor::from_le_bytes(dtype.dtype(), bytes)
        .map_err(|e| Error::invalid(format!("input `{name}`: {e}")))?;
    Tensor::new(shape, data).map_err(|e| Error::invalid(format!("input `{name}`: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const BUFFER: usize = 4096;

    fn expected_len(code: i32, dims: &[i64]) -> Option<usize> {
        let dtype = FerryDType::from_code(code)?;
        let mut n: usize = 1;
        for &d in dims {
            n = n.checked_mul(usize::try_from(d).ok()?)?;
        }
        n.checked_mul(dtype.size()).filter(|&b| b <= isize::MAX as usize)
    }

    proptest! {
        /// Whatever a caller puts in a descriptor, the check never panics, never reads past `byte_len`
        /// (the buffer is exactly 4 KiB), and accepts exactly the descriptors whose dtype is carried,
        /// rank at most 32, dims non-negative, and byte length the product of the dims times the element
        /// size.
        #[test]
        fn descriptors_are_accepted_exactly_when_consistent(
            code in -2i32..20,
            dims in proptest::collection::vec(prop_oneof![-3i64..5, 0i64..1 << 40, Just(i64::MAX)], 0..40),
            claim in prop_oneof![Just(None), (0usize..=BUFFER).prop_map(Some)],
        ) {
            let data = vec![0u8; BUFFER];
            let expected = expected_len(code, &dims);
            // Claim the consistent length when it fits the buffer, else an arbitrary one within it.
            let byte_len = match (claim, expected) {
                (None, Some(e)) if e <= BUFFER => e,
                (Some(c), _) => c,
                _ => 0,
            };
            let d = FerryTensorIn {
                name: c"x".as_ptr(),
                dtype: code,
                shape: dims.as_ptr(),
                rank: dims.len(),
                data: data.as_ptr().cast(),
                byte_len,
            };
            // SAFETY: one descriptor; its name is a C string, `shape` holds `rank` dims and `data`
            // BUFFER readable bytes, at least `byte_len`.
            let result = unsafe { request(&d, 1) };
            let consistent = dims.len() <= FERRY_MAX_RANK && expected == Some(byte_len);
            prop_assert_eq!(result.is_ok(), consistent, "{:?}", result.err().map(|e| e.message));
            if let Ok(map) = result {
                let t = &map["x"];
                prop_assert_eq!(t.shape.len(), dims.len());
                prop_assert_eq!(ferry::tensor::to_le_bytes(&t.data).map(|b| b.len()), Some(byte_len));
            }
        }
    }
}
