//! A run's outputs, owned by the library and read by C through borrowed views.

use crate::error::{Error, FerryStatus, guard, status};
use crate::ffi::{str_arg, write_out};
use crate::tensor::FerryDType;
use ferry::tensor::TensorMap;
use std::ffi::{CString, c_char, c_void};

/// The outputs of one `ferry_model_infer` call, in name order; owned by the library until
/// `ferry_outputs_free`. Read-only, so it may be read from several threads at once.
#[derive(Debug)]
pub struct FerryOutputs {
    items: Vec<Output>,
}

#[derive(Debug)]
struct Output {
    name: CString,
    dtype: FerryDType,
    shape: Vec<i64>,
    data: Vec<u8>,
}

/// A view of one output tensor. Every pointer borrows from the `FerryOutputs` it was read from and stays
/// valid until that is freed. The data is dense, row-major, native little-endian.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FerryTensorOut {
    /// The output's name (UTF-8, NUL-terminated).
    pub name: *const c_char,
    /// A `FerryDType` code.
    pub dtype: i32,
    /// `rank` dims.
    pub shape: *const i64,
    /// The number of dims.
    pub rank: usize,
    /// `byte_len` bytes of elements (not NULL, even when `byte_len` is 0).
    pub data: *const c_void,
    /// The size of `data` in bytes.
    pub byte_len: usize,
}

impl FerryOutputs {
    pub(crate) fn new(outputs: TensorMap) -> Result<FerryOutputs, Error> {
        let mut items = Vec::with_capacity(outputs.len());
        for (name, t) in outputs {
            let dtype = FerryDType::of(t.data.dtype()).ok_or_else(|| {
                Error::new(
                    FerryStatus::Other,
                    format!("output `{name}` is {}, a type this API does not carry", t.data.dtype()),
                )
            })?;
            let data = ferry::tensor::to_le_bytes(&t.data).ok_or_else(|| {
                Error::new(FerryStatus::Other, format!("output `{name}` has no raw byte encoding"))
            })?;
            let shape =
                t.shape.iter().map(|&d| i64::try_from(d)).collect::<Result<Vec<i64>, _>>().map_err(|_| {
                    Error::new(FerryStatus::Other, format!("output `{name}`: a dim exceeds int64"))
                })?;
            let name = CString::new(name)
                .map_err(|_| Error::new(FerryStatus::Other, "an output name holds a NUL byte"))?;
            items.push(Output { name, dtype, shape, data });
        }
        Ok(FerryOutputs { items })
    }
}

impl Output {
    fn view(&self) -> FerryTensorOut {
        FerryTensorOut {
            name: self.name.as_ptr(),
            dtype: self.dtype as i32,
            shape: self.shape.as_ptr(),
            rank: self.shape.len(),
            data: self.data.as_ptr().cast(),
            byte_len: self.data.len(),
        }
    }
}

/// # Safety
///
/// `outputs` is NULL or a live `FerryOutputs` from this library.
unsafe fn outputs_ref<'a>(outputs: *const FerryOutputs) -> Result<&'a FerryOutputs, Error> {
    // SAFETY: the caller guarantees NULL or a pointer from `Box::into_raw` not yet freed.
    unsafe { outputs.as_ref() }.ok_or_else(|| Error::invalid("outputs is NULL"))
}

/// The number of output tensors; 0 (and `FERRY_STATUS_INVALID_ARGUMENT` as the last error) when
/// `outputs` is NULL.
///
/// # Safety
///
/// `outputs` is NULL or a live `FerryOutputs` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_outputs_count(outputs: *const FerryOutputs) -> usize {
    guard(0, || {
        // SAFETY: the caller's guarantee.
        let o = unsafe { outputs_ref(outputs) }?;
        Ok(o.items.len())
    })
}

/// Fills `*out` with a view of output `index` (outputs are in name order).
///
/// # Safety
///
/// `outputs` is NULL or a live `FerryOutputs`; `out` is NULL or valid for writing one `FerryTensorOut`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_outputs_get(
    outputs: *const FerryOutputs,
    index: usize,
    out: *mut FerryTensorOut,
) -> i32 {
    status(|| {
        // SAFETY: the caller's guarantee.
        let o = unsafe { outputs_ref(outputs) }?;
        let item = o.items.get(index).ok_or_else(|| {
            Error::invalid(format!("output index {index} is out of range (there are {})", o.items.len()))
        })?;
        // SAFETY: the caller guarantees `out` is NULL or writable.
        unsafe { write_out(out, item.view(), "out") }?;
        Ok(FerryStatus::Ok)
    })
}

/// Fills `*out` with a view of the output called `name`; `FERRY_STATUS_INVALID_ARGUMENT` when there is
/// none.
///
/// # Safety
///
/// `outputs` is NULL or a live `FerryOutputs`; `name` is NULL or a NUL-terminated string; `out` is NULL
/// or valid for writing one `FerryTensorOut`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_outputs_find(
    outputs: *const FerryOutputs,
    name: *const c_char,
    out: *mut FerryTensorOut,
) -> i32 {
    status(|| {
        // SAFETY: the caller's guarantee.
        let o = unsafe { outputs_ref(outputs) }?;
        // SAFETY: the caller's guarantee.
        let name = unsafe { str_arg(name, "name") }?;
        let item = o.items.iter().find(|i| i.name.as_bytes() == name.as_bytes()).ok_or_else(|| {
            let names: Vec<_> = o.items.iter().map(|i| i.name.to_string_lossy()).collect();
            Error::invalid(format!("no output `{name}` (outputs: {})", names.join(", ")))
        })?;
        // SAFETY: the caller guarantees `out` is NULL or writable.
        unsafe { write_out(out, item.view(), "out") }?;
        Ok(FerryStatus::Ok)
    })
}

/// Frees outputs and every view read from them. NULL is ignored.
///
/// # Safety
///
/// `outputs` is NULL or a `FerryOutputs` from this library, not yet freed and not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_outputs_free(outputs: *mut FerryOutputs) {
    if outputs.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees a pointer from `Box::into_raw` in this library, freed once.
        drop(unsafe { Box::from_raw(outputs) });
    }));
}
