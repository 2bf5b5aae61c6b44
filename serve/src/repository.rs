//! The model repository: the bundles a server serves, by model name and version, and how a new bundle
//! is swapped in.
//!
//! Every bundle is opened through the runtime, so its digests, pins and the policy's `[trust]` are
//! checked before it can answer. A reload builds a new [`Snapshot`] and replaces the old one in one
//! pointer swap: a request holds the `Arc<Served>` it started with, so a swap never fails it, and an
//! old version's workers exit once its last request is answered.
//!
//! Watching a directory is polling its entries' size, mtime and inode: a file is loaded once it has not
//! changed between two polls, so a bundle being copied in is not opened half-written (a rename into the
//! directory is seen whole at once, and is what the docs recommend).

use crate::batcher::{Batcher, batch_axis};
use crate::config::ServeConfig;
use crate::error::ServeError;
use crate::log;
use crate::metrics::Metrics;
use ferry::runtime::{Model, OpenOptions, Runtime};
use ferry_spec::TensorSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// One loaded model version.
#[derive(Debug)]
pub struct Served {
    /// The model's name (`[model] name`).
    pub name: String,
    /// Its version (`[model] version`).
    pub version: String,
    /// The bundle file.
    pub path: PathBuf,
    /// The opened, verified model.
    pub model: Arc<Model>,
    /// Its declared inputs.
    pub inputs: Vec<TensorSpec>,
    /// Its declared tensor outputs (sequences and maps are not OIP v2 tensors and are left out).
    pub outputs: Vec<TensorSpec>,
    pub(crate) batcher: Batcher,
    pub(crate) settings: crate::config::ModelSettings,
    /// Bounds the records calls running at once (they run the transforms, outside the batcher).
    pub(crate) records: Arc<tokio::sync::Semaphore>,
}

/// Which models are served, by name then version.
#[derive(Debug, Default)]
pub struct Snapshot {
    models: BTreeMap<String, BTreeMap<String, Arc<Served>>>,
}

impl Snapshot {
    /// A model version; without a version, the newest (semantic versions compared as such).
    pub fn get(&self, name: &str, version: Option<&str>) -> Option<Arc<Served>> {
        let versions = self.models.get(name)?;
        match version {
            Some(v) => versions.get(v).cloned(),
            None => versions.values().max_by(|a, b| compare_versions(&a.version, &b.version)).cloned(),
        }
    }

    /// The versions of a model, oldest first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.models.get(name).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        v.sort_by(|a, b| compare_versions(a, b));
        v
    }

    /// Every served model version.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Served>> {
        self.models.values().flat_map(BTreeMap::values)
    }

    /// Whether nothing is served.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// A file's identity between polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    m.is_file().then(|| Stamp { len: m.len(), modified: m.modified().ok(), inode })
}

#[derive(Debug)]
struct FileState {
    stamp: Stamp,
    /// What the file gave: a served model, or `None` when it was refused.
    served: Option<Arc<Served>>,
}

/// When a reload happens: at start-up a named bundle that is refused stops the server; later, a refusal
/// is logged and counted, and the server keeps serving what it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The first load.
    Startup,
    /// A periodic poll: a changed file waits one poll to settle.
    Poll,
    /// `SIGHUP`: load every change now.
    Signal,
}

/// The bundles of a server, reloaded from its sources.
#[derive(Debug)]
pub struct Repository {
    runtime: Arc<Runtime>,
    sources: Vec<PathBuf>,
    config: ServeConfig,
    metrics: Arc<Metrics>,
    snapshot: RwLock<Arc<Snapshot>>,
    files: Mutex<BTreeMap<PathBuf, FileState>>,
    /// Files seen changed at the last poll, waiting to settle.
    settling: Mutex<BTreeMap<PathBuf, Stamp>>,
    /// One reload at a time.
    reloading: Mutex<()>,
}

impl Repository {
    /// A repository over bundle files and directories of bundles; nothing is loaded until
    /// [`Repository::reload`].
    pub fn new(
        runtime: Arc<Runtime>,
        sources: Vec<PathBuf>,
        config: ServeConfig,
        metrics: Arc<Metrics>,
    ) -> Repository {
        Repository {
            runtime,
            sources,
            config,
            metrics,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            files: Mutex::new(BTreeMap::new()),
            settling: Mutex::new(BTreeMap::new()),
            reloading: Mutex::new(()),
        }
    }

