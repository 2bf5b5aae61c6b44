//! Device discovery through the CUDA driver API (cudarc), behind a check that the driver library loads
//! and has every function discovery calls.

// cudarc's driver functions that take a device handle are `unsafe`: the handle must come from
// `cuDeviceGet`, which each block below shows. Loading the driver library runs its initialisers.
#![allow(unsafe_code)]

use crate::DeviceError;
use cudarc::driver::{result, sys};
pub use ferry_spec::ComputeCapability;
use serde::Serialize;
use std::fmt;
use std::sync::OnceLock;

/// Every driver function discovery calls, through cudarc or directly. cudarc resolves a symbol on first
/// use and panics when it is missing, so each is looked up before cudarc is used at all.
pub const DRIVER_SYMBOLS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetName",
    "cuDeviceGetAttribute",
    "cuDeviceTotalMem_v2",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxSetCurrent",
    "cuMemGetInfo_v2",
];

/// A CUDA version as the driver reports it (`13000` is 13.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CudaVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl CudaVersion {
    /// From the driver's encoding, `1000 * major + 10 * minor`.
    pub fn from_encoded(v: i32) -> CudaVersion {
        let v = u32::try_from(v).unwrap_or(0);
        CudaVersion { major: v / 1000, minor: (v % 1000) / 10 }
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The CUDA driver in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverInfo {
    /// The name the driver library was loaded by (`libcuda.so.1`).
    pub library: String,
    /// The newest CUDA version it supports.
    pub version: CudaVersion,
}

/// One GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gpu {
    /// Its ordinal: `cuda:N`.
    pub ordinal: usize,
    /// Its name (`NVIDIA H200`).
    pub name: String,
    /// Its compute capability.
    pub compute_capability: ComputeCapability,
    /// Its memory, in bytes.
    pub total_memory: u64,
    /// Its free memory in bytes, when asked for ([`Detail::Full`]).
    pub free_memory: Option<u64>,
}

/// What [`inventory`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Names, compute capabilities and total memory: driver queries only.
    Basic,
    /// Also free memory, which needs a context on each device (a fraction of a second and some device
    /// memory while it lasts).
    Full,
}

/// The driver and the GPUs it sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The driver.
    pub driver: DriverInfo,
    /// Every GPU, by ordinal; empty when the driver sees none.
    pub gpus: Vec<Gpu>,
}

impl Inventory {
    /// The GPU `cuda:ordinal`.
    pub fn gpu(&self, ordinal: usize) -> Result<&Gpu, DeviceError> {
        if self.gpus.is_empty() {
            return Err(DeviceError::NoGpu { driver: self.driver.version.to_string() });
        }
        self.gpus.get(ordinal).ok_or(DeviceError::NoSuchDevice { ordinal, count: self.gpus.len() })
    }
}

/// The names the driver library is looked for by, in order: cudarc's own list, so that the file checked
/// here is the file cudarc then loads.
pub fn driver_candidates() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in ["cuda", "nvcuda"].iter().flat_map(|l| cudarc::get_lib_name_candidates(l)) {
        // cudarc's list repeats some names; trying one twice changes nothing.
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Loads the first candidate that loads and checks it has every one of `symbols`. Kept loaded for the
/// life of the process, so the file cudarc opens by the same name is this one.
fn preflight(candidates: &[String], symbols: &[&str]) -> Result<String, DeviceError> {
    let mut tried = Vec::new();
    for name in candidates {
        // SAFETY: loading a library runs its initialisers; the names are the driver's, searched the way
        // cudarc (and every CUDA program) searches them. A file that is not a loadable library fails here
        // with the loader's message rather than being run.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => {
                for symbol in symbols {
                    // SAFETY: the symbol is only looked up, never called through this type.
                    let found = unsafe { lib.get::<*const ()>(symbol.as_bytes()) }.is_ok();
                    if !found {
                        return Err(DeviceError::BrokenDriver {
                            library: name.clone(),
                            symbol: (*symbol).to_owned(),
                        });
                    }
                }
                // Never unloaded: cudarc keeps its own handle on the same file for the life of the process.
                std::mem::forget(lib);
                return Ok(name.clone());
            }
            Err(e) => tried.push((name.clone(), loader_message(&e))),
        }
    }
    Err(DeviceError::NoDriver { tried })
}

/// libloading's message without its own prefix.
pub(crate) fn loader_message(e: &libloading::Error) -> String {
    // libloading's own text is only "dlopen failed"; the loader's reason is its source.
    match std::error::Error::source(e) {
        Some(reason) => reason.to_string(),
        None => e.to_string(),
    }
}

fn driver_library() -> Result<String, DeviceError> {
    static DRIVER: OnceLock<Result<String, DeviceError>> = OnceLock::new();
    DRIVER.get_or_init(|| preflight(&driver_candidates(), DRIVER_SYMBOLS)).clone()
}

