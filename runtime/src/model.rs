use crate::config::{self, Layers};
use crate::device::{self, Device, DeviceInUse};
use crate::ort_lib::{OrtLibrary, OrtState};
use crate::session::{self, External, ModelBytes, SessionFactory, SessionPool, StandIns};
use crate::{ContractError, RuntimeError};
use ferry_bundle::Bundle;
use ferry_cache::VerifiedDigests;
use ferry_contract::Contract;
use ferry_spec::{DType, FORMAT_VERSION, Manifest, TensorSpec};
use ferry_tensor::{TensorMap, ValueMap};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A check a host adds to what [`Runtime::open`] requires of a bundle, after its digests and pins pass:
/// typically a signature check (`ferry-sign`), kept out of this crate so that the runtime does not
/// depend on any one signing scheme.
pub trait BundleCheck: Send + Sync {
    /// A short name used in errors (`signature`).
    fn name(&self) -> &str;
    /// Refuses the bundle with a reason, or accepts it.
    fn check(&self, bundle: &Bundle) -> Result<(), String>;
}

/// What a bundle must satisfy to be opened. Digests, format version and pins are always checked; the
/// policy adds host-defined checks.
#[derive(Clone, Default)]
pub struct TrustPolicy {
    checks: Vec<Arc<dyn BundleCheck>>,
}

impl TrustPolicy {
    /// Adds a check; every check must accept the bundle.
    pub fn require(mut self, check: Arc<dyn BundleCheck>) -> TrustPolicy {
        self.checks.push(check);
        self
    }
}

impl std::fmt::Debug for TrustPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.checks.iter().map(|c| c.name())).finish()
    }
}

/// How a [`Runtime`] runs models.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Intra-op threads per session, overriding the bundle's `intra_op_threads` config key. `Some(0)`
    /// lets ONNX Runtime decide (one thread per core).
    pub intra_op_threads: Option<usize>,
    /// Upper bound on concurrent sessions per model (each serves one call at a time; weights are shared).
    /// Default: the number of CPU cores divided by the intra-op threads.
    pub max_sessions: Option<usize>,
    /// Where to run: `cpu` (default), `cuda:N`, or `auto` (the first GPU when everything it needs is
    /// there, else the CPU, saying why: [`Runtime::device`]).
    pub device: Device,
    /// Directories searched first for the CUDA libraries the GPU build needs (`libcudart.so.13`,
    /// cuBLAS, cuDNN, ...); then `FERRY_CUDA_LIBS`, the `cuda/` beside the GPU build, the Python
    /// environments' NVIDIA wheels, and the system's library path.
    pub cuda_library_dirs: Vec<PathBuf>,
    /// Checks beyond digests and pins.
    pub trust: TrustPolicy,
    /// An ONNX Runtime library to load instead of `ORT_DYLIB_PATH` or the pinned default; used as is.
    pub library_path: Option<PathBuf>,
    /// Python installation prefixes whose `site-packages` are searched first for the `onnxruntime`
    /// wheel's library, which must then be the pinned build (its digest is checked). The Python package
    /// passes its own interpreter's (`sys.prefix`), so a virtual environment that is not activated
    /// still finds the wheel `pip` installed beside Ferry.
    pub python_prefixes: Vec<PathBuf>,
    /// The most elements an input whose size the contract leaves open may hold
    /// ([`Contract::with_max_elements`]); default [`ferry_contract::DEFAULT_MAX_ELEMENTS`].
    pub max_input_elements: Option<usize>,
    /// Where Ferry's caches are kept between processes: compiled feature transforms (with the
    /// `transforms` feature; in `transforms/`) and the verified-digest cache (`verified/`). By default
    /// the user's cache directory. Each distinct location gets its own WebAssembly engine (with its
    /// epoch thread), kept for the life of the process: a host should use one or a few, not one per
    /// model.
    ///
    /// ```
    /// use ferry_runtime::{CacheLocation, RuntimeOptions};
    /// let options = RuntimeOptions { cache: CacheLocation::Dir("/var/cache/scorer".into()), ..Default::default() };
    /// # let _ = options;
    /// ```
    pub cache: CacheLocation,
    /// Hash every blob of a bundle (and the ONNX Runtime library) on every open, even when the
    /// verified-digest cache knows the file unchanged since a full check: what a policy's
    /// `[trust] always_rehash = true` asks for. Off by default: a bundle whose path, device, inode,
    /// size, modification and change times all match a previous full check is not hashed again
    /// (`ferry_cache::VerifiedDigests` says why that is safe).
    pub always_rehash: bool,
}

