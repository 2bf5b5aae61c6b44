//! ONNX Runtime sessions for one model: a small pool that lets concurrent callers run in parallel while
//! the weights are held once.
//!
//! `ort::Session::run` takes `&mut self` (ort guards against thread-unsafe internals of some execution
//! providers), so one session cannot serve two callers at once without a lock. Instead a model keeps up to
//! `max_sessions` sessions, created on demand, each behind its own mutex: a caller takes the first free
//! one, and only waits when all are busy. The weights are not multiplied: large initializers are turned
//! into ONNX Runtime values once and handed to every session (`AddInitializer`, which ONNX Runtime uses
//! in place), and pre-packed kernels share one `PrepackedWeights` container.

use crate::RuntimeError;
use ferry_bundle::Bundle;
use ferry_onnx::{Initializer, InitializerData};
use ferry_spec::DType;
use ferry_tensor::{Tensor, TensorData, TensorMap};
use ort::session::builder::PrepackedWeights;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, TensorElementType, TensorRef};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

/// Where the model's bytes live; re-borrowed each time a session is created so that a memory-mapped
/// bundle's graph is never copied into the heap.
pub(crate) enum ModelBytes {
    Bundle { bundle: Arc<Bundle>, path: String },
    Owned(Arc<[u8]>),
}

impl ModelBytes {
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>, RuntimeError> {
        match self {
            ModelBytes::Bundle { bundle, path } => Ok(bundle.file(path)?),
            ModelBytes::Owned(b) => Ok(Cow::Borrowed(b)),
        }
    }

    pub fn path(&self) -> &str {
        match self {
            ModelBytes::Bundle { path, .. } => path,
            ModelBytes::Owned(_) => "model.onnx",
        }
    }
}

/// An external-data file: read in place from the bundle's memory map, or a copy (a model built from
/// bytes, or a file the bundle stores compressed).
#[derive(Debug)]
pub(crate) enum External {
    InBundle { bundle: Arc<Bundle>, blob: String },
    Owned(Arc<[u8]>),
}

impl External {
    pub fn bytes(&self) -> &[u8] {
        match self {
            // The blob was found when this was made; the bundle never changes, so this cannot fail.
            External::InBundle { bundle, blob } => bundle.blob(blob).unwrap_or_default(),
            External::Owned(b) => b,
        }
    }
}

/// A weight every session shares: a value over the bundle's memory map, or a decoded copy.
pub(crate) enum Shared {
    Mapped(Arc<crate::mapped::MappedTensor>),
    Owned(Arc<DynValue>),
}

/// Empty stand-ins, in a private temporary directory, for the external-data files whose every
/// initializer ONNX Runtime is given in place ([`Shared::Mapped`]).
///
/// ONNX Runtime checks that each external-data file a model names exists before it looks at the
/// initializers a caller supplies, and the only other way past that check, handing it the file's bytes
/// (`AddExternalInitializersFromMemory`), makes it copy every initializer out of them: a second copy of
/// all the weights on every open. It reads nothing from a file whose initializers are all supplied, so an
/// empty file of that name satisfies the check; were it ever read, its length (0) would fail the read with
/// an error, never yield other bytes. Removed when the model is dropped.
pub(crate) struct StandIns {
    dir: std::path::PathBuf,
}