    /// What is served now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn candidates(&self) -> Result<Vec<(PathBuf, bool)>, ServeError> {
        let mut out = Vec::new();
        for source in &self.sources {
            let meta = std::fs::metadata(source).map_err(|e| ServeError::Source {
                path: source.display().to_string(),
                message: e.to_string(),
            })?;
            if meta.is_dir() {
                let entries = std::fs::read_dir(source).map_err(|e| ServeError::Source {
                    path: source.display().to_string(),
                    message: e.to_string(),
                })?;
                let mut found: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension().is_some_and(|x| x == "ferry")
                            && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.'))
                    })
                    .collect();
                found.sort();
                out.extend(found.into_iter().map(|p| (p, false)));
            } else {
                out.push((source.clone(), true));
            }
        }
        Ok(out)
    }

    /// Loads new and changed bundles, unloads removed ones, and swaps the snapshot in. Blocking (it
    /// opens and hashes bundles): call it off the async executor.
    pub fn reload(&self, when: Reload) -> Result<(), ServeError> {
        let _one = self.reloading.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let candidates = self.candidates()?;
        let mut files = self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut settling = self.settling.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changed = false;
        let present: Vec<&PathBuf> = candidates.iter().map(|(p, _)| p).collect();
        let gone: Vec<PathBuf> = files.keys().filter(|p| !present.contains(p)).cloned().collect();
        for path in gone {
            if let Some(FileState { served: Some(s), .. }) = files.remove(&path) {
                log::event(
                    "info",
                    "model unloaded",
                    &[("model", &s.name), ("version", &s.version), ("file", &path.display().to_string())],
                );
            }
            changed = true;
        }
        for (path, named) in &candidates {
            let Some(now) = stamp(path) else {
                if when == Reload::Startup && *named {
                    return Err(ServeError::Source {
                        path: path.display().to_string(),
                        message: "not a file".into(),
                    });
                }
                continue;
            };
            if files.get(path).is_some_and(|f| f.stamp == now) {
                continue;
            }
            if when == Reload::Poll && settling.get(path) != Some(&now) {
                settling.insert(path.clone(), now);
                continue;
            }
            settling.remove(path);
            changed = true;
            let (served, fresh) = match self.open(path, &files) {
                Ok(s) => (Some(s), true),
                Err(e) => {
                    if when == Reload::Startup && *named {
                        return Err(e);
                    }
                    self.metrics.refused(&path.display().to_string());
                    // A refused replacement does not take down what this file served before: that model
                    // was verified when it loaded, and is still what it was (a rename keeps its bytes).
                    let kept = files.get(path).and_then(|f| f.served.clone());
                    let still = kept.as_ref().map_or(String::new(), |k| format!("{} {}", k.name, k.version));
                    log::event(
                        "error",
                        "bundle refused",
                        &[
                            ("file", &path.display().to_string()),
                            ("reason", &e.to_string()),
                            ("still_serving", &still),
                        ],
                    );
                    (kept, false)
                }
            };
            if let Some(s) = served.as_ref().filter(|_| fresh) {
                self.metrics.loaded(&s.name, &s.version);
                log::event(
                    "info",
                    "model loaded",
                    &[("model", &s.name), ("version", &s.version), ("file", &path.display().to_string())],
                );
            }
            files.insert(path.clone(), FileState { stamp: now, served });
        }
        if changed || when == Reload::Startup {
            let mut next = Snapshot::default();
            for state in files.values() {
                if let Some(s) = &state.served {
                    next.models.entry(s.name.clone()).or_default().insert(s.version.clone(), Arc::clone(s));
                }
            }
            *self.snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        }
        Ok(())
    }

    fn open(&self, path: &Path, files: &BTreeMap<PathBuf, FileState>) -> Result<Arc<Served>, ServeError> {
        let shown = path.display().to_string();
        let model = self
            .runtime
            .open(path, &OpenOptions::default())
            .map_err(|e| ServeError::Bundle { path: shown.clone(), source: Box::new(e) })?;
        let manifest = model.manifest();
        let (name, version) = (manifest.model.name.clone(), manifest.model.version.clone());
        if let Some(other) = files.iter().find_map(|(p, f)| {
            f.served.as_ref().filter(|s| p != path && s.name == name && s.version == version).map(|_| p)
        }) {
            return Err(ServeError::Duplicate {
                path: shown,
                name,
                version,
                other: other.display().to_string(),
            });
        }
        if let Some(bad) = manifest.inputs.iter().find(|i| !i.value_type.is_tensor()) {
            return Err(ServeError::Unservable {
                path: shown,
                reason: format!(
                    "input `{}` is a {}, which the Open Inference Protocol's tensors cannot carry",
                    bad.name, bad.value_type
                ),
            });
        }
        if let Some(bad) = manifest.inputs.iter().find(|i| crate::oip::datatype(i.dtype).is_none()) {
            return Err(ServeError::Unservable {
                path: shown,
                reason: format!(
                    "input `{}` is {}, which has no Open Inference Protocol datatype",
                    bad.name, bad.dtype
                ),
            });
        }
        // A server compiles the transforms at load: no request pays for it, and a component that does not
        // load refuses the bundle here rather than failing every records request.
        if model.takes_records() {
            model
                .load_transforms()
                .map_err(|e| ServeError::Bundle { path: shown.clone(), source: Box::new(e) })?;
        }
        let manifest = model.manifest();
        let inputs = manifest.inputs.clone();
        let values = manifest.outputs.iter().any(|o| !o.value_type.is_tensor());
        let outputs: Vec<TensorSpec> =
            manifest.outputs.iter().filter(|o| o.value_type.is_tensor()).cloned().collect();
        let batchable = batch_axis(&manifest.inputs, &manifest.outputs);
        let settings = self.config.for_model(&name);
        let model = Arc::new(model);
        let batcher = Batcher::start(
            Arc::clone(&model),
            name.clone(),
            settings,
            batchable,
            values,
            Arc::clone(&self.metrics),
        )
        .map_err(ServeError::Io)?;
        Ok(Arc::new(Served {
            name,
            version,
            path: path.to_path_buf(),
            model,
            inputs,
            outputs,
            batcher,
            settings,
            records: Arc::new(tokio::sync::Semaphore::new(settings.instances)),
        }))
    }
}
