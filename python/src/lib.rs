//! `ferry._native`: the native half of the `ferry` Python package (python/ferry/ is the other half).
//!
//! Everything here is argument conversion over the `ferry` library: numpy arrays are read through the
//! buffer protocol (one copy into the request, then borrowed by ONNX Runtime), the GIL is released
//! while a bundle is opened, run, verified, packed or signed, and each library error becomes the Python
//! exception of its kind (python/ferry/__init__.py re-exports them).

use ferry::runtime::{Device, Model, OpenOptions, Runtime, RuntimeError, RuntimeOptions, TrustPolicy};
use ferry::tensor::{DType, Tensor, TensorData, TensorMap};
use pyo3::buffer::{Element, PyBuffer};
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyDict, PyString, PyTuple};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

pyo3::create_exception!(ferry, FerryError, PyException, "Base class of every error Ferry raises.");
pyo3::create_exception!(
    ferry,
    BundleError,
    FerryError,
    "The bundle could not be read, a blob does not match its digest, or its format, pins or graph are refused."
);
pyo3::create_exception!(
    ferry,
    UntrustedError,
    FerryError,
    "The trust policy refused the bundle (signatures, attestation)."
);
pyo3::create_exception!(
    ferry,
    ConfigError,
    FerryError,
    "The effective configuration breaks the bundle's schema."
);
pyo3::create_exception!(
    ferry,
    ContractError,
    FerryError,
    "A request broke the bundle's data contract; nothing ran. Attributes: input, feature, index, value, rule."
);
pyo3::create_exception!(
    ferry,
    RecordError,
    FerryError,
    "A raw record (or a transform's result) was refused."
);
pyo3::create_exception!(
    ferry,
    TransformError,
    FerryError,
    "A feature transform could not be loaded or run, or the bundle has none."
);
pyo3::create_exception!(
    ferry,
    InferenceError,
    FerryError,
    "ONNX Runtime failed, or gave an output the bundle does not declare."
);
pyo3::create_exception!(
    ferry,
    RuntimeLibraryError,
    FerryError,
    "The ONNX Runtime library is missing, altered or unusable."
);
pyo3::create_exception!(
    ferry,
    DeviceError,
    FerryError,
    "The device asked for cannot be used, or the bundle does not run on it."
);
pyo3::create_exception!(
    ferry,
    PolicyError,
    FerryError,
    "A policy file could not be read, or a key it names could not be loaded."
);
pyo3::create_exception!(
    ferry,
    VerifyError,
    FerryError,
    "The verifier could not run (it did not get to checking the bundle)."
);
pyo3::create_exception!(ferry, PackError, FerryError, "A bundle source could not be packed.");
pyo3::create_exception!(ferry, SignError, FerryError, "A bundle could not be signed.");

fn runtime_error(py: Python<'_>, e: RuntimeError) -> PyErr {
    let message = e.to_string();
    match e {
        RuntimeError::Contract(c) | RuntimeError::Request { error: c, .. } => {
            let err = ContractError::new_err(message);
            let value = err.value(py);
            // Attributes on an exception we just made cannot fail but for memory; ignore as Python does.
            let _ = value.setattr("input", &c.input);
            let _ = value.setattr("feature", &c.feature);
            let _ = value.setattr("index", &c.index);
            let _ = value.setattr("value", &c.value);
            let _ = value.setattr("rule", c.kind.rule());
            err
        }
        RuntimeError::Bundle(_)
        | RuntimeError::Format { .. }
        | RuntimeError::Pin { .. }
        | RuntimeError::Model { .. }
        | RuntimeError::Reference { .. }
        | RuntimeError::Session { .. } => BundleError::new_err(message),
        RuntimeError::Untrusted { .. } => UntrustedError::new_err(message),
        RuntimeError::Config { .. } | RuntimeError::ConfigFile { .. } => ConfigError::new_err(message),
        RuntimeError::Record { .. } | RuntimeError::Result { .. } => RecordError::new_err(message),
        RuntimeError::Transform(_) | RuntimeError::NoTransform { .. } => TransformError::new_err(message),
        RuntimeError::OrtLibrary { .. } => RuntimeLibraryError::new_err(message),
        RuntimeError::Device { .. }
        | RuntimeError::DeviceNotSupported { .. }
        | RuntimeError::Gpu { .. }
        | RuntimeError::Threads { .. } => DeviceError::new_err(message),
        RuntimeError::RequestFile(_)
        | RuntimeError::Inference { .. }
        | RuntimeError::NeedsValues { .. }
        | RuntimeError::Output { .. } => InferenceError::new_err(message),
        // The enum is non-exhaustive across features; anything new is still a Ferry error.
        #[allow(unreachable_patterns)]
        _ => FerryError::new_err(message),
    }
}

