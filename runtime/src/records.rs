//! Records in, decisions out: the bundle's feature transforms around the model (spec/FORMAT.md §3.7).
//!
//! `records schema → prepare → the data contract → the model → the output contract → decide → results
//! schema`. The transforms are compiled on first use, once per process (and once per machine through
//! the compilation cache, in `transforms/` of [`RuntimeOptions::cache`](crate::RuntimeOptions::cache): by
//! default `$XDG_CACHE_HOME/ferry/transforms` or `~/.cache/ferry/transforms`).

use crate::{CacheLocation, Model, RuntimeError};
use ferry_spec::config::ConfigSchema;
use ferry_tensor::TensorMap;
use ferry_transform::{Limits, Sandbox, Stage, Transform};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The most records one call takes: a batch is one Wasm call, and its records one list in the
/// component's memory.
pub const MAX_RECORDS: usize = 65_536;

/// The most bytes one record may have.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// What a batch of records became at each step.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRun {
    /// What `prepare` made of the records: the model's inputs.
    pub inputs: TensorMap,
    /// What the model answered.
    pub outputs: TensorMap,
    /// One JSON result per record from `decide`; `None` when the bundle has no `decide`.
    pub decisions: Option<Vec<String>>,
}

/// The loaded transforms of one model.
pub(crate) struct Loaded {
    prepare: Option<Transform>,
    decide: Option<Transform>,
    records: Option<ConfigSchema>,
    results: Option<ConfigSchema>,
    /// The model's effective configuration as the transforms receive it, written once: the model's
    /// configuration never changes after `open`.
    config: String,
}

/// Filled on the first call that needs the transforms.
#[derive(Default)]
pub(crate) struct Slot(Mutex<Option<Arc<Loaded>>>);

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

/// The process's WebAssembly engine for a cache directory: one per directory, shared by every model
/// opened with it (an engine keeps what it compiled, so a component shared by models compiles once).
fn engine(cache: &CacheLocation) -> Result<Arc<ferry_transform::Runtime>, RuntimeError> {
    type Engines = Mutex<Vec<(Option<PathBuf>, Arc<ferry_transform::Runtime>)>>;
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    let dir = cache.resolve("transforms");
    let mut engines = ENGINES.get_or_init(Engines::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, engine)) = engines.iter().find(|(d, _)| *d == dir) {
        return Ok(Arc::clone(engine));
    }
    let engine = Arc::new(
        ferry_transform::Runtime::new(dir.as_deref()).map_err(|e| RuntimeError::Transform(Box::new(e)))?,
    );
    engines.push((dir, Arc::clone(&engine)));
    Ok(engine)
}

fn record_error(index: usize, pointer: &str, rule: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Record {
        index,
        pointer: pointer.to_owned(),
        rule: rule.to_owned(),
        message: message.into(),
    }
}

impl Model {
    fn transforms(&self) -> Result<Arc<Loaded>, RuntimeError> {
        let mut slot = self.transforms.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(loaded) = &*slot {
            return Ok(Arc::clone(loaded));
        }
        let Some(section) = self.manifest().transform.as_ref().map(|t| &t.section) else {
            return Err(RuntimeError::NoTransform { stage: "prepare" });
        };
        let bundle = self.bundle().ok_or(RuntimeError::NoTransform { stage: "prepare" })?;
        let l = &section.limits;
        let defaults = Limits::default();
        let limits = Limits {
            deadline: l.deadline_ms.map_or(defaults.deadline, Duration::from_millis),
            memory_bytes: l
                .memory_mib
                .and_then(|m| usize::try_from(m).ok())
                .map_or(defaults.memory_bytes, |m| m.saturating_mul(1 << 20)),
            concurrency: l.concurrency.and_then(|c| usize::try_from(c).ok()).unwrap_or(defaults.concurrency),
            ..defaults
        };
        let sandbox = Sandbox {
            host_clock: section.sandbox.host_clock,
            host_random: section.sandbox.host_random,
            fresh_instances: section.sandbox.fresh_instances,
        };
        let engine = engine(&self.transform_cache)?;
        let load = |path: &Option<String>, stage| -> Result<Option<Transform>, RuntimeError> {
            let Some(path) = path else { return Ok(None) };
            let bytes = bundle.file(path)?;
            Transform::load(&engine, path, &bytes, stage, limits, sandbox)
                .map(Some)
                .map_err(|e| RuntimeError::Transform(Box::new(e)))
        };
        let schema = |path: &Option<String>, key: &str| -> Result<Option<ConfigSchema>, RuntimeError> {
            let Some(path) = path else { return Ok(None) };
            let bytes = bundle.file(path)?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Model {
                file: path.clone(),
                message: format!("{key} schema: {e}"),
            })?;
            ConfigSchema::compile(&value).map(Some).map_err(|e| RuntimeError::Model {
                file: path.clone(),
                message: format!("{key} schema: {e}"),
            })
        };
        let loaded = Arc::new(Loaded {
            prepare: load(&section.prepare, Stage::Prepare)?,
            decide: load(&section.decide, Stage::Decide)?,
            records: schema(&section.records, "records")?,
            results: schema(&section.results, "results")?,
            config: self.config().to_string(),
        });
        *slot = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    /// Compiles (or loads from the compilation cache) the bundle's transforms now rather than on the
    /// first [`Model::infer_records`]: a server does this at load, so that no request pays for it. A
    /// bundle without transforms is [`RuntimeError::NoTransform`].
    pub fn load_transforms(&self) -> Result<(), RuntimeError> {
        self.transforms().map(|_| ())
    }