/// Where a cache is kept: the user's cache directory (default), a directory the host names, or none.
pub use ferry_cache::Location as CacheLocation;

/// How to open one bundle.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// `key=value` overrides, applied last: the key is dotted (`a.b`) or a JSON pointer (`/a/b`); the
    /// value is parsed as JSON if it parses, else taken as a string.
    pub overrides: Vec<(String, String)>,
    /// A JSON (or `.toml`) file merged over the bundle's defaults.
    pub config_file: Option<PathBuf>,
    /// The `FERRY_CONFIG__*` variables to apply; `None` reads the process environment.
    pub env: Option<Vec<(String, String)>>,
}

/// An ONNX Runtime environment with a device and trust policy, from which models are opened. Cheap to
/// share; one per process is enough.
#[derive(Debug, Clone)]
pub struct Runtime {
    ort: Arc<OrtState>,
    device: Arc<DeviceInUse>,
    options: RuntimeOptions,
    /// `None` when hashing on every open is asked for, or no private cache directory is available.
    digests: Option<VerifiedDigests>,
}

/// Thread counts may ask for at most this many threads per available core ...
pub const THREADS_PER_CORE: usize = 4;
/// ... and never more than this many, whatever the machine.
pub const MAX_THREADS: usize = 1024;

/// Rows per call when a data sample is scored ([`Runtime::run_onnx`], `verify --data`).
pub const SAMPLE_BATCH_ROWS: usize = 1024;

/// The most threads a thread count ([`RuntimeOptions::intra_op_threads`], [`RuntimeOptions::max_sessions`],
/// the `intra_op_threads` config key) may ask for on this machine: [`THREADS_PER_CORE`] per available core,
/// at most [`MAX_THREADS`]. More only costs memory and context switches (a million threads exhausts the
/// process before ONNX Runtime notices).
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.saturating_mul(THREADS_PER_CORE).min(MAX_THREADS)
}

fn check_threads(option: &str, value: usize) -> Result<usize, RuntimeError> {
    let cap = max_threads();
    if value > cap {
        return Err(RuntimeError::Threads { option: option.to_owned(), value, cap });
    }
    Ok(value)
}

/// The config key that sets ONNX Runtime's intra-op threads.
pub const INTRA_OP_THREADS_KEY: &str = "intra_op_threads";

/// Models whose weights are smaller than this run on one intra-op thread unless told otherwise: for them
/// the thread pool's hand-offs cost more than they save, and a host serving many requests gets its
/// parallelism from concurrent calls instead.
pub const SMALL_MODEL_BYTES: usize = 64 << 20;

impl Runtime {
    /// Loads ONNX Runtime (once per process) and checks that the device can be used.
    pub fn new(options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        if let Some(n) = options.intra_op_threads {
            check_threads("intra_op_threads", n)?;
        }
        if let Some(n) = options.max_sessions {
            check_threads("max_sessions", n)?;
        }
        let digests = if options.always_rehash { None } else { VerifiedDigests::open(&options.cache) };
        let (ort, device) = device::place(&options, digests.as_ref())?;
        Ok(Runtime { ort, device: Arc::new(device), options, digests })
    }

    /// Where this runtime's models run, and, for `auto` on the CPU, why no GPU was used.
    pub fn device(&self) -> &DeviceInUse {
        &self.device
    }

    /// The ONNX Runtime library in use.
    pub fn library(&self) -> &OrtLibrary {
        &self.ort.library
    }

    /// The process's ONNX Runtime environment, for hosts that also create `ort` sessions directly: ONNX
    /// Runtime allows one environment per process, and the runtime creates it.
    pub fn ort_environment(&self) -> &ort::environment::Environment {
        &self.ort.env
    }

    /// Opens a `.ferry` file: structure, every blob digest, format version, pins and trust checks, then
    /// the effective configuration, then an ONNX Runtime session.
    pub fn open(&self, path: &Path, options: &OpenOptions) -> Result<Model, RuntimeError> {
        self.open_bundle(Bundle::open(path)?, options)
    }

    /// Opens a bundle held in memory, with the same checks as [`Runtime::open`].
    pub fn open_bytes(&self, bytes: Vec<u8>, options: &OpenOptions) -> Result<Model, RuntimeError> {
        self.open_bundle(Bundle::from_bytes(bytes)?, options)
    }

