//! Where models run: the device policy (`cpu`, `cuda:N`, `auto`) turned into a device, with everything a
//! GPU needs checked before the first session asks for it.
//!
//! For `cuda:N`, in order: the driver and the GPU ([`ferry_device::inventory`]), the driver's CUDA
//! version, the GPU build of ONNX Runtime (pinned like the CPU build), its CUDA provider libraries
//! (pinned), and the CUDA libraries they link ([`ferry_device::preload`]). The first that is missing is
//! the error, naming it. `auto` takes the same steps for `cuda:0` and, where one fails, runs on the CPU
//! and keeps the reason ([`DeviceInUse::fallback`]).

use crate::ort_lib::{self, OrtBuild, OrtState};
use crate::{RuntimeError, RuntimeOptions};
use ferry_cache::VerifiedDigests;
pub use ferry_device::{ComputeCapability, CudaVersion};
use ferry_spec::DevicesSection;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a model runs, as asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Device {
    /// The CPU execution provider.
    #[default]
    Cpu,
    /// An NVIDIA GPU through ONNX Runtime's CUDA execution provider.
    Cuda {
        /// CUDA device ordinal.
        device_id: i32,
    },
    /// The first GPU when everything it needs is there, else the CPU.
    Auto,
}

impl Device {
    /// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
    pub fn parse(text: &str) -> Option<Device> {
        match text {
            "cpu" => Some(Device::Cpu),
            "auto" => Some(Device::Auto),
            "cuda" => Some(Device::Cuda { device_id: 0 }),
            _ => text
                .strip_prefix("cuda:")
                .filter(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse().ok())
                .map(|device_id| Device::Cuda { device_id }),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda { device_id } => write!(f, "cuda:{device_id}"),
            Device::Auto => f.write_str("auto"),
        }
    }
}

/// The GPU a runtime's models run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInUse {
    /// Its ordinal.
    pub ordinal: usize,
    /// Its name (`NVIDIA H200`).
    pub name: String,
    /// Its compute capability.
    pub compute_capability: ComputeCapability,
    /// The driver's CUDA version.
    pub driver: CudaVersion,
    /// The CUDA runtime's version, when it could be read.
    pub cuda_runtime: Option<CudaVersion>,
}

/// Where a runtime's models run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInUse {
    /// What was asked for.
    pub requested: Device,
    /// The GPU, or `None` for the CPU.
    pub gpu: Option<GpuInUse>,
    /// For `auto` on the CPU: why no GPU was used.
    pub fallback: Option<String>,
}

impl DeviceInUse {
    /// `cpu` or `cuda:N`: the device kind and ordinal, what reports and tolerance tables key on.
    pub fn id(&self) -> String {
        match &self.gpu {
            Some(g) => format!("cuda:{}", g.ordinal),
            None => "cpu".into(),
        }
    }

    /// `cpu` or `cuda`: the key of a golden set's per-device tolerances (`[golden.tolerance.cuda]`).
    pub fn kind(&self) -> &'static str {
        if self.gpu.is_some() { "cuda" } else { "cpu" }
    }

    /// For people: `cuda:0 (NVIDIA H200, compute capability 9.0)` or `cpu`.
    pub fn describe(&self) -> String {
        match &self.gpu {
            Some(g) => {
                format!("cuda:{} ({}, compute capability {})", g.ordinal, g.name, g.compute_capability)
            }
            None => "cpu".into(),
        }
    }

    pub(crate) fn cuda_ordinal(&self) -> Option<i32> {
        self.gpu.as_ref().map(|g| i32::try_from(g.ordinal).unwrap_or(i32::MAX))
    }
}

/// At most this many sessions per model on a GPU, unless [`RuntimeOptions::max_sessions`] says otherwise.
pub const MAX_GPU_SESSIONS: usize = 4;

/// The oldest CUDA the pinned GPU build runs on (it is built with CUDA 13.0).
pub const MIN_DRIVER_CUDA: CudaVersion = CudaVersion { major: 13, minor: 0 };