impl StandIns {
    /// The directory, with an empty file at each of `locations` (safe relative paths); `None` when it
    /// cannot be made (then the files are handed over in memory, as before).
    pub fn create(locations: &[String]) -> Option<StandIns> {
        use std::os::unix::fs::DirBuilderExt as _;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir();
        let dir = (0..64).find_map(|_| {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("ferry-weights-{}-{n}", std::process::id()));
            // Not recursive: a directory that already exists (someone else's) is never used.
            std::fs::DirBuilder::new().mode(0o700).create(&dir).ok().map(|()| dir)
        })?;
        let stand_ins = StandIns { dir };
        for location in locations {
            let path = stand_ins.dir.join(location);
            let parent = path.parent()?;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).ok()?;
            std::fs::OpenOptions::new().write(true).create_new(true).open(&path).ok()?;
        }
        stand_ins.dir.to_str()?;
        Some(stand_ins)
    }

    fn dir(&self) -> &str {
        self.dir.to_str().unwrap_or_default()
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The external-data files ONNX Runtime can be spared entirely: in the bundle, named by no subgraph,
/// sparse initializer or attribute, and every main-graph initializer in them shared in place.
pub(crate) fn in_place_files(
    model: &[u8],
    external: &[(String, External)],
    shared: &[(String, Shared)],
) -> Vec<String> {
    let (Ok(info), Ok(initializers)) = (ferry_onnx::read_model(model), ferry_onnx::read_initializers(model))
    else {
        return Vec::new();
    };
    let in_place = |name: &str| shared.iter().any(|(n, s)| n == name && matches!(s, Shared::Mapped(_)));
    external
        .iter()
        .filter(|(location, data)| {
            matches!(data, External::InBundle { .. })
                && !info.external_data_elsewhere.contains(location)
                && initializers
                    .iter()
                    .filter(
                        |i| matches!(&i.data, InitializerData::External { location: l, .. } if l == location),
                    )
                    .all(|i| in_place(&i.name))
        })
        .map(|(location, _)| location.clone())
        .collect()
}

/// Everything needed to create one more session of the model.
pub(crate) struct SessionFactory {
    pub env: ort::environment::Environment,
    /// The CUDA device the sessions run on; `None`: the CPU.
    pub cuda: Option<i32>,
    pub model: ModelBytes,
    pub intra_op_threads: usize,
    /// External-data files by the location the graph names, registered with every session.
    pub external_files: Vec<(String, External)>,
    /// Weights shared by every session. Declared after nothing that outlives it: sessions live in the
    /// pool's slots, which are dropped before the pool's factory and so before these values.
    pub shared: Vec<(String, Shared)>,
    /// Shares ONNX Runtime's pre-packed forms of the shared weights; only meaningful when some are shared.
    pub prepacked: Option<PrepackedWeights>,
    /// Stand-ins for the external-data files not handed to ONNX Runtime at all (their weights are all
    /// in `shared`, in place).
    pub stand_ins: Option<(StandIns, Vec<String>)>,
}

impl std::fmt::Debug for SessionFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionFactory")
            .field("model", &self.model.path())
            .field("intra_op_threads", &self.intra_op_threads)
            .field(
                "external_files",
                &self.external_files.iter().map(|(n, b)| (n, b.bytes().len())).collect::<Vec<_>>(),
            )
            .field("shared_initializers", &self.shared.len())
            .finish_non_exhaustive()
    }
}

impl SessionFactory {
    pub fn create(&self) -> Result<Session, RuntimeError> {
        let file = self.model.path().to_owned();
        let err = |e: ort::Error| RuntimeError::Session { file: file.clone(), message: e.to_string() };
        let bytes = self.model.bytes()?;
        let mut builder = Session::builder(&self.env)
            .map_err(err)?
            .with_intra_threads(self.intra_op_threads)
            .map_err(|e| err(e.into()))?;
        if let Some(device_id) = self.cuda {
            // Registration must fail loudly: ONNX Runtime's default is to fall back to the CPU silently,
            // and a caller who asked for a GPU must not be told it ran on one when it did not.
            let cuda = ort::ep::CUDA::default()
                .with_device_id(device_id)
                .with_tf32(false)
                .build()
                .error_on_failure();
            builder = builder.with_execution_providers([cuda]).map_err(|e| RuntimeError::Device {
                device: format!("cuda:{device_id}"),
                reason: format!("ONNX Runtime's CUDA execution provider did not load: {e}"),
            })?;
        }
        if let Some(prepacked) = &self.prepacked {
            builder = builder.with_prepacked_weights(prepacked).map_err(|e| err(e.into()))?;
        }
        let raw = |message: String| RuntimeError::Session { file: file.clone(), message };
        let mut skip: &[String] = &[];
        if let Some((stand_ins, files)) = &self.stand_ins {
            builder = builder
                .with_config_entry("session.model_external_initializers_file_folder_path", stand_ins.dir())
                .map_err(|e| err(e.into()))?;
            skip = files;
        }
        for (location, data) in self.external_files.iter().filter(|(l, _)| !skip.contains(l)) {
            builder = match data {
                External::Owned(bytes) => builder
                    .with_external_initializer_file_in_memory(location, Arc::clone(bytes))
                    .map_err(|e| err(e.into()))?,
                External::InBundle { bundle, .. } => {
                    crate::mapped::add_external_file(&mut builder, bundle, location, data.bytes())
                        .map_err(raw)?;
                    builder
                }
            };
        }
        for (name, value) in &self.shared {
            builder = match value {
                Shared::Owned(v) => {
                    builder.with_initializer(name, Arc::clone(v)).map_err(|e| err(e.into()))?
                }
                Shared::Mapped(t) => {
                    crate::mapped::add_initializer(&mut builder, name, t).map_err(raw)?;
                    builder
                }
            };
        }
        builder.commit_from_memory(&bytes).map_err(err)
    }
}