    /// Opens an already parsed bundle, with the same checks as [`Runtime::open`].
    pub fn open_bundle(&self, bundle: Bundle, options: &OpenOptions) -> Result<Model, RuntimeError> {
        let manifest = bundle.manifest();
        if !ferry_spec::is_supported_format(u64::from(manifest.format_version)) {
            return Err(RuntimeError::Format { found: manifest.format_version, supported: FORMAT_VERSION });
        }
        let digests_cached = self.verify_digests(&bundle)?;
        self.check_pins(manifest)?;
        for check in &self.options.trust.checks {
            check
                .check(&bundle)
                .map_err(|reason| RuntimeError::Untrusted { check: check.name().to_owned(), reason })?;
        }
        let config = self.resolve_config(&bundle, options)?;
        let manifest = manifest.clone();
        let bundle = Arc::new(bundle);
        let entry = manifest.entrypoint.clone();
        let model_bytes = bundle.file(&entry)?;
        let lookup = |location: &str| -> Result<Option<External>, RuntimeError> {
            let path = ferry_spec::external_data_path(&entry, location);
            let Some(file) = manifest.files.iter().find(|f| f.path == path) else { return Ok(None) };
            if file.compression == ferry_spec::Compression::None {
                // Read in place from the memory map: opening a model copies none of its weights.
                bundle.blob(&file.blob)?;
                return Ok(Some(External::InBundle { bundle: Arc::clone(&bundle), blob: file.blob.clone() }));
            }
            Ok(Some(External::Owned(Arc::from(&*bundle.file(&path)?))))
        };
        // The manifest pins every external-data file (subgraphs included), relative to the bundle root; the
        // graph names them relative to the entrypoint's directory.
        let pinned: Vec<String> = manifest
            .pins
            .onnx
            .external_data
            .iter()
            .filter_map(|p| ferry_spec::external_data_location(&entry, p).map(str::to_owned))
            .collect();
        let external = external_files(&model_bytes, &pinned, &entry, &lookup)?;
        drop(model_bytes);
        let mut model = self.build(
            manifest,
            config,
            ModelBytes::Bundle { bundle: Arc::clone(&bundle), path: entry },
            external,
            Some(bundle),
        )?;
        model.digests_cached = digests_cached;
        if let Some(r) = &model.manifest.reference {
            let bytes = model.bundle.as_ref().map(|b| b.file(&r.profile)).transpose()?;
            let profile = ferry_drift::Profile::from_json(bytes.as_deref().unwrap_or_default())
                .map_err(|source| RuntimeError::Reference { file: r.profile.clone(), source })?;
            model.drift = Some(Arc::new(ferry_drift::Live::new(profile)));
        }
        Ok(model)
    }

    /// The digest check [`Runtime::open`] starts with: every blob against its digest, unless the
    /// verified-digest cache knows this very file (by identity, through the handle that is mapped) was
    /// fully checked before with this manifest ([`RuntimeOptions::always_rehash`] turns that off).
    /// Returns whether the cache answered. For hosts that hold a [`Bundle`] of their own.
    pub fn verify_digests(&self, bundle: &Bundle) -> Result<bool, RuntimeError> {
        match (&self.digests, bundle.file_handle(), bundle.path()) {
            (Some(cache), Some(file), Some(path)) => Ok(cache.check_or_recall(
                ferry_cache::BUNDLE_KIND,
                path,
                file,
                bundle.manifest_digest(),
                || bundle.verify_digests(),
            )?),
            _ => {
                bundle.verify_digests()?;
                Ok(false)
            }
        }
    }