    /// Whether the bundle carries a `prepare` transform, so that [`Model::infer_records`] can run.
    pub fn takes_records(&self) -> bool {
        self.manifest().transform.as_ref().is_some_and(|t| t.section.prepare.is_some())
    }

    /// Runs a batch of raw records (one JSON object each) through the bundle's transforms and the model:
    /// one JSON result per record from `decide`.
    ///
    /// Each record is checked against the bundle's `records` schema (the error names the record, the
    /// JSON pointer and the rule), `prepare`'s tensors against the data contract, the model's outputs
    /// against theirs, and each result against the `results` schema.
    pub fn infer_records(&self, records: &[String]) -> Result<Vec<String>, RuntimeError> {
        self.run_records(records)?.decisions.ok_or(RuntimeError::NoTransform { stage: "decide" })
    }

    /// [`Model::infer_records`], keeping what each step made: for golden checks and debugging.
    pub fn run_records(&self, records: &[String]) -> Result<RecordRun, RuntimeError> {
        let loaded = self.transforms()?;
        let prepare = loaded.prepare.as_ref().ok_or(RuntimeError::NoTransform { stage: "prepare" })?;
        if records.len() > MAX_RECORDS {
            return Err(record_error(
                MAX_RECORDS,
                "",
                "batch",
                format!("a batch holds at most {MAX_RECORDS} records; this one has {}", records.len()),
            ));
        }
        for (i, r) in records.iter().enumerate() {
            if r.len() > MAX_RECORD_BYTES {
                return Err(record_error(
                    i,
                    "",
                    "size",
                    format!("{} bytes; a record may have at most {MAX_RECORD_BYTES}", r.len()),
                ));
            }
            let value: Value =
                serde_json::from_str(r).map_err(|e| record_error(i, "", "json", format!("not JSON: {e}")))?;
            if !value.is_object() {
                return Err(record_error(i, "", "type", "a record is a JSON object"));
            }
            if let Some(schema) = &loaded.records
                && let Err(violations) = schema.validate(&value)
                && let Some(v) = violations.into_iter().next()
            {
                return Err(record_error(i, &v.pointer, &v.rule, v.message));
            }
        }
        let config = &loaded.config;
        let inputs = prepare.prepare(records, config).map_err(|e| RuntimeError::Transform(Box::new(e)))?;
        let outputs = self.infer(&inputs)?;
        let decisions = match &loaded.decide {
            None => None,
            Some(decide) => {
                let results = decide
                    .decide(&outputs, records, config)
                    .map_err(|e| RuntimeError::Transform(Box::new(e)))?;
                if let Some(schema) = &loaded.results {
                    for (i, r) in results.iter().enumerate() {
                        let value: Value = serde_json::from_str(r).unwrap_or(Value::Null);
                        if let Err(violations) = schema.validate(&value)
                            && let Some(v) = violations.into_iter().next()
                        {
                            return Err(RuntimeError::Result {
                                index: i,
                                pointer: v.pointer,
                                rule: v.rule,
                                message: v.message,
                            });
                        }
                    }
                }
                Some(results)
            }
        };
        Ok(RecordRun { inputs, outputs, decisions })
    }
}
