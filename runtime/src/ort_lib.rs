//! Finding, checking and loading the ONNX Runtime shared library, once per process.
//!
//! `ort` is built with `load-dynamic`: nothing links against ONNX Runtime at build time, and ort's lazy
//! loader panics when the library is missing. So the runtime loads it itself, through [`ort::init_from`],
//! before any other ort call, and maps every failure to [`RuntimeError::OrtLibrary`].

use crate::RuntimeError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The ONNX Runtime release this Ferry is built and tested against; `scripts/fetch-onnxruntime` installs it.
pub const ORT_VERSION: &str = "1.31.1";

/// SHA-256 of `libonnxruntime.so` from the official `onnxruntime` 1.31.1 wheel for this architecture
/// (`scripts/fetch-onnxruntime` records the same digests; a test keeps them equal). `None` where no
/// official wheel exists: such hosts must set `ORT_DYLIB_PATH`.
#[cfg(target_arch = "x86_64")]
pub const ORT_LIBRARY_SHA256: Option<&str> =
    Some("fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3");
/// See the x86-64 variant.
#[cfg(target_arch = "aarch64")]
pub const ORT_LIBRARY_SHA256: Option<&str> =
    Some("8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467");
/// See the x86-64 variant.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const ORT_LIBRARY_SHA256: Option<&str> = None;

/// Where `scripts/fetch-onnxruntime` installs the library in the checkout this crate was built from.
pub const DEFAULT_LIBRARY_PATH: &str = env!("FERRY_ORT_DEFAULT");

/// The environment variable that names a library to load instead of the pinned one.
pub const ORT_DYLIB_PATH_VAR: &str = "ORT_DYLIB_PATH";

/// How the library in use was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// Named by [`RuntimeOptions::library_path`](crate::RuntimeOptions::library_path); used as is.
    Explicit,
    /// Named by `ORT_DYLIB_PATH`; used as is, at the user's responsibility.
    Env,
    /// The pinned library installed by `scripts/fetch-onnxruntime`; its digest was checked.
    Default,
}

/// The ONNX Runtime library loaded into this process.
#[derive(Debug, Clone)]
pub struct OrtLibrary {
    /// Absolute path of the loaded file.
    pub path: PathBuf,
    /// How it was found.
    pub source: LibrarySource,
    /// Its version, when known: from the pinned digest, or the `VERS_x.y.z` ELF symbol version ONNX
    /// Runtime stamps on its exported API.
    pub version: Option<semver::Version>,
    /// SHA-256 of the file, when it was checked (always for [`LibrarySource::Default`]).
    pub sha256: Option<String>,
}

#[derive(Debug)]
pub(crate) struct OrtState {
    pub library: OrtLibrary,
    pub env: ort::environment::Environment,
}

// A Mutex rather than a OnceLock so that a failed load (library not fetched yet) can be retried.
static STATE: Mutex<Option<Arc<OrtState>>> = Mutex::new(None);

fn lib_err(path: &Path, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::OrtLibrary { path: path.to_path_buf(), reason: reason.into() }
}

/// Loads ONNX Runtime on first use; later calls return the same library whatever they ask for, because a
/// process can hold only one.
pub(crate) fn ensure_loaded(explicit: Option<&Path>) -> Result<Arc<OrtState>, RuntimeError> {
    let mut guard = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(state) = guard.as_ref() {
        if let Some(p) = explicit
            && std::path::absolute(p).ok().as_deref() != Some(state.library.path.as_path())
        {
            return Err(lib_err(
                p,
                format!(
                    "ONNX Runtime is already loaded in this process from `{}`; a process can load only one",
                    state.library.path.display()
                ),
            ));
        }
        return Ok(Arc::clone(state));
    }
    let env_value = std::env::var_os(ORT_DYLIB_PATH_VAR).filter(|v| !v.is_empty()).map(PathBuf::from);
    let (path, source) = locate(explicit, env_value)?;
    let library = check_library(&path, source)?;
    let builder = ort::init_from(&library.path).map_err(|e| lib_err(&library.path, e.to_string()))?;
    let env =
        builder.with_name("ferry").with_telemetry(false).build().map_err(|e| {
            lib_err(&library.path, format!("creating the ONNX Runtime environment failed: {e}"))
        })?;
    // Every failure reaches the caller as a typed error; ONNX Runtime's own log would only repeat it on
    // the host's stderr. ORT_LOG still selects a level for debugging.
    if std::env::var_os("ORT_LOG").is_none() {
        env.set_log_level(ort::logging::LogLevel::Fatal);
    }
    let state = Arc::new(OrtState { library, env });
    *guard = Some(Arc::clone(&state));
    Ok(state)
}

/// The library already loaded into this process, if any.
pub fn loaded_library() -> Option<OrtLibrary> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|s| s.library.clone())
}

/// Chooses the library: an explicit path, then `ORT_DYLIB_PATH`, then the pinned default.
pub(crate) fn locate(
    explicit: Option<&Path>,
    env: Option<PathBuf>,
) -> Result<(PathBuf, LibrarySource), RuntimeError> {
    let absolute =
        |p: &Path| std::path::absolute(p).map_err(|e| lib_err(p, format!("cannot resolve the path: {e}")));
    if let Some(p) = explicit {
        return Ok((absolute(p)?, LibrarySource::Explicit));
    }
    if let Some(p) = env {
        return Ok((absolute(&p)?, LibrarySource::Env));
    }
    let default = PathBuf::from(DEFAULT_LIBRARY_PATH);
    if default.is_file() {
        return Ok((default, LibrarySource::Default));
    }
    Err(lib_err(
        &default,
        format!(
            "ONNX Runtime {ORT_VERSION} is not installed; run `scripts/fetch-onnxruntime` in the Ferry checkout, \
             or set {ORT_DYLIB_PATH_VAR} to a libonnxruntime shared library"
        ),
    ))
}

