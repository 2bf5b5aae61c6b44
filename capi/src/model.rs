//! Opening bundles into `FerryModel` handles, and running them: tensors, and raw records.

use crate::error::{Error, FerryStatus, guard, status};
use crate::ffi::{guard_ptr, into_c_string, path_arg, write_out};
use crate::outputs::FerryOutputs;
use crate::tensor::{FerryTensorIn, request};
use ferry::runtime::{Model, OpenOptions, Runtime, RuntimeOptions, TrustPolicy};
use std::ffi::{CStr, CString, c_char};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// An opened, verified bundle. Thread-safe: one handle serves any number of threads at once (calls run
/// in parallel on a small pool of ONNX Runtime sessions sharing one copy of the weights).
#[derive(Debug)]
pub struct FerryModel {
    model: Model,
    inputs: Vec<CString>,
    outputs: Vec<CString>,
}

// The handle crosses threads in C; keep it `Send + Sync` by construction.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<FerryModel>();
    send_sync::<FerryOutputs>();
};

/// The process-wide runtime for opens without a policy: ONNX Runtime is loaded once, on first use.
static SHARED: Mutex<Option<Runtime>> = Mutex::new(None);

fn shared_runtime() -> Result<Runtime, Error> {
    let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = slot.as_ref() {
        return Ok(rt.clone());
    }
    let rt = Runtime::new(RuntimeOptions::default())?;
    *slot = Some(rt.clone());
    Ok(rt)
}

/// A runtime that enforces a release policy's `[trust]` table, as `ferry run --policy` does.
fn policy_runtime(policy_path: &Path) -> Result<Runtime, Error> {
    let policy =
        ferry::load_policy(policy_path).map_err(|e| Error::new(FerryStatus::Config, e.to_string()))?;
    let dir = policy_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let check = ferry::trust_check(&policy.trust, &dir)
        .map_err(|e| Error::new(FerryStatus::Config, e.to_string()))?;
    let options = RuntimeOptions {
        trust: TrustPolicy::default().require(check),
        always_rehash: policy.trust.always_rehash,
        ..RuntimeOptions::default()
    };
    Ok(Runtime::new(options)?)
}

fn c_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<Vec<CString>, Error> {
    names
        .map(|n| {
            CString::new(n).map_err(|_| Error::new(FerryStatus::Bundle, "a tensor name holds a NUL byte"))
        })
        .collect()
}

/// Opens the bundle at `path`: every blob's digest, the format version and the pins are checked, and,
/// with `policy_path` (a release policy TOML, `release.toml`), its `[trust]` table, exactly as
/// `ferry run --policy` does (key paths relative to the policy's directory). Returns NULL on error:
/// `FERRY_STATUS_IO` (no such file), `FERRY_STATUS_BUNDLE` (unreadable, tampered with, wrong format or
/// pin), `FERRY_STATUS_UNTRUSTED` (the policy refused it), `FERRY_STATUS_CONFIG` (an invalid policy or
/// configuration), `FERRY_STATUS_RUNTIME_LIBRARY` (ONNX Runtime missing).
///
/// Without a policy, one process-wide runtime (ONNX Runtime loaded once) serves every open; with one, a
/// runtime enforcing it is made for this open. Free the handle with `ferry_model_free`.
///
/// # Safety
///
/// `path` is NULL or a NUL-terminated string; `policy_path` is NULL (no policy) or a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_open(
    path: *const c_char,
    policy_path: *const c_char,
) -> *mut FerryModel {
    guard_ptr(|| {
        // SAFETY: the caller's guarantee.
        let path = unsafe { path_arg(path, "path") }?;
        let runtime = if policy_path.is_null() {
            shared_runtime()?
        } else {
            // SAFETY: the caller's guarantee.
            policy_runtime(&unsafe { path_arg(policy_path, "policy_path") }?)?
        };
        // The process environment's FERRY_CONFIG__* variables apply, as for `ferry run`.
        let model = runtime.open(&path, &OpenOptions::default())?;
        let manifest = model.manifest();
        let inputs = c_names(manifest.inputs.iter().map(|t| t.name.as_str()))?;
        let outputs = c_names(manifest.outputs.iter().map(|t| t.name.as_str()))?;
        Ok(Box::into_raw(Box::new(FerryModel { model, inputs, outputs })))
    })
}