/// With the error's causes, as the CLI prints them: a library error's own text often leaves its source
/// (the file, the key) to the chain.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
        source = s.source();
    }
    text
}

/// A runtime for an open. Without a policy, one per device for the process. With one, a new runtime
/// each time: the policy file and the keys it names are read at every open, so an edited policy (a key
/// withdrawn) takes effect at the next open, whatever path or working directory names it. ONNX Runtime
/// itself loads once per process either way.
struct RuntimeKey {
    policy: Option<PathBuf>,
    device: String,
}

static RUNTIMES: Mutex<Option<HashMap<String, Runtime>>> = Mutex::new(None);

fn runtime_for(key: &RuntimeKey, python_prefixes: Vec<PathBuf>) -> Result<Runtime, OpenFailure> {
    let mut guard = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::new);
    if key.policy.is_none()
        && let Some(rt) = map.get(&key.device)
    {
        return Ok(rt.clone());
    }
    let device = Device::parse(&key.device).ok_or_else(|| {
        OpenFailure::Device(format!("unknown device `{}` (cpu, cuda, cuda:N or auto)", key.device))
    })?;
    let mut trust = TrustPolicy::default();
    if let Some(path) = &key.policy {
        let policy = ferry::load_policy(path).map_err(|e| OpenFailure::Policy(chain(&e)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        trust = trust
            .require(ferry::trust_check(&policy.trust, dir).map_err(|e| OpenFailure::Policy(chain(&e)))?);
    }
    let options = RuntimeOptions { device, trust, python_prefixes, ..RuntimeOptions::default() };
    let rt = Runtime::new(options).map_err(OpenFailure::Runtime)?;
    if key.policy.is_none() {
        map.insert(key.device.clone(), rt.clone());
    }
    Ok(rt)
}

/// An opened, verified bundle. Thread-safe: share one between threads; calls run in parallel.
#[pyclass(frozen, module = "ferry._native", name = "Model")]
struct PyModel {
    model: Arc<Model>,
    path: String,
    digest: String,
    contract: String,
    /// Per declared input, its dtype: the buffer of a numpy array is read as that type first.
    inputs: Vec<(String, DType)>,
    /// The declared outputs' names as Python strings, made once: the keys of every answer.
    outputs: Vec<(String, Py<PyString>)>,
}

enum OpenFailure {
    Runtime(RuntimeError),
    Policy(String),
    Device(String),
}

#[pyfunction]
#[pyo3(signature = (path, policy=None, device="cpu", python_prefixes=Vec::new(), overrides=Vec::new()))]
fn open(
    py: Python<'_>,
    path: PathBuf,
    policy: Option<PathBuf>,
    device: &str,
    python_prefixes: Vec<PathBuf>,
    overrides: Vec<(String, String)>,
) -> PyResult<PyModel> {
    let key = RuntimeKey { policy: policy.clone(), device: device.to_owned() };
    let opened = py.detach(|| {
        let rt = runtime_for(&key, python_prefixes)?;
        let options = OpenOptions { overrides, ..OpenOptions::default() };
        rt.open(&path, &options).map_err(OpenFailure::Runtime)
    });
    let model = match opened {
        Ok(m) => m,
        Err(OpenFailure::Runtime(e)) => return Err(runtime_error(py, e)),
        Err(OpenFailure::Policy(text)) => return Err(PolicyError::new_err(text)),
        Err(OpenFailure::Device(text)) => return Err(DeviceError::new_err(text)),
    };
    let digest = model.bundle().map(|b| b.manifest_digest().to_owned()).unwrap_or_default();
    let manifest = model.manifest();
    let contract = serde_json::json!({
        "name": manifest.model.name,
        "version": manifest.model.version,
        "inputs": manifest.inputs,
        "outputs": manifest.outputs,
        "records": model.takes_records(),
    })
    .to_string();
    let inputs = manifest.inputs.iter().map(|i| (i.name.clone(), i.dtype)).collect();
    let outputs =
        manifest.outputs.iter().map(|o| (o.name.clone(), PyString::intern(py, &o.name).unbind())).collect();
    Ok(PyModel {
        model: Arc::new(model),
        path: path.display().to_string(),
        digest,
        contract,
        inputs,
        outputs,
    })
}

/// The numpy dtype of each element type the Python API returns: `.npy`'s descr, for the types numpy
/// holds natively (not the raw-bytes `V` descrs of bfloat16, float8 and 4-bit types).
fn numpy_dtype(dtype: DType) -> Option<&'static str> {
    ferry_tensor::numpy_descr(dtype).filter(|d| !d[1..].starts_with('V'))
}