/// Initializers smaller than this stay in the graph, where ONNX Runtime's optimizers may fold them.
const SHARE_MIN_BYTES: usize = 4096;

/// The shareable initializers as ONNX Runtime values: over the bundle's memory map where the weights
/// lie in it (external data, aligned), else decoded. `external` holds the files the graph names, by
/// location.
///
/// An optimisation only: anything unexpected (a model ferry-onnx cannot read, typed-field storage, an
/// unsupported dtype, sizes that disagree) leaves the initializer, or the whole model, to ONNX Runtime,
/// which loads the weights itself and reports any real error.
pub(crate) fn shared_initializers(model: &[u8], external: &[(String, External)]) -> Vec<(String, Shared)> {
    let Ok(found) = ferry_onnx::read_initializers(model) else { return Vec::new() };
    found
        .into_iter()
        .filter_map(|init| {
            let Shareable { dtype, dims, len } = shareable(&init)?;
            let value = match &init.data {
                InitializerData::Raw(range) if range.len() == len => {
                    Shared::Owned(Arc::new(decode(dtype, &dims, model.get(range.clone())?)?))
                }
                InitializerData::External { location, offset, .. } => {
                    let (_, file) = external.iter().find(|(n, _)| n == location)?;
                    let start = usize::try_from(*offset).ok()?;
                    let bytes = file.bytes().get(start..start.checked_add(len)?)?;
                    // Weights in the bundle are used where they lie; a copy only when they cannot be.
                    let mapped = match file {
                        External::InBundle { bundle, .. } => {
                            crate::mapped::tensor(bundle, bytes, dtype, &dims)
                        }
                        External::Owned(_) => None,
                    };
                    match mapped {
                        Some(t) => Shared::Mapped(Arc::new(t)),
                        None => Shared::Owned(Arc::new(decode(dtype, &dims, bytes)?)),
                    }
                }
                _ => return None,
            };
            Some((init.name, value))
        })
        .collect()
}

/// What decoding a shared initializer needs.
#[derive(Debug, PartialEq, Eq)]
struct Shareable {
    dtype: DType,
    dims: Vec<usize>,
    /// The data's length in bytes.
    len: usize,
}

/// An initializer worth sharing: named, at least [`SHARE_MIN_BYTES`], a fixed-size dtype, stored as raw
/// bytes or as external data whose declared length (if any) matches its dtype and dims.
fn shareable(init: &Initializer) -> Option<Shareable> {
    let dtype = init.dtype.filter(|d| *d != DType::String)?;
    let dims = init.dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<usize>>>()?;
    let len = init.data_len()?;
    let stored = match &init.data {
        InitializerData::Raw(range) => u64::try_from(range.len()).ok(),
        InitializerData::External { length, .. } => Some(length.unwrap_or(len)),
        InitializerData::Typed | InitializerData::Empty => None,
    };
    let len = usize::try_from(len).ok()?;
    (!init.name.is_empty() && len >= SHARE_MIN_BYTES && stored == u64::try_from(len).ok())
        .then_some(Shareable { dtype, dims, len })
}