/// Frees a model. NULL is ignored. Every call on it must have returned first.
///
/// # Safety
///
/// `model` is NULL or a `FerryModel` from `ferry_model_open`, not yet freed and not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_free(model: *mut FerryModel) {
    if model.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees a pointer from `Box::into_raw` in `ferry_model_open`, freed once.
        drop(unsafe { Box::from_raw(model) });
    }));
}

/// # Safety
///
/// `model` is NULL or a live `FerryModel`.
unsafe fn model_ref<'a>(model: *const FerryModel) -> Result<&'a FerryModel, Error> {
    // SAFETY: the caller guarantees NULL or a pointer from `ferry_model_open` not yet freed.
    unsafe { model.as_ref() }.ok_or_else(|| Error::invalid("model is NULL"))
}

/// What `ferry_model_contract_json` writes: the manifest's own serde forms of the model and its I/O.
#[derive(serde::Serialize)]
struct ContractJson<'a, M, T> {
    model: &'a M,
    inputs: &'a [T],
    outputs: &'a [T],
    takes_records: bool,
}

/// The bundle's contract as a JSON object: `model` (`name`, `version`, `description`, `license`),
/// `inputs` and `outputs` (each `name`, `dtype` as a lowercase name such as "float32", `shape` with
/// symbolic dims as strings, and for tabular inputs `features`, each with its `name` and rules), and
/// `takes_records` (whether `ferry_model_infer_records` can run). NULL on error. Free with
/// `ferry_string_free`.
///
/// # Safety
///
/// `model` is NULL or a live `FerryModel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_contract_json(model: *const FerryModel) -> *mut c_char {
    guard_ptr(|| {
        // SAFETY: the caller's guarantee.
        let m = unsafe { model_ref(model) }?;
        let manifest = m.model.manifest();
        let contract = ContractJson {
            model: &manifest.model,
            inputs: &manifest.inputs,
            outputs: &manifest.outputs,
            takes_records: m.model.takes_records(),
        };
        let json = serde_json::to_string(&contract)
            .map_err(|e| Error::new(FerryStatus::Other, format!("cannot write the contract as JSON: {e}")))?;
        into_c_string(json)
    })
}

/// The number of inputs the bundle declares; 0 when `model` is NULL.
///
/// # Safety
///
/// `model` is NULL or a live `FerryModel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_input_count(model: *const FerryModel) -> usize {
    guard(0, || {
        // SAFETY: the caller's guarantee.
        Ok(unsafe { model_ref(model) }?.inputs.len())
    })
}

/// The name of input `index`, in declaration order; borrowed, valid for the model's life. NULL when
/// `model` is NULL or `index` is out of range.
///
/// # Safety
///
/// `model` is NULL or a live `FerryModel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_input_name(model: *const FerryModel, index: usize) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: the caller's guarantee.
        let m = unsafe { model_ref(model) }?;
        name_at(&m.inputs, index, "input")
    })
}

/// The number of outputs the bundle declares; 0 when `model` is NULL.
///
/// # Safety
///
/// `model` is NULL or a live `FerryModel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_output_count(model: *const FerryModel) -> usize {
    guard(0, || {
        // SAFETY: the caller's guarantee.
        Ok(unsafe { model_ref(model) }?.outputs.len())
    })
}

/// The name of output `index`, in declaration order; borrowed, valid for the model's life. NULL when
/// `model` is NULL or `index` is out of range.
///
/// # Safety
///
/// `model` is NULL or a live `FerryModel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_output_name(model: *const FerryModel, index: usize) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: the caller's guarantee.
        let m = unsafe { model_ref(model) }?;
        name_at(&m.outputs, index, "output")
    })
}

fn name_at(names: &[CString], index: usize, what: &str) -> Result<*const c_char, Error> {
    names.get(index).map(|n| n.as_ptr()).ok_or_else(|| {
        Error::invalid(format!("{what} index {index} is out of range (there are {})", names.len()))
    })
}

