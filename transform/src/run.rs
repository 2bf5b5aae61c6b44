//! Running components: the engine, the loaded transform and its calls.

mod cache;
mod error;
mod sandbox;
mod wire;

pub use error::{Stage, TransformError};
pub use sandbox::{Limits, Sandbox};

use crate::describe;
use sandbox::Host;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, Linker};

mod bindings {
    pub(crate) mod prepare {
        wasmtime::component::bindgen!({ path: "../spec/wit/transform.wit", world: "prepare" });
    }
    pub(crate) mod decide {
        wasmtime::component::bindgen!({ path: "../spec/wit/transform.wit", world: "decide" });
    }
}

/// How often the deadline clock ticks: the granularity of [`Limits::deadline`].
const TICK: Duration = Duration::from_millis(5);

/// The engine transforms run on: Cranelift with the component model and epoch interruption, a thread
/// that advances the epoch every few milliseconds, and an optional compilation cache directory.
///
/// Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct Runtime {
    engine: wasmtime::Engine,
    linker: Arc<Linker<Host>>,
    cache: Option<Arc<cache::CacheDir>>,
    /// Components compiled (or loaded) by this engine, by SHA-256: a component named by both stages, or
    /// by several bundles, is compiled once per process.
    compiled: Arc<Mutex<std::collections::HashMap<[u8; 32], Component>>>,
    _ticker: Arc<Ticker>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cache", &self.cache.as_ref().map(|c| c.path())).finish()
    }
}

/// Stops the epoch thread when the last [`Runtime`] clone goes.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// An engine; with `cache_dir`, compiled components are kept there (created `0700` if missing) and
    /// reused by later processes. A cache that cannot be used is skipped, never an error of the call.
    pub fn new(cache_dir: Option<&Path>) -> Result<Runtime, TransformError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = wasmtime::Engine::new(&config).map_err(TransformError::engine)?;
        let mut linker = Linker::<Host>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(TransformError::engine)?;
        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("ferry-transform-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| TransformError::Engine {
                    message: format!("cannot start the deadline thread: {e}"),
                })?;
        }
        let cache = cache_dir.and_then(|dir| cache::CacheDir::open(dir, &engine).ok()).map(Arc::new);
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache,
            compiled: Arc::default(),
            _ticker: Arc::new(Ticker { stop }),
        })
    }

    /// The cache directory in use, if any.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache.as_deref().map(cache::CacheDir::path)
    }

    /// Compiles `bytes`, or loads the compiled code from the cache; says whether the cache had it.
    fn component(&self, name: &str, bytes: &[u8]) -> Result<(Component, bool), TransformError> {
        let digest = ferry_digest::sha256(bytes);
        let compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(&digest).cloned();
        if let Some(component) = compiled {
            return Ok((component, true));
        }
        let (component, cached) = self.compile(name, bytes, &digest)?;
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).insert(digest, component.clone());
        Ok((component, cached))
    }

    fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        digest: &[u8; 32],
    ) -> Result<(Component, bool), TransformError> {
        if let Some(cache) = &self.cache
            && let Some(component) = cache.load(&self.engine, digest)
        {
            return Ok((component, true));
        }
        let compile = |e| TransformError::NotAComponent { transform: name.to_owned(), source: e };
        let component = match &self.cache {
            Some(cache) => {
                let compiled = self.engine.precompile_component(bytes).map_err(compile)?;
                cache.store(digest, &compiled);
                cache.deserialize(&self.engine, &compiled).map_err(compile)?
            }
            None => Component::new(&self.engine, bytes).map_err(compile)?,
        };
        Ok((component, false))
    }
}

/// One loaded transform: a component checked to export its stage's function, linked against the
/// sandbox, ready to instantiate.
pub struct Transform {
    name: String,
    stage: Stage,
    digest: [u8; 32],
    runtime: Runtime,
    pre: Pre,
    limits: Limits,
    sandbox: Sandbox,
    slots: Arc<Slots>,
    /// Instances between calls, at most `limits.concurrency`.
    pool: Mutex<Vec<Warm>>,
    from_cache: bool,
}

enum Pre {
    Prepare(bindings::prepare::PreparePre<Host>),
    Decide(bindings::decide::DecidePre<Host>),
}

impl std::fmt::Debug for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transform")
            .field("name", &self.name)
            .field("stage", &self.stage)
            .field("sha256", &hex::encode(self.digest))
            .field("limits", &self.limits)
            .field("sandbox", &self.sandbox)
            .finish()
    }
}