/// Reads an array's buffer as `T` if that is what it holds; the contract sees its dtype and shape
/// before a byte is copied, so an array the contract refuses (a broadcast view claiming 10¹⁰ rows, a
/// wrong dtype) costs no memory.
fn read<T: Element + Copy>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    name: &str,
    dtype: DType,
    model: &Model,
) -> Option<PyResult<(Vec<usize>, Vec<T>)>> {
    let buffer = PyBuffer::<T>::get(obj).ok()?;
    let shape = buffer.shape().to_vec();
    if let Err(e) = model.contract().check_declared(name, dtype, &shape, None) {
        return Some(Err(runtime_error(py, RuntimeError::Contract(e))));
    }
    Some(buffer.to_vec(py).map(|v| (shape, v)))
}

/// Reads one input array: as the declared type first (the hot path), else as whichever type its
/// buffer holds, so that the contract names the mismatch.
fn tensor_from(
    py: Python<'_>,
    name: &str,
    obj: &Bound<'_, PyAny>,
    declared: Option<DType>,
    model: &Model,
) -> PyResult<Tensor> {
    macro_rules! try_as {
        ($t:ty, $wrap:path, $dtype:expr) => {
            if let Some(r) = read::<$t>(py, obj, name, $dtype, model) {
                let (shape, v) = r?;
                return Tensor::new(shape, $wrap(v))
                    .map_err(|e| PyValueError::new_err(format!("input `{name}`: {e}")));
            }
        };
    }
    match declared {
        Some(DType::Float32) => try_as!(f32, TensorData::F32, DType::Float32),
        Some(DType::Int64) => try_as!(i64, TensorData::I64, DType::Int64),
        Some(DType::Float64) => try_as!(f64, TensorData::F64, DType::Float64),
        _ => {}
    }
    try_as!(f32, TensorData::F32, DType::Float32);
    try_as!(f64, TensorData::F64, DType::Float64);
    try_as!(i64, TensorData::I64, DType::Int64);
    try_as!(i32, TensorData::I32, DType::Int32);
    try_as!(i16, TensorData::I16, DType::Int16);
    try_as!(i8, TensorData::I8, DType::Int8);
    try_as!(u8, TensorData::U8, DType::Uint8);
    try_as!(u16, TensorData::U16, DType::Uint16);
    try_as!(u32, TensorData::U32, DType::Uint32);
    try_as!(u64, TensorData::U64, DType::Uint64);
    Err(PyTypeError::new_err(format!(
        "input `{name}`: expected a numpy array (C-contiguous) of a numeric dtype, got {}",
        obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into())
    )))
}

/// `numpy.ndarray` and the dtype object of each type [`numpy_dtype`] names, looked up once: building a
/// dtype from its string on every output costs more than the rest of the conversion.
struct Numpy {
    ndarray: Py<PyAny>,
    dtypes: Vec<(DType, Py<PyAny>)>,
}

static NUMPY: PyOnceLock<Numpy> = PyOnceLock::new();

fn numpy(py: Python<'_>) -> PyResult<&Numpy> {
    NUMPY.get_or_try_init(py, || {
        let np = py.import("numpy")?;
        let dtype = np.getattr("dtype")?;
        let mut dtypes = Vec::new();
        for d in DType::ALL {
            if let Some(name) = numpy_dtype(d) {
                dtypes.push((d, dtype.call1((name,))?.unbind()));
            }
        }
        Ok(Numpy { ndarray: np.getattr("ndarray")?.unbind(), dtypes })
    })
}