/// Loads ONNX Runtime for the device asked for, and says where models will run.
pub(crate) fn place(
    options: &RuntimeOptions,
    digests: Option<&VerifiedDigests>,
) -> Result<(Arc<OrtState>, DeviceInUse), RuntimeError> {
    let explicit = options.library_path.as_deref();
    let cpu = |fallback| DeviceInUse { requested: options.device, gpu: None, fallback };
    match options.device {
        Device::Cpu => {
            Ok((ort_lib::ensure_loaded(explicit, &options.python_prefixes, digests, false)?, cpu(None)))
        }
        Device::Cuda { device_id } => {
            let ordinal = usize::try_from(device_id).map_err(|_| RuntimeError::Device {
                device: options.device.to_string(),
                reason: "a CUDA device ordinal is 0 or more".into(),
            })?;
            let (ort, gpu) = cuda(ordinal, options, digests)?;
            Ok((ort, DeviceInUse { requested: options.device, gpu: Some(gpu), fallback: None }))
        }
        Device::Auto => match cuda(0, options, digests) {
            Ok((ort, gpu)) => {
                Ok((ort, DeviceInUse { requested: options.device, gpu: Some(gpu), fallback: None }))
            }
            Err(e) => {
                let mut reason = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    reason = format!("{reason}: {s}");
                    source = s.source();
                }
                Ok((
                    ort_lib::ensure_loaded(explicit, &options.python_prefixes, digests, false)?,
                    cpu(Some(reason)),
                ))
            }
        },
    }
}

fn cuda(
    ordinal: usize,
    options: &RuntimeOptions,
    digests: Option<&VerifiedDigests>,
) -> Result<(Arc<OrtState>, GpuInUse), RuntimeError> {
    let device = format!("cuda:{ordinal}");
    let gpu_err = |source| RuntimeError::Gpu { device: device.clone(), source };
    let inventory = ferry_device::inventory(ferry_device::Detail::Basic).map_err(gpu_err)?;
    let gpu = inventory.gpu(ordinal).map_err(gpu_err)?.clone();
    if inventory.driver.version < MIN_DRIVER_CUDA {
        return Err(gpu_err(ferry_device::DeviceError::DriverTooOld {
            driver: inventory.driver.version.to_string(),
            required: MIN_DRIVER_CUDA.to_string(),
        }));
    }
    let ort =
        ort_lib::ensure_loaded(options.library_path.as_deref(), &options.python_prefixes, digests, true)?;
    if ort.library.build == OrtBuild::Cpu {
        return Err(RuntimeError::Device {
            device,
            reason: format!(
                "the ONNX Runtime loaded (`{}`) is the CPU build; install the GPU build with \
                 `scripts/fetch-onnxruntime --gpu` (or put it in lib/gpu/ beside the ferry executable)",
                ort.library.path.display()
            ),
        });
    }
    ort_lib::check_cuda_providers(&ort.library, digests)?;
    ferry_device::preload(&cuda_library_dirs(options, &ort.library.path)).map_err(gpu_err)?;
    let used = GpuInUse {
        ordinal,
        name: gpu.name,
        compute_capability: gpu.compute_capability,
        driver: inventory.driver.version,
        cuda_runtime: ferry_device::cuda_runtime_version(),
    };
    Ok((ort, used))
}

/// Where one bundle's model runs: the runtime's device, unless the bundle's `[devices]` rules it out. A
/// runtime placed by `auto` then runs the model on the CPU when the bundle allows it, keeping the reason;
/// a device asked for by name is refused.
pub(crate) fn for_bundle(
    runtime: &Arc<DeviceInUse>,
    declared: Option<&DevicesSection>,
) -> Result<Arc<DeviceInUse>, RuntimeError> {
    let Some(declared) = declared else { return Ok(Arc::clone(runtime)) };
    let listed = || declared.supported.as_deref().unwrap_or_default().join(", ");
    let refuse = |reason: String| RuntimeError::DeviceNotSupported { device: runtime.id(), reason };
    match &runtime.gpu {
        Some(gpu) => {
            let why = if !declared.supports("cuda") {
                Some(format!("the bundle supports only {} ([devices] supported)", listed()))
            } else {
                declared.min_compute_capability().filter(|min| gpu.compute_capability < *min).map(|min| {
                    format!(
                        "the bundle needs a GPU of compute capability {min} or newer ([devices] \
                         min_compute_capability), and {} is {}",
                        gpu.name, gpu.compute_capability
                    )
                })
            };
            match why {
                None => Ok(Arc::clone(runtime)),
                Some(why) if runtime.requested == Device::Auto && declared.supports("cpu") => {
                    Ok(Arc::new(DeviceInUse { requested: Device::Auto, gpu: None, fallback: Some(why) }))
                }
                Some(why) => Err(refuse(why)),
            }
        }
        None if declared.supports("cpu") => Ok(Arc::clone(runtime)),
        None => {
            let mut why = format!(
                "the bundle supports only {} ([devices] supported); run it with --device cuda",
                listed()
            );
            if let Some(fallback) = &runtime.fallback {
                why.push_str(&format!(" (no GPU here: {fallback})"));
            }
            Err(refuse(why))
        }
    }
}