    /// A model straight from ONNX bytes, with a contract and no bundle: for tests and benchmarks of the
    /// runtime itself. Nothing is verified.
    #[doc(hidden)]
    pub fn model_from_onnx_bytes(
        &self,
        onnx: Vec<u8>,
        external: Vec<(String, Vec<u8>)>,
        inputs: Vec<TensorSpec>,
        outputs: Vec<TensorSpec>,
        config: Value,
    ) -> Result<Model, RuntimeError> {
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            model: ferry_spec::ModelMeta {
                name: "in-memory".into(),
                version: "0.0.0".into(),
                description: String::new(),
                license: String::new(),
            },
            entrypoint: "model.onnx".into(),
            files: Vec::new(),
            config: None,
            inputs,
            outputs,
            golden: Vec::new(),
            pins: ferry_spec::Pins {
                ferry_version: ferry_spec::FERRY_VERSION.into(),
                onnxruntime: ferry_spec::ONNXRUNTIME_SUPPORTED.into(),
                onnx: ferry_spec::OnnxPins {
                    ir_version: 0,
                    opsets: Default::default(),
                    producer_name: String::new(),
                    producer_version: String::new(),
                    external_data: Vec::new(),
                },
            },
            transform: None,
            devices: None,
            reference: None,
        };
        let external = external.into_iter().map(|(n, b)| (n, External::Owned(Arc::from(b)))).collect();
        self.build(manifest, config, ModelBytes::Owned(Arc::from(onnx)), external, None)
    }

    /// Runs ONNX bytes under a contract, without a bundle, on a batch of any size (in calls of at most
    /// [`SAMPLE_BATCH_ROWS`] rows): what `pack` runs a reference sample through to profile the model's
    /// outputs before the bundle exists. The model runs with an empty configuration.
    pub fn run_onnx(
        &self,
        onnx: Vec<u8>,
        external: Vec<(String, Vec<u8>)>,
        inputs: Vec<TensorSpec>,
        outputs: Vec<TensorSpec>,
        batch: &TensorMap,
    ) -> Result<TensorMap, RuntimeError> {
        let model =
            self.model_from_onnx_bytes(onnx, external, inputs, outputs, Value::Object(Default::default()))?;
        model.infer_in_batches(batch, SAMPLE_BATCH_ROWS)
    }

    fn check_pins(&self, manifest: &Manifest) -> Result<(), RuntimeError> {
        let required = &manifest.pins.onnxruntime;
        let pin_err = |found: String| RuntimeError::Pin {
            pin: "onnxruntime".into(),
            required: required.clone(),
            found,
        };
        let req = semver::VersionReq::parse(required).map_err(|e| {
            pin_err(format!("nothing it can compare: `{required}` is not a version requirement ({e})"))
        })?;
        let lib = &self.ort.library;
        let version = lib
            .version
            .as_ref()
            .ok_or_else(|| pin_err(format!("a library of unknown version at `{}`", lib.path.display())))?;
        if !req.matches(version) {
            return Err(pin_err(format!("ONNX Runtime {version} (`{}`)", lib.path.display())));
        }
        Ok(())
    }

    fn resolve_config(&self, bundle: &Bundle, options: &OpenOptions) -> Result<Value, RuntimeError> {
        let manifest = bundle.manifest();
        let read_json = |path: &str, what: &str| -> Result<Value, RuntimeError> {
            let bytes = bundle.file(path)?;
            serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Config {
                pointer: String::new(),
                rule: what.to_owned(),
                message: format!("`{path}` in the bundle is not valid JSON: {e}"),
            })
        };
        let (schema, defaults) = match &manifest.config {
            Some(c) => (
                Some(read_json(&c.schema, "schema")?),
                c.defaults.as_deref().map(|d| read_json(d, "defaults")).transpose()?,
            ),
            None => (None, None),
        };
        let env = options.env.clone().unwrap_or_else(config::process_env);
        config::resolve(&Layers {
            schema: schema.as_ref(),
            defaults: defaults.as_ref(),
            file: options.config_file.as_deref(),
            env,
            overrides: &options.overrides,
        })
    }

    fn build(
        &self,
        manifest: Manifest,
        config: Value,
        model: ModelBytes,
        external: ExternalFiles,
        bundle: Option<Arc<Bundle>>,
    ) -> Result<Model, RuntimeError> {
        let bytes = model.bytes()?;
        let weight_bytes = bytes.len() + external.iter().map(|(_, b)| b.bytes().len()).sum::<usize>();
        let intra_op_threads = self.intra_op_threads(&config, weight_bytes)?;
        let shared = session::shared_initializers(&bytes, &external);
        drop(bytes);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let device = device::for_bundle(&self.device, manifest.devices.as_ref())?;
        let cuda = device.cuda_ordinal();
        let max_sessions = self
            .options
            .max_sessions
            .unwrap_or_else(|| {
                let per_core = cores.checked_div(intra_op_threads).unwrap_or(1).max(1);
                // Each session on a GPU holds its own memory arena and library handles; a few keep the
                // device busy, and calls queue for them as on the CPU.
                if cuda.is_some() { per_core.min(device::MAX_GPU_SESSIONS) } else { per_core }
            })
            .max(1);
        // ONNX Runtime shares pre-packed kernels only for shared initializers.
        let prepacked = (!shared.is_empty()).then(ort::session::builder::PrepackedWeights::new);
        let in_place = session::in_place_files(&model.bytes()?, &external, &shared);
        let stand_ins =
            if in_place.is_empty() { None } else { StandIns::create(&in_place).map(|s| (s, in_place)) };
        let factory = SessionFactory {
            env: self.ort.env.clone(),
            cuda,
            model,
            intra_op_threads,
            external_files: external,
            shared,
            prepacked,
            stand_ins,
        };
        let pool = SessionPool::new(factory, max_sessions)?;
        let contract = Contract::new(&manifest.inputs, &manifest.outputs).with_max_elements(
            self.options.max_input_elements.unwrap_or(ferry_contract::DEFAULT_MAX_ELEMENTS),
        );
        let input_order = manifest.inputs.iter().map(|t| t.name.clone()).collect();
        let container = manifest
            .inputs
            .iter()
            .chain(&manifest.outputs)
            .find(|t| !t.value_type.is_tensor())
            .map(|t| (t.name.clone(), t.value_type.to_string()));
        Ok(Model {
            device,
            manifest,
            config,
            contract,
            input_order,
            pool,
            intra_op_threads,
            bundle,
            container,
            #[cfg(feature = "transforms")]
            transforms: crate::records::Slot::default(),
            #[cfg(feature = "transforms")]
            transform_cache: self.options.cache.clone(),
            digests_cached: false,
            drift: None,
        })
    }

    /// `RuntimeOptions` first, then the config key, then the size rule. 0 means ONNX Runtime's default.
    fn intra_op_threads(&self, config: &Value, weight_bytes: usize) -> Result<usize, RuntimeError> {
        if let Some(n) = self.options.intra_op_threads {
            return Ok(n);
        }
        let from_config = match config.get(INTRA_OP_THREADS_KEY) {
            None | Some(Value::Null) => None,
            Some(v) => {
                // A count beyond usize is as refused as any other count above the cap.
                let n = v.as_u64().ok_or_else(|| RuntimeError::Config {
                    pointer: format!("/{INTRA_OP_THREADS_KEY}"),
                    rule: "type".into(),
                    message: format!("{v} is not a non-negative integer"),
                })?;
                Some(check_threads(
                    &format!("config /{INTRA_OP_THREADS_KEY}"),
                    usize::try_from(n).unwrap_or(usize::MAX),
                )?)
            }
        };
        Ok(match from_config {
            // 0 in a bundle's config means "let the runtime decide": Ferry's rule below.
            Some(n) if n > 0 => n,
            _ if weight_bytes < SMALL_MODEL_BYTES => 1,
            _ => 0,
        })
    }
}

