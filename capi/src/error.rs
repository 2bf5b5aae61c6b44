//! Status codes, the per-thread last error, the one mapping from Ferry's errors to codes, and the
//! `catch_unwind` guard every exported function runs its body in.

use ferry::runtime::{RuntimeError, TransformError};
use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a call came to: every fallible function returns one of these as an `int32_t` (constructors
/// return NULL instead), and `ferry_last_error_code` gives the code of the calling thread's last error.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FerryStatus {
    /// Success.
    Ok = 0,
    /// An argument is unusable: a NULL pointer, a string that is not UTF-8, an unknown or unsupported
    /// dtype code, a rank above `FERRY_MAX_RANK`, a negative dim, a byte length that does not match the
    /// shape, a duplicate input name, records that are not a JSON array.
    InvalidArgument = 1,
    /// A file could not be read: missing, unreadable, not a file.
    Io = 2,
    /// The bundle is unreadable or tampered with, of an unsupported format version, excluded by a pin,
    /// or its model or transforms cannot be prepared.
    Bundle = 3,
    /// The trust policy (the release policy's `[trust]` table) refused the bundle.
    Untrusted = 4,
    /// The configuration or the policy file is invalid.
    Config = 5,
    /// The request broke the bundle's data contract (a missing or unknown input, a wrong dtype, shape or
    /// feature value); nothing ran.
    Contract = 6,
    /// A record was refused (not a JSON object, against the records schema, or by `prepare`).
    Record = 7,
    /// ONNX Runtime or a transform failed while running, or produced an output that breaks the bundle's
    /// declarations.
    Inference = 8,
    /// The ONNX Runtime shared library is missing, altered or unusable.
    RuntimeLibrary = 9,
    /// `ferry_verify` ran and a required check failed (the report says which).
    CheckFailed = 10,
    /// The bundle has no feature transform for records (`ferry_model_infer_records`).
    NoTransform = 11,
    /// An internal error (a Rust panic) was caught; the library stays usable.
    Panic = 12,
    /// Anything else (for example a device that cannot be used).
    Other = 13,
}

/// An error on its way to the calling thread's last-error slot.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: FerryStatus,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: FerryStatus, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(FerryStatus::InvalidArgument, message)
    }
}

impl From<RuntimeError> for Error {
    fn from(e: RuntimeError) -> Error {
        Error::new(runtime_status(&e), e.to_string())
    }
}

/// The one mapping from the runtime's errors to status codes.
pub(crate) fn runtime_status(e: &RuntimeError) -> FerryStatus {
    use FerryStatus as S;
    match e {
        RuntimeError::Bundle(ferry::bundle::BundleError::Io { .. }) => S::Io,
        RuntimeError::Bundle(_) | RuntimeError::Format { .. } | RuntimeError::Pin { .. } => S::Bundle,
        RuntimeError::Untrusted { .. } => S::Untrusted,
        RuntimeError::Config { .. } | RuntimeError::ConfigFile { .. } | RuntimeError::Threads { .. } => {
            S::Config
        }
        RuntimeError::Transform(t) => transform_status(t),
        RuntimeError::Record { .. } => S::Record,
        RuntimeError::NoTransform { .. } => S::NoTransform,
        RuntimeError::Contract(_) | RuntimeError::Request { .. } => S::Contract,
        RuntimeError::RequestFile(_) => S::Io,
        RuntimeError::OrtLibrary { .. } => S::RuntimeLibrary,
        RuntimeError::DeviceNotSupported { .. }
        | RuntimeError::Model { .. }
        | RuntimeError::Reference { .. } => S::Bundle,
        RuntimeError::Device { .. } | RuntimeError::Gpu { .. } => S::Other,
        // The C API carries plain tensors only; a model of sequences, maps or optionals needs the Rust
        // API's `infer_values`.
        RuntimeError::NeedsValues { .. } => S::InvalidArgument,
        RuntimeError::Session { .. }
        | RuntimeError::Inference { .. }
        | RuntimeError::Output { .. }
        | RuntimeError::Result { .. } => S::Inference,
    }
}

fn transform_status(e: &TransformError) -> FerryStatus {
    match e {
        TransformError::Refused { .. } => FerryStatus::Record,
        TransformError::Engine { .. }
        | TransformError::NotAComponent { .. }
        | TransformError::Invalid { .. }
        | TransformError::MissingExport { .. }
        | TransformError::WrongExport { .. }
        | TransformError::Imports { .. } => FerryStatus::Bundle,
        // Timeouts, memory caps, traps, malformed answers (and variants added later).
        _ => FerryStatus::Inference,
    }
}

/// The calling thread's last error: its code and its message, NUL-terminated ("" when none).
struct Last {
    code: i32,
    message: CString,
}

thread_local! {
    static LAST: RefCell<Last> = RefCell::new(Last { code: 0, message: CString::default() });
}

/// Records `e` as the calling thread's last error.
pub(crate) fn set(e: Error) {
    let message = CString::new(e.message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; the error is then dropped.
    let _ = LAST.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            *l = Last { code: e.status as i32, message };
        }
    });
}

/// Clears the calling thread's last error (every call that can fail starts with this).
pub(crate) fn clear() {
    let _ = LAST.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut()
            && l.code != 0
        {
            *l = Last { code: 0, message: CString::default() };
        }
    });
}

/// Runs `f`, catching a panic: an `Err` or a panic is recorded as the calling thread's last error and
/// its status returned.
fn run<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, FerryStatus> {
    clear();
    let e = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => e,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            // Dropping the payload could itself panic (a payload whose Drop panics); forget it.
            std::mem::forget(payload);
            Error::new(FerryStatus::Panic, format!("internal error (a panic was caught): {what}"))
        }
    };
    let status = e.status;
    set(e);
    Err(status)
}

/// [`run`] for a call that returns a value, `on_error` on error (NULL, 0).
pub(crate) fn guard<T>(on_error: T, f: impl FnOnce() -> Result<T, Error>) -> T {
    run(f).unwrap_or(on_error)
}

/// [`run`] for a call that returns a status.
pub(crate) fn status(f: impl FnOnce() -> Result<FerryStatus, Error>) -> i32 {
    match run(f) {
        Ok(s) | Err(s) => s as i32,
    }
}

/// The code of the calling thread's last error: `FERRY_STATUS_OK` (0) when the last call that can fail
/// succeeded. Every call other than `ferry_last_error_code`, `ferry_last_error_message`, `ferry_version`,
/// `ferry_abi_version` and the `*_free` functions sets or clears it.
#[unsafe(no_mangle)]
pub extern "C" fn ferry_last_error_code() -> i32 {
    LAST.try_with(|l| l.try_borrow().map_or(FerryStatus::Other as i32, |l| l.code)).unwrap_or(0)
}

/// The message of the calling thread's last error, UTF-8 and NUL-terminated; "" (never NULL) when there
/// is none. It names what is at fault (the file, the tensor, the feature, the rule). The pointer belongs
/// to the library and stays valid until the next ferry call on this thread (other than
/// `ferry_last_error_code` and `ferry_last_error_message`); copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn ferry_last_error_message() -> *const c_char {
    static EMPTY: &str = "\0";
    LAST.try_with(|l| l.try_borrow().map_or(EMPTY.as_ptr().cast(), |l| l.message.as_ptr()))
        .unwrap_or(EMPTY.as_ptr().cast())
}