fn decode(dtype: DType, dims: &[usize], bytes: &[u8]) -> Option<DynValue> {
    fn owned<T, const N: usize>(dims: &[usize], bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Option<DynValue>
    where
        T: ort::value::PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static,
    {
        let data: Vec<T> =
            bytes.chunks_exact(N).map(|c| c.try_into().map(&f)).collect::<Result<_, _>>().ok()?;
        ort::value::Tensor::from_array((dims.to_vec(), data)).ok().map(DynValue::from)
    }
    let d = dims;
    match dtype {
        DType::Float32 => owned(d, bytes, f32::from_le_bytes),
        DType::Float64 => owned(d, bytes, f64::from_le_bytes),
        DType::Float16 => owned(d, bytes, |b| half::f16::from_bits(u16::from_le_bytes(b))),
        DType::Int8 => owned(d, bytes, i8::from_le_bytes),
        DType::Int16 => owned(d, bytes, i16::from_le_bytes),
        DType::Int32 => owned(d, bytes, i32::from_le_bytes),
        DType::Int64 => owned(d, bytes, i64::from_le_bytes),
        DType::Uint8 => owned(d, bytes, u8::from_le_bytes),
        DType::Uint16 => owned(d, bytes, u16::from_le_bytes),
        DType::Uint32 => owned(d, bytes, u32::from_le_bytes),
        DType::Uint64 => owned(d, bytes, u64::from_le_bytes),
        DType::Bool => {
            if bytes.iter().any(|&b| b > 1) {
                return None;
            }
            owned(d, bytes, |[b]: [u8; 1]| b == 1)
        }
        DType::String => None,
        DType::BFloat16 => owned(d, bytes, |b| half::bf16::from_bits(u16::from_le_bytes(b))),
        // No safe ort constructor: left in the graph, where ONNX Runtime loads them itself.
        DType::Float8E4M3FN
        | DType::Float8E4M3FNUZ
        | DType::Float8E5M2
        | DType::Float8E5M2FNUZ
        | DType::Int4
        | DType::Uint4 => None,
    }
}

/// Up to `slots.len()` sessions, created on first need.
pub(crate) struct SessionPool {
    slots: Box<[Mutex<Option<Session>>]>,
    next: AtomicUsize,
    created: AtomicUsize,
    factory: SessionFactory,
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionPool")
            .field("max_sessions", &self.slots.len())
            .field("created", &self.created.load(Ordering::Relaxed))
            .field("factory", &self.factory)
            .finish()
    }
}

impl SessionPool {
    /// The ONNX Runtime environment the pool's sessions run in.
    pub(crate) fn environment(&self) -> &ort::environment::Environment {
        &self.factory.env
    }

    /// A pool whose first session is created now, so that a model that opens can run.
    pub fn new(factory: SessionFactory, max_sessions: usize) -> Result<SessionPool, RuntimeError> {
        let first = factory.create()?;
        let mut slots: Vec<Mutex<Option<Session>>> = Vec::with_capacity(max_sessions.max(1));
        slots.push(Mutex::new(Some(first)));
        slots.resize_with(max_sessions.max(1), || Mutex::new(None));
        Ok(SessionPool {
            slots: slots.into_boxed_slice(),
            next: AtomicUsize::new(0),
            created: AtomicUsize::new(1),
            factory,
        })
    }

    pub fn max_sessions(&self) -> usize {
        self.slots.len()
    }

    pub fn sessions_created(&self) -> usize {
        self.created.load(Ordering::Relaxed)
    }

    /// Creates sessions until `n` exist (at most the pool's size); returns how many exist.
    pub fn prewarm(&self, n: usize) -> Result<usize, RuntimeError> {
        for slot in self.slots.iter() {
            if self.sessions_created() >= n {
                break;
            }
            let mut guard = match slot.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            if guard.is_none() {
                *guard = Some(self.factory.create()?);
                self.created.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(self.sessions_created())
    }

    /// How many initializers every session shares.
    pub fn shared_initializers(&self) -> usize {
        self.factory.shared.len()
    }

    pub fn stand_in_dir(&self) -> Option<std::path::PathBuf> {
        self.factory.stand_ins.as_ref().map(|(s, _)| s.dir.clone())
    }

    /// How many of the shared initializers are values over the bundle's memory map.
    pub fn weights_in_place(&self) -> usize {
        self.factory.shared.iter().filter(|(_, s)| matches!(s, Shared::Mapped(_))).count()
    }

    /// Runs `f` with a session nobody else is using.
    pub fn with_session<R>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<R, RuntimeError>,
    ) -> Result<R, RuntimeError> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        // First an idle existing session, so the pool grows only under real concurrency.
        for i in 0..n {
            let slot = &self.slots[(start + i) % n];
            match slot.try_lock() {
                Ok(mut guard) => {
                    if let Some(session) = guard.as_mut() {
                        return f(session);
                    }
                }
                Err(TryLockError::Poisoned(p)) => {
                    let mut guard = p.into_inner();
                    if let Some(session) = guard.as_mut() {
                        return f(session);
                    }
                }
                Err(TryLockError::WouldBlock) => {}
            }
        }
        // Then an empty slot: one more session.
        for i in 0..n {
            let slot = &self.slots[(start + i) % n];
            let guard = match slot.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            return self.run_in(guard, f);
        }
        // Everything is busy: wait for one.
        let guard = self.slots[start].lock().unwrap_or_else(PoisonError::into_inner);
        self.run_in(guard, f)
    }

