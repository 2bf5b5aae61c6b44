//! Weights used in place, from the bundle's memory map: no copy of a large model's weights on open.
//!
//! ONNX Runtime takes an initializer as a value over memory the caller owns (`AddInitializer` with a
//! tensor from `CreateTensorWithDataAsOrtValue`, which it uses in place) and an external-data file as an
//! address and a length (`AddExternalInitializersFromMemory`). `ort` wraps both only for memory it owns
//! (an owned tensor, an `Arc<[u8]>`), which would mean a copy of every weight on every open. Here both
//! point into the bundle: [`MappedTensor`] keeps the bundle alive for as long as ONNX Runtime may read
//! the memory, and the session pool drops its sessions before the factory that holds them.
//!
//! This module and `raw_value` hold the crate's `unsafe` code. Each call checks what ONNX Runtime relies
//! on first: the bytes lie inside the bundle the value keeps alive, are aligned for the element type,
//! and are exactly as long as the shape takes; ONNX Runtime never writes to an initializer (the map is
//! read-only, so it could not).

#![allow(unsafe_code)]

use ferry_bundle::Bundle;
use ferry_spec::DType;
use ort::AsPointer as _;
use ort::session::builder::SessionBuilder;
use ort::sys::{ONNXTensorElementDataType as Ty, OrtStatusPtr, OrtValue};
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

/// An ONNX Runtime tensor over bytes of a bundle, which it keeps alive.
pub(crate) struct MappedTensor {
    value: NonNull<OrtValue>,
    _bundle: Arc<Bundle>,
}

// SAFETY: the value is created once, never mutated afterwards, and only read by ONNX Runtime, whose
// values are safe to read from several threads (sessions share initializers across threads by design);
// the memory it points to belongs to the `Arc<Bundle>` held beside it, which is `Send + Sync`.
unsafe impl Send for MappedTensor {}
// SAFETY: as above: shared references only ever read.
unsafe impl Sync for MappedTensor {}

impl Drop for MappedTensor {
    fn drop(&mut self) {
        // SAFETY: `value` came from `CreateTensorWithDataAsOrtValue` and is released exactly once, here.
        // The session pool drops every session that was given it before the factory that owns it.
        unsafe { (ort::api().ReleaseValue)(self.value.as_ptr()) };
    }
}

impl std::fmt::Debug for MappedTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MappedTensor")
    }
}

fn element_type(dtype: DType) -> Option<(Ty, usize)> {
    Some(match dtype {
        DType::Float32 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, 4),
        DType::Float64 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE, 8),
        DType::Float16 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, 2),
        DType::BFloat16 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, 2),
        DType::Int8 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, 1),
        DType::Int16 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16, 2),
        DType::Int32 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, 4),
        DType::Int64 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, 8),
        DType::Uint8 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, 1),
        DType::Uint16 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16, 2),
        DType::Uint32 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32, 4),
        DType::Uint64 => (Ty::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64, 8),
        // A bool byte other than 0 or 1 is undefined for ONNX Runtime's kernels: these are decoded
        // (and checked) instead, as are strings and sub-byte or float8 types.
        _ => return None,
    })
}

/// The message of a failed ONNX Runtime call, the status released; `None` on success.
fn failed(status: OrtStatusPtr) -> Option<String> {
    if status.0.is_null() {
        return None;
    }
    let api = ort::api();
    // SAFETY: a non-null status is a live `OrtStatus` owned by us; its message is a NUL-terminated string
    // that lives until the status is released, which happens after it is copied.
    let message = unsafe {
        let text = (api.GetErrorMessage)(status.0);
        let message = if text.is_null() {
            "unknown error".to_owned()
        } else {
            std::ffi::CStr::from_ptr(text).to_string_lossy().into_owned()
        };
        (api.ReleaseStatus)(status.0);
        message
    };
    Some(message)
}