/// External-data files by the location the graph names.
type ExternalFiles = Vec<(String, External)>;
/// Reads a file next to the entrypoint; `None` if the bundle has no such file.
type Lookup<'a> = dyn Fn(&str) -> Result<Option<External>, RuntimeError> + 'a;

/// The external-data files the graph names, read from the bundle. A missing file is an error naming it.
fn external_files(
    model: &[u8],
    pinned: &[String],
    entry: &str,
    lookup: &Lookup<'_>,
) -> Result<ExternalFiles, RuntimeError> {
    // Every graph, subgraphs included, so a file named only in an `If`/`Loop`/`Scan` body is not missed. A
    // model ferry-onnx cannot read is refused here rather than left to ONNX Runtime, which would otherwise
    // load it without the files the reader could not list.
    let named = ferry_onnx::read_model(model).map_err(|e| RuntimeError::Model {
        file: entry.to_owned(),
        message: format!("cannot list its external data: {e}"),
    })?;
    let mut out: Vec<(String, External)> = Vec::new();
    for location in named.external_data.into_iter().chain(pinned.iter().cloned()) {
        if out.iter().any(|(n, _)| n == &location) {
            continue;
        }
        if ferry_spec::check_relative_path(&location).is_err() {
            return Err(RuntimeError::Model {
                file: entry.to_owned(),
                message: format!("external data location `{location}` is not a safe relative path"),
            });
        }
        let data = lookup(&location)?.ok_or_else(|| RuntimeError::Model {
            file: entry.to_owned(),
            message: format!("external data file `{location}` is not in the bundle"),
        })?;
        out.push((location, data));
    }
    Ok(out)
}

/// An opened, verified bundle ready to serve requests. `Send + Sync`: share it (`Arc<Model>`) between
/// threads; concurrent calls run in parallel on up to `max_sessions` sessions sharing one copy of the
/// weights.
#[derive(Debug)]
pub struct Model {
    manifest: Manifest,
    config: Value,
    contract: Contract,
    input_order: Vec<String>,
    pool: SessionPool,
    intra_op_threads: usize,
    device: Arc<DeviceInUse>,
    bundle: Option<Arc<Bundle>>,
    /// The first input or output declared as a sequence, map or optional, with its type: such a model
    /// takes and gives [`ValueMap`]s ([`Model::infer_values`]).
    container: Option<(String, String)>,
    /// The feature transforms, loaded on first use.
    #[cfg(feature = "transforms")]
    pub(crate) transforms: crate::records::Slot,
    #[cfg(feature = "transforms")]
    pub(crate) transform_cache: CacheLocation,
    digests_cached: bool,
    /// The streaming profile of what this model scores, against the bundle's reference profile.
    drift: Option<Arc<ferry_drift::Live>>,
}

