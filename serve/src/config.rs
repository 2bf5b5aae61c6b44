//! `serve.toml`: per-model batching, queue and limit settings (`ferry serve --config`).
//!
//! ```toml
//! [defaults]
//! max_batch_size = 64        # rows per ONNX Runtime call
//! max_queue_delay_us = 0     # how long the first request of a batch waits for company (0: greedy)
//! max_queue = 1024           # requests waiting per model; beyond it: 503 + Retry-After
//! instances = 2              # batches of one model run in parallel
//! deadline_ms = 10000        # a request not started by then is answered 504
//!
//! [models.credit-risk]
//! max_batch_size = 256
//! ```

use crate::error::ServeError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Settings for one model (or the defaults for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSettings {
    /// The most rows one ONNX Runtime call takes; 1 turns batching off.
    pub max_batch_size: usize,
    /// How long a batch waits to fill.
    pub max_queue_delay: Duration,
    /// Requests waiting per model before new ones get `503`.
    pub max_queue: usize,
    /// Workers running this model's batches in parallel.
    pub instances: usize,
    /// The longest a request may wait; a client's `timeout` parameter can only shorten it.
    pub deadline: Duration,
}

impl Default for ModelSettings {
    fn default() -> ModelSettings {
        ModelSettings {
            max_batch_size: 64,
            max_queue_delay: Duration::ZERO,
            max_queue: 1024,
            instances: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4)),
            deadline: Duration::from_secs(10),
        }
    }
}

/// What `serve.toml` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeConfig {
    /// Settings for models not named below.
    pub defaults: ModelSettings,
    /// Settings by model name.
    pub models: BTreeMap<String, ModelSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    max_batch_size: Option<usize>,
    max_queue_delay_us: Option<u64>,
    max_queue: Option<usize>,
    instances: Option<usize>,
    deadline_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: RawSettings,
    #[serde(default)]
    models: BTreeMap<String, RawSettings>,
}

/// Upper bounds that keep one setting from exhausting the machine.
const MAX_BATCH: usize = 65_536;
const MAX_QUEUE: usize = 1 << 20;
const MAX_INSTANCES: usize = 64;

impl ServeConfig {
    /// The settings for a model.
    pub fn for_model(&self, name: &str) -> ModelSettings {
        self.models.get(name).copied().unwrap_or(self.defaults)
    }

    /// Reads `serve.toml`; an error names the key.
    pub fn load(path: &Path) -> Result<ServeConfig, ServeError> {
        let err = |message: String| ServeError::Config { path: path.display().to_string(), message };
        let text = ferry_spec::file::read_to_string(path, ferry_spec::file::SMALL_FILE_LIMIT)
            .map_err(|e| err(e.reason()))?;
        ServeConfig::parse(&text).map_err(err)
    }

    /// Parses `serve.toml` text.
    pub fn parse(text: &str) -> Result<ServeConfig, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let defaults = apply(ModelSettings::default(), &raw.defaults, "defaults")?;
        let mut models = BTreeMap::new();
        for (name, s) in &raw.models {
            models.insert(name.clone(), apply(defaults, s, &format!("models.{name}"))?);
        }
        Ok(ServeConfig { defaults, models })
    }
}

fn apply(mut base: ModelSettings, raw: &RawSettings, table: &str) -> Result<ModelSettings, String> {
    let range = |key: &str, v: usize, max: usize| {
        if v == 0 || v > max { Err(format!("{table}.{key} = {v}: must be 1 to {max}")) } else { Ok(v) }
    };
    if let Some(v) = raw.max_batch_size {
        base.max_batch_size = range("max_batch_size", v, MAX_BATCH)?;
    }
    if let Some(v) = raw.max_queue {
        base.max_queue = range("max_queue", v, MAX_QUEUE)?;
    }
    if let Some(v) = raw.instances {
        base.instances = range("instances", v, MAX_INSTANCES)?;
    }
    if let Some(v) = raw.max_queue_delay_us {
        if v > 1_000_000 {
            return Err(format!("{table}.max_queue_delay_us = {v}: must be at most 1000000 (one second)"));
        }
        base.max_queue_delay = Duration::from_micros(v);
    }
    if let Some(v) = raw.deadline_ms {
        if v == 0 || v > 3_600_000 {
            return Err(format!("{table}.deadline_ms = {v}: must be 1 to 3600000 (one hour)"));
        }
        base.deadline = Duration::from_millis(v);
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn models_inherit_the_defaults() {
        let c = ServeConfig::parse("[defaults]\nmax_batch_size = 8\n[models.m]\nmax_queue = 3\n").unwrap();
        assert_eq!(c.for_model("m").max_batch_size, 8);
        assert_eq!(c.for_model("m").max_queue, 3);
        assert_eq!(c.for_model("other").max_queue, ModelSettings::default().max_queue);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = ServeConfig::parse("[models.m]\nmax_batch_size = 0\n").unwrap_err();
        assert!(e.contains("models.m.max_batch_size"), "{e}");
        let e = ServeConfig::parse("[defaults]\nbatch = 3\n").unwrap_err();
        assert!(e.contains("batch"), "{e}");
    }
}