fn to_numpy<'py>(py: Python<'py>, name: &str, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    let np = numpy(py)?;
    let dtype = t.dtype();
    let found = np.dtypes.iter().find(|(d, _)| *d == dtype).map(|(_, o)| o);
    let (Some(np_dtype), Some(bytes)) = (found, ferry_tensor::to_le_bytes(&t.data)) else {
        return Err(InferenceError::new_err(format!(
            "output `{name}` is {dtype}, which the Python API does not return as a numpy array"
        )));
    };
    // Over a bytearray, so the array is writable, as onnxruntime's outputs are.
    let buffer = PyByteArray::new(py, &bytes);
    np.ndarray.bind(py).call1((PyTuple::new(py, &t.shape)?, np_dtype.bind(py), buffer))
}

impl PyModel {
    /// The declared dtype of an input (a model has a handful: a scan beats hashing the name).
    fn declared(&self, name: &str) -> Option<DType> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, d)| *d)
    }

    /// `{name: numpy array}` as a request, each array checked by the contract before it is copied.
    fn request(&self, py: Python<'_>, inputs: &Bound<'_, PyDict>) -> PyResult<TensorMap> {
        let mut request = TensorMap::new();
        for (key, value) in inputs.iter() {
            let key = key.cast::<PyString>().map_err(|_| PyTypeError::new_err("input names must be str"))?;
            let name = key.to_str()?;
            let tensor = tensor_from(py, name, &value, self.declared(name), &self.model)?;
            request.insert(name.to_owned(), tensor);
        }
        Ok(request)
    }
}

#[pymethods]
impl PyModel {
    /// Checks the request against the contract and runs the model: `{name: numpy array}` in, the same
    /// out. The GIL is released while the model runs.
    fn infer<'py>(&self, py: Python<'py>, inputs: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
        let request = self.request(py, inputs)?;
        let model = &self.model;
        let outputs = py.detach(|| model.infer(&request)).map_err(|e| runtime_error(py, e))?;
        let out = PyDict::new(py);
        for (name, t) in &outputs {
            let array = to_numpy(py, name, t)?;
            match self.outputs.iter().find(|(n, _)| n == name) {
                Some((_, key)) => out.set_item(key.bind(py), array)?,
                None => out.set_item(name, array)?,
            }
        }
        Ok(out)
    }

    /// Runs the bundle's feature transforms and the model on raw records (JSON texts in, decision JSON
    /// texts out). The GIL is released while they run.
    fn infer_records(&self, py: Python<'_>, records: Vec<String>) -> PyResult<Vec<String>> {
        let model = &self.model;
        py.detach(|| model.infer_records(&records)).map_err(|e| runtime_error(py, e))
    }

    /// The bundle's contract as JSON text: name, version, inputs, outputs, whether it takes records.
    #[getter]
    fn contract_json(&self) -> &str {
        &self.contract
    }

    /// The bundle's identity: the digest of its OCI manifest.
    #[getter]
    fn digest(&self) -> &str {
        &self.digest
    }

    /// The path the bundle was opened from.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }
}

/// Runs the verifier as `ferry verify` does. Returns `(passed, report JSON)`.
#[pyfunction]
#[pyo3(signature = (path, policy=None, keys=Vec::new(), data=None, rebuild=None, python_prefixes=Vec::new()))]
fn verify(
    py: Python<'_>,
    path: PathBuf,
    policy: Option<PathBuf>,
    keys: Vec<PathBuf>,
    data: Option<PathBuf>,
    rebuild: Option<PathBuf>,
    python_prefixes: Vec<PathBuf>,
) -> PyResult<(bool, String)> {
    let report = py.detach(|| -> Result<ferry::verifier::Report, PyErr> {
        let mut options = ferry::verifier::VerifyOptions { data, rebuild, keys, ..Default::default() };
        options.runtime.python_prefixes = python_prefixes;
        let mut policy_dir = PathBuf::new();
        if let Some(p) = &policy {
            let (loaded, info) =
                ferry::verifier::load_policy(p).map_err(|e| PolicyError::new_err(chain(&e)))?;
            options.policy = loaded;
            options.policy_info = Some(info);
            policy_dir = p.parent().map(PathBuf::from).unwrap_or_default();
        }
        options.signatures = Some(Arc::new(ferry::SignatureCheck { policy_dir }));
        ferry::verifier::verify(&path, &options).map_err(|e| VerifyError::new_err(chain(&e)))
    })?;
    let json = serde_json::to_string(&report).map_err(|e| VerifyError::new_err(e.to_string()))?;
    Ok((report.passed, json))
}

