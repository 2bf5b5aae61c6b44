//! The machine's NVIDIA GPUs and the CUDA libraries that ONNX Runtime's CUDA execution provider needs.
//!
//! Everything here is loaded at run time: a Ferry build needs no CUDA toolkit, and on a machine without
//! a GPU every function answers with a typed [`DeviceError`] (or an [`Inventory`] with no GPU), never a
//! panic. That takes care: [cudarc], which speaks to the driver, panics when no driver library loads and
//! when a symbol is missing, so [`inventory`] first loads the very file cudarc would load and checks that
//! it has every function discovery calls ([`DRIVER_SYMBOLS`]).
//!
//! ```no_run
//! match ferry_device::inventory(ferry_device::Detail::Full) {
//!     Ok(inv) if inv.gpus.is_empty() => println!("no GPU (driver {})", inv.driver.version),
//!     Ok(inv) => inv.gpus.iter().for_each(|g| println!("{}: {} ({})", g.ordinal, g.name, g.compute_capability)),
//!     Err(e) => println!("no GPU: {e}"),
//! }
//! ```

mod driver;
mod error;
mod libs;

pub use driver::{
    ComputeCapability, CudaVersion, DRIVER_SYMBOLS, Detail, DriverInfo, Gpu, Inventory, driver_candidates,
    inventory,
};
pub use error::DeviceError;
pub use libs::{
    CUDA_LIBRARIES, CUDA_LIBS_VAR, Component, CudaLibrary, LoadedLibrary, cuda_runtime_version, preload,
    python_library_dirs, site_packages,
};