/// Runs the model on `n_inputs` tensors. Every descriptor is checked first (dtype code, rank, dims, byte
/// length, NULL data, duplicate names: `FERRY_STATUS_INVALID_ARGUMENT` naming the tensor), then the
/// request against the bundle's data contract (`FERRY_STATUS_CONTRACT` naming the tensor and feature;
/// nothing runs). Each input's bytes are copied once into the library (the runtime takes owned tensors).
/// On success `*out` receives the outputs, to free with `ferry_outputs_free`; on error it is set to NULL.
/// Safe to call from many threads at once on one model.
///
/// # Safety
///
/// `model` is NULL or a live `FerryModel`; `inputs` is NULL (only when `n_inputs` is 0) or points to
/// `n_inputs` descriptors whose pointers are valid as `FerryTensorIn` documents; `out` is NULL or valid
/// for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_infer(
    model: *const FerryModel,
    inputs: *const FerryTensorIn,
    n_inputs: usize,
    out: *mut *mut FerryOutputs,
) -> i32 {
    status(|| {
        // SAFETY: the caller guarantees `out` is NULL or writable; cleared first so that an error never
        // leaves a stale pointer there.
        unsafe { write_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: the caller's guarantee.
        let m = unsafe { model_ref(model) }?;
        // SAFETY: the caller's guarantee on the descriptors.
        let request = unsafe { request(inputs, n_inputs) }?;
        let outputs = FerryOutputs::new(m.model.infer(&request)?)?;
        // SAFETY: as above.
        unsafe { write_out(out, Box::into_raw(Box::new(outputs)), "out") }?;
        Ok(FerryStatus::Ok)
    })
}

/// Runs raw records through the bundle's feature transforms and the model. `records_json` is a JSON
/// array of records (objects), at most `FERRY_MAX_RECORDS_JSON_BYTES` long; `*decisions_json` receives
/// a JSON array with one decision per record, in order (free it with `ferry_string_free`), or NULL on
/// error. `FERRY_STATUS_NO_TRANSFORM` when the bundle has no transforms, `FERRY_STATUS_RECORD` when a
/// record is refused (the message names its index, JSON pointer and rule), `FERRY_STATUS_INVALID_ARGUMENT`
/// when the text is not a JSON array.
///
/// # Safety
///
/// `model` is NULL or a live `FerryModel`; `records_json` is NULL or a NUL-terminated string;
/// `decisions_json` is NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ferry_model_infer_records(
    model: *const FerryModel,
    records_json: *const c_char,
    decisions_json: *mut *mut c_char,
) -> i32 {
    status(|| {
        // SAFETY: the caller guarantees `decisions_json` is NULL or writable.
        unsafe { write_out(decisions_json, std::ptr::null_mut(), "decisions_json") }?;
        // SAFETY: the caller's guarantee.
        let m = unsafe { model_ref(model) }?;
        if records_json.is_null() {
            return Err(Error::invalid("records_json is NULL"));
        }
        // SAFETY: not NULL; the caller guarantees a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(records_json) }.to_bytes();
        if text.len() > crate::FERRY_MAX_RECORDS_JSON_BYTES {
            return Err(Error::invalid(format!(
                "records_json is {} bytes; at most {} are accepted",
                text.len(),
                crate::FERRY_MAX_RECORDS_JSON_BYTES
            )));
        }
        if !m.model.takes_records() {
            return Err(Error::new(
                FerryStatus::NoTransform,
                "the bundle has no `prepare` transform ([transform] prepare in ferry.toml): it takes tensors, \
                 not records",
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| Error::invalid(format!("records_json is not JSON: {e}")))?;
        let serde_json::Value::Array(items) = value else {
            return Err(Error::invalid("records_json is not a JSON array of records"));
        };
        let records: Vec<String> = items.iter().map(serde_json::Value::to_string).collect();
        let decisions = m.model.infer_records(&records)?;
        // Each decision is one JSON text (the runtime parsed it against the results schema); checked
        // here too rather than trusted to splice, and kept byte for byte (key order included).
        for (i, d) in decisions.iter().enumerate() {
            serde_json::from_str::<serde::de::IgnoredAny>(d).map_err(|e| {
                Error::new(FerryStatus::Inference, format!("decision {i} is not a JSON text: {e}"))
            })?;
        }
        let json = format!("[{}]", decisions.join(","));
        let ptr = into_c_string(json)?;
        // SAFETY: as above; checked not NULL by the first write.
        unsafe { write_out(decisions_json, ptr, "decisions_json") }?;
        Ok(FerryStatus::Ok)
    })
}