impl Model {
    /// Where this model runs.
    pub fn device(&self) -> &DeviceInUse {
        &self.device
    }

    /// Checks the request against the data contract, runs the model and returns its outputs by name.
    ///
    /// A model with a sequence, map or optional among its inputs or outputs is refused
    /// ([`RuntimeError::NeedsValues`]): call [`Model::infer_values`].
    pub fn infer(&self, inputs: &TensorMap) -> Result<TensorMap, RuntimeError> {
        self.infer_with(inputs, self.drift.as_deref())
    }

    fn infer_with(
        &self,
        inputs: &TensorMap,
        live: Option<&ferry_drift::Live>,
    ) -> Result<TensorMap, RuntimeError> {
        if let Some((name, ty)) = &self.container {
            return Err(RuntimeError::NeedsValues { name: name.clone(), ty: ty.clone() });
        }
        if let Err(e) = self.contract.check_request(inputs) {
            if let Some(live) = live {
                live.refuse(&e.input, e.feature.as_deref(), e.kind.rule());
            }
            return Err(e.into());
        }
        let outputs = self.pool.with_session(|s| session::run(s, &self.input_order, inputs))?;
        for (name, t) in &outputs {
            self.contract
                .check_output(name, t, inputs)
                .map_err(|e| RuntimeError::Output { output: e.output, message: e.kind.to_string() })?;
        }
        for declared in self.contract.output_names() {
            if !outputs.contains_key(declared) {
                return Err(RuntimeError::Output {
                    output: declared.to_owned(),
                    message: "declared by the bundle but not produced by the model".into(),
                });
            }
        }
        if let Some(live) = live {
            live.observe(inputs, &outputs);
        }
        Ok(outputs)
    }

    /// The streaming profile this model keeps of what [`Model::infer`] scores, when its bundle carries
    /// a reference profile: per feature and output column, counts over the reference's buckets (fixed
    /// memory, [`Live::state_bytes`](ferry_drift::Live::state_bytes)), and the requests the contract
    /// refused per feature and rule. A host exports it by comparing snapshots
    /// ([`Live::snapshot`](ferry_drift::Live::snapshot), [`Live::compare`](ferry_drift::Live::compare)).
    pub fn drift(&self) -> Option<&ferry_drift::Live> {
        self.drift.as_deref()
    }