impl Transform {
    /// Compiles (or loads from the cache) the component `bytes`, named `name` in errors (its path in the
    /// bundle), and checks that it exports `stage`'s function with the right type and imports nothing
    /// the sandbox does not provide.
    pub fn load(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        stage: Stage,
        limits: Limits,
        sandbox: Sandbox,
    ) -> Result<Transform, TransformError> {
        let info = describe::read_faces(bytes)
            .map_err(|message| TransformError::Invalid { transform: name.to_owned(), message })?;
        if !info.exports.iter().any(|e| e == stage.export()) {
            return Err(TransformError::MissingExport {
                transform: name.to_owned(),
                stage,
                exports: info.exports,
            });
        }
        let (component, from_cache) = runtime.component(name, bytes)?;
        let instance_pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(|e| TransformError::Imports { transform: name.to_owned(), message: format!("{e:#}") })?;
        let wrong_type = |e: wasmtime::Error| TransformError::WrongExport {
            transform: name.to_owned(),
            stage,
            message: format!("{e:#}"),
        };
        let pre = match stage {
            Stage::Prepare => {
                Pre::Prepare(bindings::prepare::PreparePre::new(instance_pre).map_err(wrong_type)?)
            }
            Stage::Decide => Pre::Decide(bindings::decide::DecidePre::new(instance_pre).map_err(wrong_type)?),
        };
        let slots = Arc::new(Slots::new(limits.concurrency));
        Ok(Transform {
            name: name.to_owned(),
            stage,
            digest: ferry_digest::sha256(bytes),
            runtime: runtime.clone(),
            pre,
            limits,
            sandbox,
            slots,
            pool: Mutex::new(Vec::new()),
            from_cache,
        })
    }

    /// The transform's name (its path in the bundle).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stage it runs at.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The lower-case hex SHA-256 of the component.
    pub fn sha256(&self) -> String {
        hex::encode(self.digest)
    }

    /// Whether the compiled code was reused (from this engine, or its cache directory) rather than made
    /// by Cranelift for this load.
    pub fn was_cached(&self) -> bool {
        self.from_cache
    }

    /// Runs `prepare` on a batch of records (one JSON object each) with the effective configuration
    /// (JSON): the model's input tensors, by name.
    pub fn prepare(
        &self,
        records: &[String],
        config: &str,
    ) -> Result<ferry_tensor::TensorMap, TransformError> {
        let Pre::Prepare(pre) = &self.pre else {
            return Err(self.wrong_stage(Stage::Prepare));
        };
        let _slot = self.slots.acquire();
        let mut warm = self.warm(|store| pre.instantiate(store).map(Instance::Prepare), records.len())?;
        let Instance::Prepare(instance) = &warm.instance else {
            return Err(self.wrong_stage(Stage::Prepare));
        };
        let result =
            instance.call_prepare(&mut warm.store, records, config).map(|r| r.map_err(RefusalParts::from));
        let store = self.release(warm, result.is_ok());
        let tensors = self.finish(&store, result, records.len())?;
        wire::tensors_from_wire(tensors).map_err(|detail| self.bad_output(detail))
    }

    /// Runs `decide` on the model's outputs for a batch, with the batch's records and the effective
    /// configuration: one JSON result per record, checked to be one per record and to parse as JSON.
    pub fn decide(
        &self,
        outputs: &ferry_tensor::TensorMap,
        records: &[String],
        config: &str,
    ) -> Result<Vec<String>, TransformError> {
        let Pre::Decide(pre) = &self.pre else {
            return Err(self.wrong_stage(Stage::Decide));
        };
        let wire = wire::tensors_to_wire(outputs)
            .map_err(|detail| TransformError::Unrepresentable { transform: self.name.clone(), detail })?;
        let _slot = self.slots.acquire();
        let mut warm = self.warm(|store| pre.instantiate(store).map(Instance::Decide), records.len())?;
        let Instance::Decide(instance) = &warm.instance else {
            return Err(self.wrong_stage(Stage::Decide));
        };
        let result = instance
            .call_decide(&mut warm.store, &wire, records, config)
            .map(|r| r.map_err(RefusalParts::from));
        let store = self.release(warm, result.is_ok());
        let results = self.finish(&store, result, records.len())?;
        if results.len() != records.len() {
            return Err(self.bad_output(format!(
                "returned {} results for {} records",
                results.len(),
                records.len()
            )));
        }
        for (i, r) in results.iter().enumerate() {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(r) {
                return Err(self.bad_output(format!("result {i} is not JSON: {e}")));
            }
        }
        Ok(results)
    }

    /// An instance ready for a call: a pooled one, or a new one (instantiation counts against the
    /// call's deadline). Either way the host side is rewound, and the deadline starts now.
    fn warm(
        &self,
        instantiate: impl FnOnce(&mut wasmtime::Store<Host>) -> wasmtime::Result<Instance>,
        records: usize,
    ) -> Result<Warm, TransformError> {
        let ticks = self.limits.deadline.as_millis().div_ceil(TICK.as_millis()).max(1) + 1;
        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
        let pooled = if self.sandbox.fresh_instances { None } else { self.lock_pool().pop() };
        let mut warm = match pooled {
            Some(w) => w,
            None => {
                let host = Host::new(&self.limits, &self.sandbox);
                let mut store = wasmtime::Store::new(&self.runtime.engine, host);
                store.limiter(|h| &mut h.limiter);
                store.epoch_deadline_trap();
                store.set_epoch_deadline(ticks);
                match instantiate(&mut store) {
                    Ok(instance) => Warm { store, instance },
                    Err(e) => return Err(self.trapped(&store, e, records)),
                }
            }
        };
        warm.store.data_mut().begin_call();
        warm.store.set_epoch_deadline(ticks);
        Ok(warm)
    }