    fn run_in<R>(
        &self,
        mut guard: std::sync::MutexGuard<'_, Option<Session>>,
        f: impl FnOnce(&mut Session) -> Result<R, RuntimeError>,
    ) -> Result<R, RuntimeError> {
        let session = match guard.as_mut() {
            Some(s) => s,
            None => {
                let s = self.factory.create()?;
                self.created.fetch_add(1, Ordering::Relaxed);
                guard.insert(s)
            }
        };
        f(session)
    }
}

fn ort_shape(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect()
}

fn inference_err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Inference { message: e.to_string() }
}

/// A view of a request tensor for ONNX Runtime: borrowed, not copied (strings excepted, which ONNX Runtime
/// must own).
pub(crate) fn input_value<'a>(t: &'a Tensor) -> Result<SessionInputValue<'a>, RuntimeError> {
    let shape = ort_shape(&t.shape);
    fn view<'a, T>(shape: Vec<i64>, data: &'a [T]) -> Result<SessionInputValue<'a>, RuntimeError>
    where
        T: ort::value::PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static,
    {
        Ok(TensorRef::from_array_view((shape, data)).map_err(inference_err)?.into())
    }
    match &t.data {
        TensorData::F16(v) => view(shape, v),
        TensorData::F32(v) => view(shape, v),
        TensorData::F64(v) => view(shape, v),
        TensorData::I8(v) => view(shape, v),
        TensorData::I16(v) => view(shape, v),
        TensorData::I32(v) => view(shape, v),
        TensorData::I64(v) => view(shape, v),
        TensorData::U8(v) => view(shape, v),
        TensorData::U16(v) => view(shape, v),
        TensorData::U32(v) => view(shape, v),
        TensorData::U64(v) => view(shape, v),
        TensorData::Bool(v) => view(shape, v),
        TensorData::String(v) => {
            Ok(ort::value::Tensor::from_string_array((shape, v.as_slice())).map_err(inference_err)?.into())
        }
        TensorData::BF16(v) => view(shape, v),
        // float8 and int4/uint4: copied into a raw ONNX Runtime buffer (`raw_value`).
        TensorData::F8E4M3FN(_)
        | TensorData::F8E4M3FNUZ(_)
        | TensorData::F8E5M2(_)
        | TensorData::F8E5M2FNUZ(_)
        | TensorData::I4(_)
        | TensorData::U4(_) => match crate::raw_value::input(t).map_err(inference_err)? {
            Some(value) => Ok(value.into()),
            None => Err(inference_err(format!("no ONNX Runtime value for {}", t.dtype()))),
        },
    }
}

