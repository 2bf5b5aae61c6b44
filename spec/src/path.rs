/// Why a path inside a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path `{0}` is absolute; bundle paths are relative to the bundle root")]
    Absolute(String),
    #[error("path `{0}` contains `..`, `.` or an empty component")]
    Traversal(String),
    #[error("path `{0}` contains a backslash, NUL or control character")]
    BadCharacter(String),
    #[error("path `{0}` is longer than 4096 bytes")]
    TooLong(String),
}

/// Checks that `path` is a safe, normalised relative path: `/`-separated, no leading `/`, no `.` or `..`
/// or empty component, no backslash or control characters. Every path stored in a bundle, and every path
/// an unpacker writes, passes this check.
///
/// ```
/// assert!(ferry_spec::check_relative_path("golden/a.npz").is_ok());
/// assert!(ferry_spec::check_relative_path("../etc/passwd").is_err());
/// assert!(ferry_spec::check_relative_path("/etc/passwd").is_err());
/// ```
pub fn check_relative_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > 4096 {
        return Err(PathError::TooLong(path.chars().take(64).collect()));
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute(path.to_owned()));
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(PathError::BadCharacter(path.escape_debug().to_string()));
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(PathError::Traversal(path.to_owned()));
    }
    // A Windows drive prefix would be absolute on extraction there.
    if path.len() >= 2 && path.as_bytes()[1] == b':' {
        return Err(PathError::Absolute(path.to_owned()));
    }
    Ok(())
}
