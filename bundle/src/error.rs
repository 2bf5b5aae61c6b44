use std::path::PathBuf;

/// Why a bundle could not be written, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("reading {what}: {source}")]
    Source { what: String, source: std::io::Error },
    #[error("tar header at byte {offset}: {message}")]
    Tar { offset: u64, message: String },
    #[error(
        "non-zero byte at byte {offset}, after the end-of-archive marker at byte {marker}: only zero padding \
         may follow it"
    )]
    TrailingData { offset: u64, marker: u64 },
    #[error("bundle is truncated at byte {offset}: expected {what}")]
    Truncated { offset: u64, what: String },
    #[error("bundle layout: {0}")]
    Layout(String),
    #[error("`{member}` is not valid JSON for {what}: {message}")]
    Json { member: String, what: String, message: String },
    #[error("missing member `{0}`")]
    Missing(String),
    #[error("unexpected member `{0}`: no manifest refers to it")]
    Unexpected(String),
    #[error(
        "bundle format version {found} is not supported (this Ferry reads versions 1 to {supported}); \
         upgrade Ferry to read it"
    )]
    FormatVersion { found: u32, supported: u32 },
    #[error("digest mismatch in `{what}`: expected {expected}, found {actual}")]
    Digest { what: String, expected: String, actual: String },
    #[error("file `{path}` is larger than its declared {declared} bytes")]
    TooLarge { path: String, declared: u64 },
    #[error("no file `{0}` in the bundle")]
    NoSuchFile(String),
    #[error("file `{path}`: {message}")]
    Decompress { path: String, message: String },
    #[error("unpack target `{path}`: {message}")]
    Target { path: PathBuf, message: String },
    #[error("manifest could not be encoded: {0}")]
    Encode(String),
    #[error("file view: {0}")]
    FileView(#[from] ferry_spec::PathError),
}

impl BundleError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> BundleError {
        BundleError::Io { path: path.into(), source }
    }
}
