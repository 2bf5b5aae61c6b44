use std::path::PathBuf;

/// Why a GPU cannot be used. Each variant names what is missing or broken, so that the message tells a
/// user what to install or fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// No file that could be the CUDA driver library loads.
    #[error(
        "no CUDA driver: {}; install the NVIDIA driver (it provides libcuda.so.1), or run on the CPU with --device cpu",
        describe_tried(.tried)
    )]
    NoDriver {
        /// Each name tried, with why it did not load.
        tried: Vec<(String, String)>,
    },
    /// A driver library loaded but lacks a function Ferry calls: not a CUDA driver, or one too old.
    #[error(
        "the CUDA driver `{library}` is unusable: it has no `{symbol}` (not an NVIDIA driver, or one too old)"
    )]
    BrokenDriver {
        /// The name it was loaded by.
        library: String,
        /// The first missing function.
        symbol: String,
    },
    /// A driver call failed.
    #[error("the CUDA driver failed in {call}: {code}")]
    Driver {
        /// The driver API function.
        call: &'static str,
        /// The driver's error code, by name (`CUDA_ERROR_NO_DEVICE`).
        code: String,
    },
    /// The driver works and sees no GPU.
    #[error("no CUDA device: the driver (CUDA {driver}) sees no GPU")]
    NoGpu {
        /// The driver's CUDA version.
        driver: String,
    },
    /// A device ordinal beyond the GPUs there are.
    #[error("no CUDA device {ordinal}: this machine has {count} (cuda:0 to cuda:{})", .count.saturating_sub(1))]
    NoSuchDevice {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many GPUs the driver sees.
        count: usize,
    },
    /// The driver is older than the CUDA version the libraries need.
    #[error(
        "the CUDA driver supports CUDA {driver}, and the ONNX Runtime GPU build needs CUDA {required}: update the NVIDIA driver"
    )]
    DriverTooOld {
        /// What the driver supports.
        driver: String,
        /// What is needed.
        required: String,
    },
    /// A CUDA library the execution provider links was found nowhere.
    #[error(
        "{component} library `{name}` was not found (searched {}); run `scripts/fetch-onnxruntime --gpu`, \
         `pip install {package}`, or name its directory in {var}",
        describe_dirs(.searched), var = crate::CUDA_LIBS_VAR
    )]
    MissingLibrary {
        /// Which part of CUDA it is.
        component: crate::Component,
        /// Its file name (`libcublas.so.13`).
        name: String,
        /// The pip package that carries it.
        package: String,
        /// The directories searched, before the system's own search.
        searched: Vec<PathBuf>,
    },
    /// A CUDA library was found but does not load.
    #[error("{component} library `{}` does not load: {reason}", .path.display())]
    BrokenLibrary {
        /// Which part of CUDA it is.
        component: crate::Component,
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
}

fn describe_tried(tried: &[(String, String)]) -> String {
    // The loader's message for a name that simply is not there repeats the name: say "not found" once,
    // and quote in full the reasons of files that exist but do not load (an empty or foreign file).
    let broken: Vec<String> = tried
        .iter()
        .filter(|(_, why)| !why.contains("No such file"))
        .map(|(name, why)| format!("{name}: {why}"))
        .collect();
    let names: Vec<&str> = tried.iter().map(|(n, _)| n.as_str()).take(3).collect();
    let mut text = format!("{} not found", names.join(", "));
    if tried.len() > names.len() {
        text.push_str(&format!(" (nor {} other names)", tried.len() - names.len()));
    }
    if !broken.is_empty() {
        text = format!("{}; {text}", broken.join("; "));
    }
    text
}

fn describe_dirs(dirs: &[PathBuf]) -> String {
    let mut parts: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    parts.push("the system's library path".into());
    parts.join(", ")
}