/// Packs a bundle source directory into `out` (a reference sample profiled, as `ferry pack` does);
/// returns the bundle's digest.
#[pyfunction]
#[pyo3(signature = (src, out, reference=None, python_prefixes=Vec::new()))]
fn pack(
    py: Python<'_>,
    src: PathBuf,
    out: PathBuf,
    reference: Option<PathBuf>,
    python_prefixes: Vec<PathBuf>,
) -> PyResult<String> {
    // A reference sample is scored by ONNX Runtime, found as `open` finds it.
    let options = ferry::runtime::RuntimeOptions { python_prefixes, ..Default::default() };
    py.detach(|| ferry::pack(&src, &out, reference.as_deref(), &options))
        .map(|w| w.manifest_digest)
        .map_err(|e| PackError::new_err(chain(&e)))
}

/// Signs a bundle with a private key (PEM, encrypted when `passphrase` is given), writing the signed
/// bundle to `out` (in place by default); returns the signature's digest.
#[pyfunction]
#[pyo3(signature = (bundle, key, out=None, passphrase=None))]
fn sign(
    py: Python<'_>,
    bundle: PathBuf,
    key: PathBuf,
    out: Option<PathBuf>,
    passphrase: Option<Vec<u8>>,
) -> PyResult<String> {
    py.detach(|| {
        let b = ferry::bundle::Bundle::open(&bundle).map_err(|e| BundleError::new_err(chain(&e)))?;
        let key = ferry::trust::load_signing_key(&key, passphrase.as_deref())
            .map_err(|e| SignError::new_err(chain(&e)))?;
        let out = out.as_deref().unwrap_or(&bundle);
        ferry::trust::sign(&b, &key, out).map_err(|e| SignError::new_err(chain(&e)))
    })
}

/// Makes a signing key pair as `ferry keygen` does: the private key (mode 0600) and the public key,
/// neither overwriting an existing file.
#[pyfunction]
#[pyo3(signature = (private, public, passphrase=None))]
fn keygen(py: Python<'_>, private: PathBuf, public: PathBuf, passphrase: Option<Vec<u8>>) -> PyResult<()> {
    py.detach(|| {
        let (sk, pk) =
            ferry::sign::keygen(passphrase.as_deref()).map_err(|e| SignError::new_err(chain(&e)))?;
        write_new(&private, sk.as_str().as_bytes(), 0o600)?;
        if let Err(e) = write_new(&public, pk.as_str().as_bytes(), 0o644) {
            // Both or neither: a private key without its public half is of no use to anyone.
            let _ = std::fs::remove_file(&private);
            return Err(e);
        }
        Ok(())
    })
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> PyResult<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| SignError::new_err(format!("{}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io)?;
    f.write_all(data).and_then(|()| f.sync_all()).map_err(io)
}

/// For python/bench/infer_batch1.py: `Model::infer` called `calls` times in a Rust loop on an opened
/// model, with the request converted once; returns the mean nanoseconds per call. Python is outside the
/// timed loop, so the bench compares the Python API's cost with the library's in one process.
#[pyfunction]
fn _bench_infer(py: Python<'_>, model: &PyModel, inputs: &Bound<'_, PyDict>, calls: u32) -> PyResult<f64> {
    let request = model.request(py, inputs)?;
    let m = &model.model;
    py.detach(|| {
        let start = std::time::Instant::now();
        for _ in 0..calls {
            m.infer(&request)?;
        }
        Ok(start.elapsed().as_nanos() as f64 / f64::from(calls.max(1)))
    })
    .map_err(|e| runtime_error(py, e))
}

/// The version of Ferry this module was built from.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyModel>()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(pack, m)?)?;
    m.add_function(wrap_pyfunction!(sign, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(keygen, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_infer, m)?)?;
    m.add("FerryError", py.get_type::<FerryError>())?;
    m.add("BundleError", py.get_type::<BundleError>())?;
    m.add("UntrustedError", py.get_type::<UntrustedError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("ContractError", py.get_type::<ContractError>())?;
    m.add("RecordError", py.get_type::<RecordError>())?;
    m.add("TransformError", py.get_type::<TransformError>())?;
    m.add("InferenceError", py.get_type::<InferenceError>())?;
    m.add("RuntimeLibraryError", py.get_type::<RuntimeLibraryError>())?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("VerifyError", py.get_type::<VerifyError>())?;
    m.add("PackError", py.get_type::<PackError>())?;
    m.add("SignError", py.get_type::<SignError>())?;
    Ok(())
}