/// Checks the file before it is loaded: the pinned default must match its recorded digest (a library is
/// code that runs with the host's privileges); any library must exist and its version is read if possible.
pub(crate) fn check_library(path: &Path, source: LibrarySource) -> Result<OrtLibrary, RuntimeError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let hint = match source {
            LibrarySource::Env => format!(" (named by {ORT_DYLIB_PATH_VAR})"),
            LibrarySource::Explicit => " (named by RuntimeOptions::library_path)".to_owned(),
            LibrarySource::Default => "; run `scripts/fetch-onnxruntime`".to_owned(),
        };
        lib_err(path, format!("{e}{hint}"))
    })?;
    if !meta.is_file() {
        return Err(lib_err(path, "not a regular file"));
    }
    match source {
        LibrarySource::Default => {
            let expected = ORT_LIBRARY_SHA256.ok_or_else(|| {
                lib_err(path, format!("no pinned digest for this architecture; set {ORT_DYLIB_PATH_VAR}"))
            })?;
            let bytes = ferry_spec::file::read(path, ferry_spec::file::NO_LIMIT)
                .map_err(|e| lib_err(path, e.reason()))?;
            let actual = ferry_bundle::digest::Sha256Digest::of(&bytes).hex();
            if actual != expected {
                return Err(lib_err(
                    path,
                    format!(
                        "sha256 is {actual}, expected {expected} (ONNX Runtime {ORT_VERSION}); the file is damaged \
                         or replaced: run `scripts/fetch-onnxruntime --force`"
                    ),
                ));
            }
            let version = semver::Version::parse(ORT_VERSION).ok();
            Ok(OrtLibrary { path: path.to_path_buf(), source, version, sha256: Some(actual) })
        }
        LibrarySource::Env | LibrarySource::Explicit => {
            let bytes = ferry_spec::file::read(path, ferry_spec::file::NO_LIMIT)
                .map_err(|e| lib_err(path, e.reason()))?;
            let version = elf_symbol_version(&bytes);
            Ok(OrtLibrary { path: path.to_path_buf(), source, version, sha256: None })
        }
    }
}

/// ONNX Runtime's Linux builds version their exported symbols as `VERS_<major.minor.patch>`
/// (`OrtGetApiBase@@VERS_1.31.1`); the version-definition string is the one version marker available
/// without calling into the library.
pub(crate) fn elf_symbol_version(bytes: &[u8]) -> Option<semver::Version> {
    const MARKER: &[u8] = b"VERS_";
    let mut start = 0;
    while let Some(pos) = find(&bytes[start..], MARKER) {
        let at = start + pos + MARKER.len();
        let tail = &bytes[at..];
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len()).min(32);
        if let Ok(text) = std::str::from_utf8(&tail[..end])
            && let Ok(v) = semver::Version::parse(text)
        {
            return Some(v);
        }
        start = at;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        match haystack[i..].iter().position(|&b| b == first) {
            Some(p) => {
                i += p;
                if haystack.get(i..i + needle.len()) == Some(needle) {
                    return Some(i);
                }
                i += 1;
            }
            None => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_and_const_agree() {
        let script =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/fetch-onnxruntime"))
                .expect("scripts/fetch-onnxruntime");
        assert!(script.contains(&format!("VERSION = \"{ORT_VERSION}\"")), "script pins another version");
        for digest in [
            "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            "8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467",
        ] {
            assert!(script.contains(digest), "script lacks library digest {digest}");
        }
        if let Some(d) = ORT_LIBRARY_SHA256 {
            assert!(script.contains(d));
        }
        assert!(DEFAULT_LIBRARY_PATH.ends_with(&format!(".ort/{ORT_VERSION}/libonnxruntime.so")));
    }

    #[test]
    fn reads_elf_symbol_version() {
        let mut bytes = b"junk VERS_ nope\0 more VERS_1.31.1\0tail".to_vec();
        assert_eq!(elf_symbol_version(&bytes), semver::Version::parse("1.31.1").ok());
        bytes.truncate(10);
        assert_eq!(elf_symbol_version(&bytes), None);
        assert_eq!(elf_symbol_version(b""), None);
        assert_eq!(elf_symbol_version(b"VERS_"), None);
    }

    #[test]
    fn locate_prefers_explicit_then_env() {
        let (p, s) = locate(Some(Path::new("/a/lib.so")), Some(PathBuf::from("/b/lib.so"))).unwrap();
        assert_eq!((p.as_path(), s), (Path::new("/a/lib.so"), LibrarySource::Explicit));
        let (p, s) = locate(None, Some(PathBuf::from("/b/lib.so"))).unwrap();
        assert_eq!((p.as_path(), s), (Path::new("/b/lib.so"), LibrarySource::Env));
    }

    #[test]
    fn missing_or_bad_library_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.so");
        assert!(matches!(check_library(&missing, LibrarySource::Env), Err(RuntimeError::OrtLibrary { .. })));
        let fake = dir.path().join("fake.so");
        std::fs::write(&fake, b"not a library").unwrap();
        let err = check_library(&fake, LibrarySource::Default).unwrap_err();
        assert!(err.to_string().contains("sha256"), "{err}");
        let lib = check_library(&fake, LibrarySource::Env).unwrap();
        assert_eq!(lib.version, None);
    }
}