fn call(name: &'static str) -> impl Fn(result::DriverError) -> DeviceError {
    move |e| DeviceError::Driver { call: name, code: format!("{:?}", e.0) }
}

/// The driver and every GPU it sees. On a machine without a driver this is [`DeviceError::NoDriver`];
/// with a driver and no GPU, an inventory with no GPU.
pub fn inventory(detail: Detail) -> Result<Inventory, DeviceError> {
    let library = driver_library()?;
    let mut encoded = 0;
    // SAFETY: the symbol exists (preflight), and the pointer is to a live local.
    unsafe { sys::cuDriverGetVersion(&mut encoded) }.result().map_err(call("cuDriverGetVersion"))?;
    let driver = DriverInfo { library, version: CudaVersion::from_encoded(encoded) };
    match result::init() {
        Ok(()) => {}
        Err(e) if e.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => {
            return Ok(Inventory { driver, gpus: Vec::new() });
        }
        Err(e) => return Err(call("cuInit")(e)),
    }
    let count = result::device::get_count().map_err(call("cuDeviceGetCount"))?;
    let mut gpus = Vec::new();
    for ordinal in 0..usize::try_from(count).unwrap_or(0) {
        let index = i32::try_from(ordinal).unwrap_or(i32::MAX);
        let dev = result::device::get(index).map_err(call("cuDeviceGet"))?;
        let name = result::device::get_name(dev).map_err(call("cuDeviceGetName"))?;
        let attribute = |attr| {
            // SAFETY: `dev` comes from cuDeviceGet.
            unsafe { result::device::get_attribute(dev, attr) }
                .map(|v| u32::try_from(v).unwrap_or(0))
                .map_err(call("cuDeviceGetAttribute"))
        };
        let compute_capability = ComputeCapability {
            major: attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            minor: attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        };
        // SAFETY: `dev` comes from cuDeviceGet.
        let total = unsafe { result::device::total_mem(dev) }.map_err(call("cuDeviceTotalMem_v2"))?;
        let free_memory = match detail {
            Detail::Basic => None,
            Detail::Full => Some(free_memory(dev)?),
        };
        gpus.push(Gpu { ordinal, name, compute_capability, total_memory: total as u64, free_memory });
    }
    Ok(Inventory { driver, gpus })
}

/// Free memory needs a context: the device's primary context (the one ONNX Runtime also uses), retained
/// for the query and released after it.
fn free_memory(dev: sys::CUdevice) -> Result<u64, DeviceError> {
    // SAFETY: `dev` comes from cuDeviceGet; the context is released below whatever the query returns.
    let ctx = unsafe { result::primary_ctx::retain(dev) }.map_err(call("cuDevicePrimaryCtxRetain"))?;
    // SAFETY: `ctx` was just retained and is live until the release below.
    let info = unsafe { result::ctx::set_current(ctx) }
        .map_err(call("cuCtxSetCurrent"))
        .and_then(|()| result::mem_get_info().map_err(call("cuMemGetInfo_v2")));
    // SAFETY: unbinds the context from this thread before it is released; a null context is allowed.
    let _ = unsafe { result::ctx::set_current(std::ptr::null_mut()) };
    // SAFETY: balances the retain above.
    unsafe { result::primary_ctx::release(dev) }.map_err(call("cuDevicePrimaryCtxRelease_v2"))?;
    Ok(info?.0 as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_capabilities() {
        assert_eq!(CudaVersion::from_encoded(13000).to_string(), "13.0");
        assert_eq!(CudaVersion::from_encoded(12040).to_string(), "12.4");
        assert_eq!(CudaVersion::from_encoded(-1).to_string(), "0.0");
    }

    #[test]
    fn an_empty_file_named_like_the_driver_is_no_driver_with_the_loaders_reason() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libcuda.so.1");
        std::fs::write(&fake, b"").unwrap();
        let missing = dir.path().join("libcuda.so").display().to_string();
        let err = preflight(&[missing, fake.display().to_string()], DRIVER_SYMBOLS)
            .expect_err("an empty file is not a driver");
        let DeviceError::NoDriver { tried } = &err else { panic!("{err:?}") };
        assert_eq!(tried.len(), 2);
        let text = err.to_string();
        assert!(text.contains("libcuda.so.1") && text.contains("too short"), "{text}");
        assert!(text.starts_with("no CUDA driver: ") && text.contains("--device cpu"), "{text}");
    }

    #[test]
    fn a_library_without_the_driver_functions_is_a_broken_driver() {
        // libm loads everywhere and is no CUDA driver.
        let err = preflight(&["libm.so.6".to_owned()], DRIVER_SYMBOLS).expect_err("libm is not a driver");
        assert_eq!(err, DeviceError::BrokenDriver { library: "libm.so.6".into(), symbol: "cuInit".into() });
        assert!(preflight(&["libm.so.6".to_owned()], &["cos"]).is_ok());
    }
}