    /// Runs a batch of any size (rows along axis 0 of every input) in calls of at most `rows` rows, and
    /// joins the outputs: for scoring a data sample. Nothing is counted in [`Model::drift`].
    pub fn infer_in_batches(&self, inputs: &TensorMap, rows: usize) -> Result<TensorMap, RuntimeError> {
        let total = inputs.values().next().and_then(|t| t.shape.first().copied()).unwrap_or(0);
        let rows = rows.max(1);
        if total <= rows {
            return self.infer_unobserved(inputs);
        }
        let sizes: Vec<usize> = (0..total).step_by(rows).map(|start| rows.min(total - start)).collect();
        let mut parts: Vec<TensorMap> = vec![TensorMap::new(); sizes.len()];
        for (name, t) in inputs {
            let split = t.split_rows(&sizes).ok_or_else(|| RuntimeError::Output {
                output: name.clone(),
                message: format!("input `{name}` does not have {total} rows along axis 0"),
            })?;
            for (part, piece) in parts.iter_mut().zip(split) {
                part.insert(name.clone(), piece);
            }
        }
        let mut outs: Vec<TensorMap> = Vec::with_capacity(parts.len());
        for part in &parts {
            outs.push(self.infer_unobserved(part)?);
        }
        let mut joined = TensorMap::new();
        for name in outs.first().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            let pieces: Vec<&ferry_tensor::Tensor> = outs.iter().filter_map(|o| o.get(&name)).collect();
            let t = ferry_tensor::Tensor::concat_rows(&pieces).ok_or_else(|| RuntimeError::Output {
                output: name.clone(),
                message: "the batches' outputs cannot be joined along axis 0".into(),
            })?;
            joined.insert(name, t);
        }
        Ok(joined)
    }

    /// A sample scored for a report is not traffic: the streaming profile is left out of it.
    fn infer_unobserved(&self, inputs: &TensorMap) -> Result<TensorMap, RuntimeError> {
        self.infer_with(inputs, None)
    }

    /// Checks a request of values against the data contract, runs the model and returns its outputs of
    /// every kind: sequences, maps and optionals (an skl2onnx classifier's ZipMap) as well as tensors. An
    /// empty optional input is left out, as ONNX Runtime reads a missing optional. For a model of plain
    /// tensors this answers as [`Model::infer`] does, at the cost of wrapping each tensor.
    pub fn infer_values(&self, inputs: &ValueMap) -> Result<ValueMap, RuntimeError> {
        self.contract.check_request(inputs)?;
        let env = self.pool.environment();
        let declared = &self.manifest.inputs;
        let outputs = self.pool.with_session(|s| crate::values::run(s, env, declared, inputs))?;
        for (name, v) in &outputs {
            self.contract
                .check_output_value(name, v, inputs)
                .map_err(|e| RuntimeError::Output { output: e.output, message: e.kind.to_string() })?;
        }
        for declared in self.contract.output_names() {
            if !outputs.contains_key(declared) {
                return Err(RuntimeError::Output {
                    output: declared.to_owned(),
                    message: "declared by the bundle but not produced by the model".into(),
                });
            }
        }
        Ok(outputs)
    }

    /// Reads a request file for this model as [`Model::read_inputs`] does, with the sequences, maps and
    /// optionals a `.json` file may hold for inputs declared so ([`Model::infer_values`]).
    pub fn read_input_values(&self, path: &Path) -> Result<ValueMap, RuntimeError> {
        if !ferry_contract::files::has_containers(&self.manifest.inputs) {
            return self.read_inputs(path).map(ferry_tensor::values_from_tensors);
        }
        let mut refused: Option<(String, DType, Vec<usize>, Box<ContractError>)> = None;
        let mut check = |name: &str, d: &ferry_tensor::Declared<'_>| -> Result<(), ferry_tensor::Refusal> {
            self.contract.check_declared(name, d.dtype, d.shape, d.data_bytes).map_err(|e| {
                refused = Some((d.name.to_owned(), d.dtype, d.shape.to_vec(), e.clone()));
                let reason: ferry_tensor::Refusal = e;
                reason
            })
        };
        let max = self.contract.max_elements();
        let read = ferry_contract::files::read_value_file(path, &self.manifest.inputs, &mut check, max);
        match (read, refused) {
            (Ok(values), _) => Ok(values),
            (Err(_), Some((tensor, dtype, shape, error))) => {
                Err(RuntimeError::Request { path: path.to_path_buf(), tensor, dtype, shape, error })
            }
            (Err(e), None) => Err(RuntimeError::RequestFile(e)),
        }
    }

    /// Reads a request file (`.npy`, `.npz`, `.safetensors` or `.json`) for this model. Each tensor's
    /// header (dtype and shape) is checked against the data contract before its data is read or inflated
    /// ([`Contract::check_declared`]), so a small file that declares more than the contract allows is
    /// refused ([`RuntimeError::Request`]) without costing memory. A lone `.npy` holds one unnamed tensor:
    /// it stands for the model's single input. Bare JSON arrays take the declared dtypes.
    pub fn read_inputs(&self, path: &Path) -> Result<TensorMap, RuntimeError> {
        let mut refused: Option<(String, DType, Vec<usize>, Box<ContractError>)> = None;
        let mut check = |name: &str, d: &ferry_tensor::Declared<'_>| -> Result<(), ferry_tensor::Refusal> {
            self.contract.check_declared(name, d.dtype, d.shape, d.data_bytes).map_err(|e| {
                refused = Some((d.name.to_owned(), d.dtype, d.shape.to_vec(), e.clone()));
                let reason: ferry_tensor::Refusal = e;
                reason
            })
        };
        let read = ferry_contract::files::read_tensor_file(path, &self.manifest.inputs, &mut check);
        match (read, refused) {
            (Ok(tensors), _) => Ok(tensors),
            (Err(_), Some((tensor, dtype, shape, error))) => {
                Err(RuntimeError::Request { path: path.to_path_buf(), tensor, dtype, shape, error })
            }
            (Err(e), None) => Err(RuntimeError::RequestFile(e)),
        }
    }

    /// The bundle's data contract, as [`Model::infer`] enforces it: a server checks each request with
    /// it before merging requests into one call, so that one bad request never fails its neighbours.
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// Whether opening this model skipped hashing its bundle because the verified-digest cache knew the
    /// file unchanged since a full check ([`RuntimeOptions::always_rehash`]).
    pub fn digests_cached(&self) -> bool {
        self.digests_cached
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The effective configuration the model runs with.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// The opened bundle (absent for models built from raw ONNX in tests).
    pub fn bundle(&self) -> Option<&Bundle> {
        self.bundle.as_deref()
    }

    /// Intra-op threads per session (0: ONNX Runtime's default).
    pub fn intra_op_threads(&self) -> usize {
        self.intra_op_threads
    }

    /// The most sessions this model will create.
    pub fn max_sessions(&self) -> usize {
        self.pool.max_sessions()
    }

    /// Sessions created so far (at least one).
    pub fn sessions_created(&self) -> usize {
        self.pool.sessions_created()
    }

    /// Creates sessions up to `sessions` (bounded by [`Model::max_sessions`]) now rather than under the
    /// first burst of concurrent requests; returns how many exist.
    pub fn prewarm(&self, sessions: usize) -> Result<usize, RuntimeError> {
        self.pool.prewarm(sessions)
    }

    /// How many weight tensors are held once and shared by every session.
    #[doc(hidden)]
    pub fn shared_initializers(&self) -> usize {
        self.pool.shared_initializers()
    }

    /// How many of those ONNX Runtime reads in place from the bundle's memory map (no copy).
    #[doc(hidden)]
    pub fn weights_in_place(&self) -> usize {
        self.pool.weights_in_place()
    }

    /// The directory of empty stand-ins for the external-data files ONNX Runtime is not handed at all,
    /// if there are any.
    #[doc(hidden)]
    pub fn stand_in_dir(&self) -> Option<std::path::PathBuf> {
        self.pool.stand_in_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn model_is_send_and_sync() {
        assert_send_sync::<Model>();
        assert_send_sync::<Runtime>();
    }

    #[test]
    fn thread_counts_are_capped() {
        let cap = max_threads();
        assert!((1..=MAX_THREADS).contains(&cap));
        for options in [
            RuntimeOptions { intra_op_threads: Some(1_000_000), ..Default::default() },
            RuntimeOptions { max_sessions: Some(cap + 1), ..Default::default() },
        ] {
            let Err(e) = Runtime::new(options) else { panic!("accepted") };
            assert!(matches!(e, RuntimeError::Threads { cap: c, .. } if c == cap), "{e}");
            assert!(
                e.to_string().contains(&format!("more than the {cap} threads allowed on this machine")),
                "{e}"
            );
        }
        let e = check_threads("config /intra_op_threads", 2000).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "config /intra_op_threads = 2000 is more than the {cap} threads allowed on this machine (4 per core, at most 1024)"
            )
        );
        assert_eq!(check_threads("intra_op_threads", cap).unwrap(), cap);
    }

    #[test]
    fn external_data_named_only_in_a_subgraph_is_found() {
        use ferry_onnx::encode::{ProtoWriter, external_tensor};
        // graph { If(then_branch = graph { initializer sub (external "sub.bin") }) }; nothing is pinned,
        // so only a reader that walks subgraphs finds the file.
        let mut body = ProtoWriter::new();
        body.message(5, &external_tensor("sub", DType::Float32, &[1], "sub.bin", 0, 4));
        let mut attr = ProtoWriter::new();
        attr.string(1, "then_branch").message(6, &body).varint(20, 5);
        let mut node = ProtoWriter::new();
        node.string(1, "cond").string(4, "If").message(5, &attr);
        let mut graph = ProtoWriter::new();
        graph.message(1, &node);
        let mut model = ProtoWriter::new();
        model.message(7, &graph);

        let data: Arc<[u8]> = Arc::from(&[0u8; 4][..]);
        let present = |l: &str| Ok((l == "sub.bin").then(|| External::Owned(Arc::clone(&data))));
        let found = external_files(model.as_bytes(), &[], "m/model.onnx", &present).unwrap();
        assert_eq!(found.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["sub.bin"]);

        let absent = |_: &str| Ok(None);
        let e = external_files(model.as_bytes(), &[], "m/model.onnx", &absent).unwrap_err();
        assert!(e.to_string().contains("external data file `sub.bin` is not in the bundle"), "{e}");

        let e = external_files(b"\xff", &[], "m/model.onnx", &absent).unwrap_err();
        assert!(matches!(e, RuntimeError::Model { .. }), "{e}");
    }
}
