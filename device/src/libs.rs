//! The CUDA libraries ONNX Runtime's CUDA execution provider links, found and loaded before it is.
//!
//! `libonnxruntime_providers_cuda.so` names its CUDA dependencies by soname (`libcublas.so.13`) and has
//! no search path for them. Loading each one first, by full path, makes the provider's own load find
//! them (the dynamic loader matches an already loaded soname), wherever they are installed: in the
//! directory `scripts/fetch-onnxruntime --gpu` fills, in a Python environment's `nvidia-*` wheels, or
//! on the system's library path. And a library that is missing is named here, with the package that
//! provides it, instead of surfacing as the provider's bare `dlopen` error.

// Loading a shared library runs its initialisers: the one `unsafe` operation of this module.
#![allow(unsafe_code)]

use crate::DeviceError;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The environment variable naming directories (`:`-separated) searched for CUDA libraries first.
pub const CUDA_LIBS_VAR: &str = "FERRY_CUDA_LIBS";

/// Which part of CUDA a library belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// The CUDA runtime (`libcudart`).
    CudaRuntime,
    /// cuBLAS and cuBLASLt.
    Cublas,
    /// cuRAND.
    Curand,
    /// cuFFT and the JIT linker it needs.
    Cufft,
    /// NVRTC, the runtime compiler.
    Nvrtc,
    /// cuDNN.
    Cudnn,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::CudaRuntime => "the CUDA runtime",
            Component::Cublas => "cuBLAS",
            Component::Curand => "cuRAND",
            Component::Cufft => "cuFFT",
            Component::Nvrtc => "NVRTC",
            Component::Cudnn => "cuDNN",
        })
    }
}

/// One library the CUDA execution provider may load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudaLibrary {
    /// Its soname.
    pub name: &'static str,
    /// Its part of CUDA.
    pub component: Component,
    /// The PyPI package that carries it (what `scripts/fetch-onnxruntime --gpu` installs).
    pub package: &'static str,
    /// Whether the provider cannot load without it (it links it); the others are loaded when an
    /// operator needs them (cuDNN for convolutions, cuFFT for FFTs), so their absence is reported, not
    /// refused.
    pub required: bool,
}

const fn lib(name: &'static str, component: Component, package: &'static str, required: bool) -> CudaLibrary {
    CudaLibrary { name, component, package, required }
}

