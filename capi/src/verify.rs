//! `ferry_verify`: the check suite of `ferry verify`, with its JSON report.

use crate::error::{Error, FerryStatus, status};
use crate::ffi::{into_c_string, path_arg, str_arg, write_out};
use ferry::verifier::{VerifyError, VerifyOptions};
use std::ffi::c_char;
use std::path::PathBuf;
use std::sync::Arc;

/// The most keys one call takes (a bound on the array read from the caller).
const MAX_KEYS: usize = 1024;

fn verify_status(e: &VerifyError) -> FerryStatus {
    match e {
        VerifyError::Read { .. } | VerifyError::NotAFile { .. } | VerifyError::Write { .. } => {
            FerryStatus::Io
        }
        VerifyError::Policy { .. } => FerryStatus::Config,
        VerifyError::Data { .. } | VerifyError::Rebuild { .. } => FerryStatus::InvalidArgument,
        VerifyError::Drift { .. } => FerryStatus::Bundle,
    }
}

/// Verifies the bundle at `bundle_path` as `ferry verify` does: every check of the suite under the policy
/// at `policy_path` (a release policy TOML; NULL for the default policy, where every check is required and
/// `perf.latency` skipped), with `keys` (`n_keys` paths to PEM public keys, as `--key`; NULL when
/// `n_keys` is 0) for the signature check; the policy's `[trust]` key paths are relative to its directory.
///
/// When the verifier ran, `*report_json` receives the report (the `--format json` report, schema
/// `spec/schema/verify-report.schema.json`; free it with `ferry_string_free`) and the call returns
/// `FERRY_STATUS_OK` when every required check passed, `FERRY_STATUS_CHECK_FAILED` when one failed. A
/// bundle too damaged to open (a flipped byte, truncated) is such a failed report, not an error. When
/// the verifier could not run, `*report_json` is NULL and the status says why: `FERRY_STATUS_IO` (no such
/// bundle), `FERRY_STATUS_CONFIG` (an invalid policy), `FERRY_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `bundle_path` is NULL or a NUL-terminated string; `policy_path` is NULL or a NUL-terminated string;
/// `keys` is NULL (only when `n_keys` is 0) or points to `n_keys` NUL-terminated strings; `report_json`
/// is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_verify(
    bundle_path: *const c_char,
    policy_path: *const c_char,
    keys: *const *const c_char,
    n_keys: usize,
    report_json: *mut *mut c_char,
) -> i32 {
    status(|| {
        // SAFETY: the caller guarantees `report_json` is NULL or writable; cleared first.
        unsafe { write_out(report_json, std::ptr::null_mut(), "report_json") }?;
        // SAFETY: the caller's guarantee.
        let bundle = unsafe { path_arg(bundle_path, "bundle_path") }?;
        let mut options = VerifyOptions::default();
        let mut policy_dir = PathBuf::new();
        if !policy_path.is_null() {
            // SAFETY: the caller's guarantee.
            let path = unsafe { path_arg(policy_path, "policy_path") }?;
            let (policy, info) = ferry::verifier::load_policy(&path)
                .map_err(|e| Error::new(verify_status(&e), e.to_string()))?;
            options.policy = policy;
            options.policy_info = Some(info);
            policy_dir = path.parent().map(PathBuf::from).unwrap_or_default();
        }
        if n_keys > 0 {
            if keys.is_null() {
                return Err(Error::invalid(format!("keys is NULL but n_keys is {n_keys}")));
            }
            if n_keys > MAX_KEYS {
                return Err(Error::invalid(format!("n_keys is {n_keys}; at most {MAX_KEYS} are accepted")));
            }
            // SAFETY: not NULL; the caller guarantees `n_keys` (at most 1024) readable pointers.
            let keys = unsafe { std::slice::from_raw_parts(keys, n_keys) };
            for (i, &k) in keys.iter().enumerate() {
                // SAFETY: the caller guarantees each is NULL or a NUL-terminated string.
                options.keys.push(PathBuf::from(unsafe { str_arg(k, &format!("keys[{i}]")) }?));
            }
        }
        options.signatures = Some(Arc::new(ferry::SignatureCheck { policy_dir }));
        let report = ferry::verifier::verify(&bundle, &options)
            .map_err(|e| Error::new(verify_status(&e), e.to_string()))?;
        let ptr = into_c_string(report.to_json())?;
        // SAFETY: as above.
        unsafe { write_out(report_json, ptr, "report_json") }?;
        if report.passed {
            Ok(FerryStatus::Ok)
        } else {
            let n = report.summary.failed;
            Err(Error::new(
                FerryStatus::CheckFailed,
                format!("verification failed: {n} required check{} failed", if n == 1 { "" } else { "s" }),
            ))
        }
    })
}
