//! Reading arguments from C (strings, paths) and handing strings back to it.

use crate::error::{Error, FerryStatus, guard};
use std::ffi::{CStr, CString, c_char};
use std::path::PathBuf;

/// A borrowed C string argument as UTF-8; `what` names the argument in the error.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: not NULL, and the caller guarantees a NUL-terminated string valid for 'a.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| Error::invalid(format!("{what} is not UTF-8: {e}")))
}

/// A path argument (UTF-8, not empty).
///
/// # Safety
///
/// As [`str_arg`].
pub(crate) unsafe fn path_arg(ptr: *const c_char, what: &str) -> Result<PathBuf, Error> {
    // SAFETY: the caller's guarantee is `str_arg`'s.
    let s = unsafe { str_arg(ptr, what) }?;
    if s.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    Ok(PathBuf::from(s))
}

/// A string handed to C, freed by `ferry_string_free`. Ferry's JSON never holds a raw NUL (serde escapes
/// it as `\u0000`); one would be refused rather than cut the text short.
pub(crate) fn into_c_string(s: String) -> Result<*mut c_char, Error> {
    CString::new(s).map(CString::into_raw).map_err(|e| {
        Error::new(FerryStatus::Other, format!("a string holds a NUL byte at {}", e.nul_position()))
    })
}

/// Stores `value` through an out-pointer argument after checking it is not NULL.
///
/// # Safety
///
/// `out` is NULL or valid for a write of one `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: not NULL, and the caller guarantees it is valid for a write.
    unsafe { out.write(value) };
    Ok(())
}

/// Frees a string the library returned (`ferry_model_contract_json`, `ferry_model_infer_records`,
/// `ferry_verify`). NULL is ignored.
///
/// # Safety
///
/// `s` is NULL or a string returned by this library and not yet freed; it must not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    // Freeing never touches the last error; a panic (none is expected) is swallowed.
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the caller guarantees `s` came from `CString::into_raw` in this library and is freed
        // once.
        drop(unsafe { CString::from_raw(s) });
    });
}

/// Runs `f` under [`guard`], returning NULL on error.
pub(crate) fn guard_ptr<T>(f: impl FnOnce() -> Result<*mut T, Error>) -> *mut T {
    guard(std::ptr::null_mut(), f)
}