/// A tensor over `bytes`, which must lie inside `bundle`'s data, or `None` when it cannot be used in
/// place (a dtype left to decoding, misaligned data, a length that is not the shape's, a big-endian host,
/// or ONNX Runtime declining): the caller decodes a copy instead.
pub(crate) fn tensor(
    bundle: &Arc<Bundle>,
    bytes: &[u8],
    dtype: DType,
    dims: &[usize],
) -> Option<MappedTensor> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let (ty, size) = element_type(dtype)?;
    let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
    if count.checked_mul(size)? != bytes.len()
        || bytes.is_empty()
        || !bytes.as_ptr().addr().is_multiple_of(size)
    {
        return None;
    }
    if !bundle.contains(bytes) {
        return None;
    }
    let shape: Vec<i64> = dims.iter().map(|&d| i64::try_from(d).ok()).collect::<Option<_>>()?;
    let info = ort::memory::MemoryInfo::new(
        ort::memory::AllocationDevice::CPU,
        0,
        ort::memory::AllocatorType::Device,
        ort::memory::MemoryType::Default,
    )
    .ok()?;
    let mut out: *mut OrtValue = std::ptr::null_mut();
    // SAFETY: `info` is a live CPU memory description; `bytes` is `count * size` bytes (checked above) of
    // the bundle's data, aligned for the element type, and stays valid and unmoved while the returned
    // `MappedTensor` holds the bundle. ONNX Runtime only reads initializers, so the `*mut` it asks for is
    // never written through. `shape` outlives the call; `out` receives a new value that we own.
    let status = unsafe {
        (ort::api().CreateTensorWithDataAsOrtValue)(
            info.ptr(),
            bytes.as_ptr().cast_mut().cast(),
            bytes.len(),
            shape.as_ptr(),
            shape.len(),
            ty,
            &mut out,
        )
    };
    if failed(status).is_some() {
        return None;
    }
    NonNull::new(out).map(|value| MappedTensor { value, _bundle: Arc::clone(bundle) })
}

/// Hands `tensor` to every session the builder creates as the initializer `name`, used in place.
pub(crate) fn add_initializer(
    builder: &mut SessionBuilder,
    name: &str,
    tensor: &MappedTensor,
) -> Result<(), String> {
    let name = CString::new(name)
        .map_err(|_| format!("initializer name `{}` holds a NUL byte", name.escape_debug()))?;
    // SAFETY: the builder's options pointer is live for the call; `name` is NUL-terminated and outlives
    // it; the value is live, and outlives every session made from these options (the session pool drops
    // its sessions before the factory holding the `MappedTensor`), as `AddInitializer` requires.
    let status =
        unsafe { (ort::api().AddInitializer)(builder.ptr_mut(), name.as_ptr(), tensor.value.as_ptr()) };
    failed(status).map_or(Ok(()), Err)
}

/// Registers the external-data file `name` as `bytes` of `bundle`, read in place: the bundle must
/// outlive every session the builder creates, which the session factory guarantees by holding it.
pub(crate) fn add_external_file(
    builder: &mut SessionBuilder,
    bundle: &Arc<Bundle>,
    name: &str,
    bytes: &[u8],
) -> Result<(), String> {
    if !bundle.contains(bytes) {
        return Err(format!("external data file `{}` is not in the bundle's data", name.escape_debug()));
    }
    let c_name = CString::new(name)
        .map_err(|_| format!("external data file `{}` holds a NUL byte", name.escape_debug()))?;
    #[cfg(not(windows))]
    let names = [c_name.as_ptr()];
    #[cfg(windows)]
    let wide: Vec<u16> = name.encode_utf16().chain(std::iter::once(0)).collect();
    #[cfg(windows)]
    let names = [wide.as_ptr()];
    let buffers = [bytes.as_ptr().cast_mut().cast::<std::ffi::c_char>()];
    let lengths = [bytes.len()];
    // SAFETY: the options pointer is live; the three arrays hold one entry each and outlive the call;
    // the name is NUL-terminated; the buffer is `bytes`, inside the bundle (checked), which stays mapped
    // while the session factory holds it, i.e. for as long as any session made here lives. ONNX Runtime
    // only reads external data.
    let status = unsafe {
        (ort::api().AddExternalInitializersFromMemory)(
            builder.ptr_mut(),
            names.as_ptr(),
            buffers.as_ptr(),
            lengths.as_ptr(),
            1,
        )
    };
    failed(status).map_or(Ok(()), Err)
}