/// Where the CUDA libraries are looked for, in order.
fn cuda_library_dirs(options: &RuntimeOptions, library: &std::path::Path) -> Vec<PathBuf> {
    let mut dirs = options.cuda_library_dirs.clone();
    if let Some(list) = std::env::var_os(ferry_device::CUDA_LIBS_VAR) {
        dirs.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
    }
    if let Some(dir) = library.parent() {
        dirs.push(dir.join("cuda"));
    }
    dirs.extend(ferry_device::python_library_dirs(&ort_lib::Places::python_prefixes_from_env()));
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_parsing() {
        assert_eq!(Device::parse("cpu"), Some(Device::Cpu));
        assert_eq!(Device::parse("cuda"), Some(Device::Cuda { device_id: 0 }));
        assert_eq!(Device::parse("cuda:1"), Some(Device::Cuda { device_id: 1 }));
        assert_eq!(Device::parse("auto"), Some(Device::Auto));
        for bad in ["tpu", "cuda:", "cuda:-1", "cuda:+1", "cuda:99999", "CUDA", "cuda:1 "] {
            assert_eq!(Device::parse(bad), None, "{bad}");
        }
        assert_eq!(Device::Cuda { device_id: 3 }.to_string(), "cuda:3");
    }

    fn gpu(requested: Device, cc: &str) -> Arc<DeviceInUse> {
        Arc::new(DeviceInUse {
            requested,
            gpu: Some(GpuInUse {
                ordinal: 0,
                name: "NVIDIA T4".into(),
                compute_capability: ComputeCapability::parse(cc).unwrap(),
                driver: CudaVersion { major: 13, minor: 0 },
                cuda_runtime: None,
            }),
            fallback: None,
        })
    }

    fn declared(supported: &[&str], min: Option<&str>) -> DevicesSection {
        DevicesSection {
            supported: Some(supported.iter().map(|s| (*s).to_owned()).collect()),
            min_compute_capability: min.map(str::to_owned),
        }
    }

    #[test]
    fn a_bundles_devices_place_its_model_or_refuse_it() {
        let cpu = Arc::new(DeviceInUse { requested: Device::Cpu, gpu: None, fallback: None });
        // No declaration: the runtime's device.
        assert_eq!(for_bundle(&cpu, None).unwrap().id(), "cpu");
        // A GPU-only bundle on the CPU is refused, saying how to run it.
        let e = for_bundle(&cpu, Some(&declared(&["cuda"], None))).unwrap_err();
        assert!(
            e.to_string().contains("supports only cuda") && e.to_string().contains("--device cuda"),
            "{e}"
        );
        // A GPU older than the bundle needs: refused when asked for by name ...
        let t4 = gpu(Device::Cuda { device_id: 0 }, "7.5");
        let e = for_bundle(&t4, Some(&declared(&["cpu", "cuda"], Some("8.0")))).unwrap_err();
        assert!(matches!(e, RuntimeError::DeviceNotSupported { .. }), "{e:?}");
        assert!(
            e.to_string().contains("compute capability 8.0 or newer") && e.to_string().contains("is 7.5"),
            "{e}"
        );
        // ... on the CPU, with the reason, under auto.
        let auto =
            for_bundle(&gpu(Device::Auto, "7.5"), Some(&declared(&["cpu", "cuda"], Some("8.0")))).unwrap();
        assert_eq!(auto.id(), "cpu");
        assert!(auto.fallback.as_deref().unwrap().contains("compute capability 8.0"));
        // A new enough GPU keeps the model; a CPU-only bundle under auto goes to the CPU.
        assert_eq!(
            for_bundle(&gpu(Device::Auto, "9.0"), Some(&declared(&["cuda"], Some("8.0")))).unwrap().id(),
            "cuda:0"
        );
        let cpu_only = for_bundle(&gpu(Device::Auto, "9.0"), Some(&declared(&["cpu"], None))).unwrap();
        assert_eq!(cpu_only.id(), "cpu");
        assert!(
            for_bundle(&gpu(Device::Cuda { device_id: 0 }, "9.0"), Some(&declared(&["cpu"], None))).is_err()
        );
    }
}