/// The libraries of the CUDA 13 and cuDNN 9 that the pinned ONNX Runtime GPU build (1.31.1) uses, in
/// load order: each after the ones it links.
pub const CUDA_LIBRARIES: &[CudaLibrary] = &[
    lib("libcudart.so.13", Component::CudaRuntime, "nvidia-cuda-runtime", true),
    lib("libcublasLt.so.13", Component::Cublas, "nvidia-cublas", true),
    lib("libcublas.so.13", Component::Cublas, "nvidia-cublas", true),
    lib("libcurand.so.10", Component::Curand, "nvidia-curand", true),
    lib("libnvrtc.so.13", Component::Nvrtc, "nvidia-cuda-nvrtc", false),
    lib("libnvJitLink.so.13", Component::Cufft, "nvidia-nvjitlink", false),
    lib("libcufft.so.12", Component::Cufft, "nvidia-cufft", false),
    lib("libcudnn_graph.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
    lib("libcudnn_ops.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
    lib("libcudnn_heuristic.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
    lib("libcudnn_engines_runtime_compiled.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
    lib("libcudnn_engines_precompiled.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
    lib("libcudnn_cnn.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
    lib("libcudnn_adv.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
    lib("libcudnn.so.9", Component::Cudnn, "nvidia-cudnn-cu13", false),
];

/// A library as [`preload`] left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedLibrary {
    /// Its soname.
    pub name: &'static str,
    /// Its part of CUDA.
    pub component: Component,
    /// The file loaded; `None` when the system's search found it (by soname) or when it is absent.
    pub path: Option<PathBuf>,
    /// Whether it is loaded.
    pub loaded: bool,
}

// Handles of everything loaded, kept for the life of the process: the provider holds on to the
// libraries by soname, and unloading one under it would be fatal.
static LOADED: Mutex<Vec<libloading::Library>> = Mutex::new(Vec::new());

// What the first successful `preload` found: the libraries stay loaded, by soname, for the process, so a
// later call (every `Runtime::new` on a GPU) has nothing to load again.
static PRELOADED: Mutex<Option<Vec<LoadedLibrary>>> = Mutex::new(None);

/// Loads every library of [`CUDA_LIBRARIES`]: from the first of `dirs` that holds it, else by soname
/// through the system's search. A required library found nowhere, or any library that is found and
/// does not load, is an error naming it; an optional one found nowhere is reported as not loaded.
pub fn preload(dirs: &[PathBuf]) -> Result<Vec<LoadedLibrary>, DeviceError> {
    let mut done = PRELOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = done.as_ref() {
        return Ok(found.clone());
    }
    let mut out = Vec::with_capacity(CUDA_LIBRARIES.len());
    for library in CUDA_LIBRARIES {
        let found = dirs.iter().map(|d| d.join(library.name)).find(|p| p.is_file());
        let loaded = match &found {
            Some(path) => Some(load(path).map_err(|reason| DeviceError::BrokenLibrary {
                component: library.component,
                path: path.clone(),
                reason,
            })?),
            None => load(Path::new(library.name)).ok(),
        };
        if loaded.is_none() && library.required {
            return Err(DeviceError::MissingLibrary {
                component: library.component,
                name: library.name.to_owned(),
                package: library.package.to_owned(),
                searched: dirs.to_vec(),
            });
        }
        let is_loaded = loaded.is_some();
        if let Some(handle) = loaded {
            LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(handle);
        }
        out.push(LoadedLibrary {
            name: library.name,
            component: library.component,
            path: found,
            loaded: is_loaded,
        });
    }
    *done = Some(out.clone());
    Ok(out)
}

fn load(path: &Path) -> Result<libloading::Library, String> {
    // SAFETY: loading runs the library's initialisers. These are NVIDIA's CUDA libraries, found where the
    // user or `scripts/fetch-onnxruntime --gpu` installed them; a file that is not a library for this
    // machine fails to load with the loader's message.
    unsafe { libloading::Library::new(path.as_os_str()) }.map_err(|e| crate::driver::loader_message(&e))
}

/// The CUDA runtime's version, once [`preload`] has loaded it (`cudaRuntimeGetVersion`).
pub fn cuda_runtime_version() -> Option<crate::CudaVersion> {
    let loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let cudart = loaded.first()?;
    type GetVersion = unsafe extern "C" fn(*mut i32) -> i32;
    // SAFETY: `cudaRuntimeGetVersion(int*)` has had this signature in every CUDA runtime; the first
    // handle is libcudart (the first entry of CUDA_LIBRARIES, which is required).
    let get = unsafe { cudart.get::<GetVersion>(b"cudaRuntimeGetVersion") }.ok()?;
    let mut version = 0;
    // SAFETY: the pointer is to a live local; 0 is cudaSuccess.
    (unsafe { get(&mut version) } == 0).then(|| crate::CudaVersion::from_encoded(version))
}

/// The directories a Python environment's NVIDIA wheels put their libraries in
/// (`site-packages/nvidia/<part>/lib`, and `nvidia/cu13/lib` for the CUDA 13 wheels), under each of
/// `prefixes`; a machine with PyTorch or `onnxruntime-gpu` installed has them.
pub fn python_library_dirs(prefixes: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for packages in site_packages(prefixes) {
        let Ok(parts) = std::fs::read_dir(packages.join("nvidia")) else { continue };
        let mut found: Vec<PathBuf> =
            parts.filter_map(Result::ok).map(|e| e.path().join("lib")).filter(|p| p.is_dir()).collect();
        found.sort();
        dirs.extend(found);
    }
    dirs
}

/// Each prefix's package directories (`lib/python3.X/site-packages` and `dist-packages`), in prefix
/// order and, within a prefix, by Python version: where pip puts the wheels Ferry looks into (NVIDIA's
/// CUDA libraries here, ONNX Runtime's in ferry-runtime).
pub fn site_packages(prefixes: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for prefix in prefixes {
        let Ok(lib) = std::fs::read_dir(prefix.join("lib")) else { continue };
        let mut pythons: Vec<PathBuf> = lib
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path())
            .collect();
        pythons.sort();
        for python in pythons {
            out.extend(
                ["site-packages", "dist-packages"].map(|p| python.join(p)).into_iter().filter(|d| d.is_dir()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_library_found_nowhere_is_named_with_its_package() {
        let dir = tempfile::tempdir().unwrap();
        // On a machine with CUDA installed system-wide the soname search succeeds; the test means the
        // machines without it, as CI's.
        if load(Path::new("libcudart.so.13")).is_ok() {
            return;
        }
        let err = preload(&[dir.path().to_path_buf()]).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, DeviceError::MissingLibrary { component: Component::CudaRuntime, .. }),
            "{err:?}"
        );
        assert!(text.contains("libcudart.so.13") && text.contains("nvidia-cuda-runtime"), "{text}");
        assert!(text.contains(&dir.path().display().to_string()) && text.contains(CUDA_LIBS_VAR), "{text}");
    }

    #[test]
    fn a_library_that_is_found_and_does_not_load_is_refused_by_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libcudart.so.13"), b"not a library").unwrap();
        let err = preload(&[dir.path().to_path_buf()]).unwrap_err();
        let DeviceError::BrokenLibrary { component, path, reason } = &err else { panic!("{err:?}") };
        assert_eq!(*component, Component::CudaRuntime);
        assert_eq!(path, &dir.path().join("libcudart.so.13"));
        assert!(reason.contains("too short") || reason.contains("invalid ELF"), "{reason}");
    }

    #[test]
    fn wheel_directories_are_found_under_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for part in ["cublas", "cu13"] {
            std::fs::create_dir_all(
                dir.path().join("lib/python3.12/site-packages/nvidia").join(part).join("lib"),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.path().join("lib/python3.12/site-packages/nvidia/no-lib")).unwrap();
        let dirs = python_library_dirs(&[dir.path().to_path_buf()]);
        let site = dir.path().join("lib/python3.12/site-packages/nvidia");
        assert_eq!(dirs, vec![site.join("cu13/lib"), site.join("cublas/lib")]);
    }

    #[test]
    fn load_order_puts_the_runtime_first_and_every_library_once() {
        assert_eq!(CUDA_LIBRARIES[0].name, "libcudart.so.13");
        let mut names: Vec<&str> = CUDA_LIBRARIES.iter().map(|l| l.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CUDA_LIBRARIES.len());
    }
}