    /// Puts an instance back in the pool after a call that returned (an answer or a refusal), and
    /// keeps its store for the caller to read; an instance that trapped, timed out or hit a cap is
    /// dropped, since its state is whatever the interrupted code left.
    fn release(&self, warm: Warm, returned: bool) -> StoreView {
        let host = warm.store.data();
        // Only a trap's error quotes the guest's stderr; an answer or a refusal does not copy it.
        let stderr = if returned { String::new() } else { host.stderr_tail() };
        let view = StoreView { refused: host.limiter.refused(), stderr };
        if returned && !self.sandbox.fresh_instances && host.reusable() {
            let mut pool = self.lock_pool();
            if pool.len() < self.limits.concurrency.max(1) {
                pool.push(warm);
            }
        }
        view
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The guest's own answer, or what stopped it.
    fn finish<T>(
        &self,
        store: &StoreView,
        result: wasmtime::Result<Result<T, RefusalParts>>,
        records: usize,
    ) -> Result<T, TransformError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(refusal)) => Err(TransformError::Refused {
                transform: self.name.clone(),
                stage: self.stage,
                record: refusal.record.filter(|&r| (r as usize) < records),
                message: sandbox::clip(&refusal.message),
            }),
            Err(e) => Err(self.trapped(store, e, records)),
        }
    }

    fn trapped(&self, store: &impl CallState, error: wasmtime::Error, records: usize) -> TransformError {
        let transform = self.name.clone();
        let stage = self.stage;
        if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
            return TransformError::Timeout { transform, stage, deadline: self.limits.deadline, records };
        }
        if let Some(refused) = store.refused() {
            return TransformError::MemoryLimit {
                transform,
                stage,
                limit_bytes: self.limits.memory_bytes,
                refused,
            };
        }
        TransformError::Trap { transform, stage, message: format!("{error:#}"), stderr: store.stderr() }
    }

    fn bad_output(&self, detail: String) -> TransformError {
        TransformError::BadOutput { transform: self.name.clone(), stage: self.stage, detail }
    }

    fn wrong_stage(&self, asked: Stage) -> TransformError {
        TransformError::WrongStage { transform: self.name.clone(), loaded: self.stage, asked }
    }
}

/// A store with its instance, kept between calls.
struct Warm {
    store: wasmtime::Store<Host>,
    instance: Instance,
}

enum Instance {
    Prepare(bindings::prepare::Prepare),
    Decide(bindings::decide::Decide),
}

/// What an error report needs of a call once its instance went back to the pool.
struct StoreView {
    refused: Option<usize>,
    stderr: String,
}

trait CallState {
    fn refused(&self) -> Option<usize>;
    fn stderr(&self) -> String;
}

impl CallState for StoreView {
    fn refused(&self) -> Option<usize> {
        self.refused
    }

    fn stderr(&self) -> String {
        self.stderr.clone()
    }
}

impl CallState for wasmtime::Store<Host> {
    fn refused(&self) -> Option<usize> {
        self.data().limiter.refused()
    }

    fn stderr(&self) -> String {
        self.data().stderr_tail()
    }
}

/// A refusal as either world's bindings give it (the two worlds' `types` are the same WIT type,
/// generated twice).
struct RefusalParts {
    record: Option<u32>,
    message: String,
}

impl From<bindings::prepare::ferry::transform::types::Refusal> for RefusalParts {
    fn from(r: bindings::prepare::ferry::transform::types::Refusal) -> Self {
        RefusalParts { record: r.record, message: r.message }
    }
}

impl From<bindings::decide::ferry::transform::types::Refusal> for RefusalParts {
    fn from(r: bindings::decide::ferry::transform::types::Refusal) -> Self {
        RefusalParts { record: r.record, message: r.message }
    }
}

/// At most `concurrency` calls of one transform at a time; further callers wait for a slot, so the
/// memory the transform may hold is bounded by `concurrency × memory cap`.
struct Slots {
    free: Mutex<usize>,
    ready: Condvar,
}

impl Slots {
    fn new(n: usize) -> Slots {
        Slots { free: Mutex::new(n.max(1)), ready: Condvar::new() }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.ready.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        SlotGuard { slots: self }
    }
}

struct SlotGuard<'a> {
    slots: &'a Slots,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut free = self.slots.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.slots.ready.notify_one();
    }
}