/// Copies an ONNX Runtime output into a [`Tensor`].
pub(crate) fn output_tensor(name: &str, value: &DynValue) -> Result<Tensor, RuntimeError> {
    let out_err = |message: String| RuntimeError::Output { output: name.to_owned(), message };
    let ty = value
        .dtype()
        .tensor_type()
        .ok_or_else(|| out_err(format!("is a {}, not a tensor", value.dtype())))?;
    fn take<T: ort::value::PrimitiveTensorElementType + Clone>(
        value: &DynValue,
        wrap: fn(Vec<T>) -> TensorData,
    ) -> Result<(Vec<usize>, TensorData), String> {
        let (shape, data) = value.try_extract_tensor::<T>().map_err(|e| e.to_string())?;
        Ok((dims(shape)?, wrap(data.to_vec())))
    }
    fn dims(shape: &[i64]) -> Result<Vec<usize>, String> {
        shape.iter().map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}"))).collect()
    }
    let (shape, data) = match ty {
        TensorElementType::Float16 => take(value, TensorData::F16),
        TensorElementType::Float32 => take(value, TensorData::F32),
        TensorElementType::Float64 => take(value, TensorData::F64),
        TensorElementType::Int8 => take(value, TensorData::I8),
        TensorElementType::Int16 => take(value, TensorData::I16),
        TensorElementType::Int32 => take(value, TensorData::I32),
        TensorElementType::Int64 => take(value, TensorData::I64),
        TensorElementType::Uint8 => take(value, TensorData::U8),
        TensorElementType::Uint16 => take(value, TensorData::U16),
        TensorElementType::Uint32 => take(value, TensorData::U32),
        TensorElementType::Uint64 => take(value, TensorData::U64),
        TensorElementType::Bool => take(value, TensorData::Bool),
        TensorElementType::Bfloat16 => take(value, TensorData::BF16),
        other @ (TensorElementType::Float8E4M3FN
        | TensorElementType::Float8E4M3FNUZ
        | TensorElementType::Float8E5M2
        | TensorElementType::Float8E5M2FNUZ
        | TensorElementType::Int4
        | TensorElementType::Uint4) => crate::raw_value::output(value, other)
            .unwrap_or_else(|| Err(format!("element type {other} is not supported by Ferry"))),
        TensorElementType::String => value
            .try_extract_strings()
            .map_err(|e| e.to_string())
            .and_then(|(shape, v)| Ok((dims(shape)?, TensorData::String(v)))),
        other => Err(format!("element type {other} is not supported by Ferry")),
    }
    .map_err(out_err)?;
    Ok(Tensor { shape, data })
}

/// Runs one request on `session`: inputs in the contract's order, outputs copied into a [`TensorMap`].
pub(crate) fn run(
    session: &mut Session,
    order: &[String],
    inputs: &TensorMap,
) -> Result<TensorMap, RuntimeError> {
    let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(order.len());
    for name in order {
        let t = inputs
            .get(name)
            .ok_or_else(|| RuntimeError::Inference { message: format!("input `{name}` vanished") })?;
        values.push((Cow::Borrowed(name.as_str()), input_value(t)?));
    }
    let outputs = session.run(values).map_err(inference_err)?;
    let mut out = TensorMap::new();
    for (name, value) in outputs.iter() {
        out.insert(name.to_owned(), output_tensor(name, &value)?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferry_onnx::encode::{ModelBuilder, ProtoWriter, external_tensor};

    fn model_with(tensors: &[ProtoWriter]) -> Vec<u8> {
        let model = tensors.iter().cloned().fold(ModelBuilder::new(13), ModelBuilder::raw_initializer);
        model.build()
    }

    fn raw_tensor(name: &str, dims: &[u64], bytes: &[u8]) -> ProtoWriter {
        let mut t = ProtoWriter::new();
        for d in dims {
            t.varint(1, *d);
        }
        t.varint(2, 1).string(8, name).bytes(9, bytes);
        t
    }

    fn share_plan(model: &[u8]) -> Vec<(String, Option<Shareable>)> {
        let found = ferry_onnx::read_initializers(model).unwrap();
        found.into_iter().map(|i| (i.name.clone(), shareable(&i))).collect()
    }

    #[test]
    fn large_raw_and_external_weights_are_shared_small_and_mismatched_ones_not() {
        let model = model_with(&[
            raw_tensor("big", &[32, 32], &[7u8; 4096]),
            raw_tensor("small", &[4], &[1u8; 16]),
            raw_tensor("bad", &[32, 33], &[0u8; 4096]),
            external_tensor("ext", DType::Float32, &[1024], "w.bin", 64, 4096),
            external_tensor("ext_bad", DType::Float32, &[1024], "w.bin", 0, 4092),
        ]);
        let plan = share_plan(&model);
        let big = Some(Shareable { dtype: DType::Float32, dims: vec![32, 32], len: 4096 });
        let ext = Some(Shareable { dtype: DType::Float32, dims: vec![1024], len: 4096 });
        assert_eq!(
            plan,
            vec![
                ("big".into(), big),
                ("small".into(), None),
                ("bad".into(), None),
                ("ext".into(), ext),
                ("ext_bad".into(), None)
            ]
        );
    }
}
