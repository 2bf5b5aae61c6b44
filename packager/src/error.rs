use std::path::PathBuf;

/// Why a bundle source was refused or a bundle could not be written. Every variant names the file and,
/// where there is one, the `ferry.toml` key at fault.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Source { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: file `{file}` does not exist in the source directory")]
    MissingFile { path: PathBuf, key: String, file: String },
    /// A file of the source is not a regular file below the source directory: a symbolic link (or a
    /// directory on the way to it that is one), a FIFO, a device, or a path that leaves with `..`.
    #[error(
        "{}: {reason}{}; a bundle source may hold only regular files below its directory (no symbolic links, FIFOs, devices or `..`)",
        path.display(),
        key.as_ref().map(|k| format!(" (ferry.toml key `{k}`)")).unwrap_or_default()
    )]
    UnsafeFile { path: PathBuf, key: Option<String>, reason: String },
    #[error("{file}: not a readable ONNX model: {message}")]
    Onnx { file: String, message: String },
    /// A readable model with an input or output a Ferry contract cannot describe yet.
    #[error("{file}: {message}")]
    Unsupported { file: String, message: String },
    #[error("{file}: contract mismatch at `{key}`: {message}")]
    Contract { file: String, key: String, message: String },
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    #[error("{file} (key `{key}`): {message}")]
    Golden { file: String, key: String, message: String },
    /// A feature transform (`[transform]`, §3.7) the packager cannot pin: not a component, missing the
    /// export its key needs, importing what no sandbox provides, or a schema or source tree at fault.
    #[error("{file} (key `{key}`): {message}")]
    Transform { file: String, key: String, message: String },
    /// The reference sample (`[reference]`, §3.9) cannot be read or profiled.
    #[error("{}: reference sample: {message}", path.display())]
    Reference { path: PathBuf, message: String },
    #[error("{0}")]
    Bundle(#[from] ferry_bundle::BundleError),
    #[error("{path}: {message}")]
    Init { path: PathBuf, message: String },
}

impl PackError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> PackError {
        PackError::Io { path: path.into(), source }
    }
}
