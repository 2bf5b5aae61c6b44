//! Finding, checking and loading the ONNX Runtime shared library, once per process.
//!
//! `ort` is built with `load-dynamic`: nothing links against ONNX Runtime at build time, and ort's lazy
//! loader panics when the library is missing. So the runtime loads it itself, through [`ort::init_from`],
//! before any other ort call, and maps every failure to [`RuntimeError::OrtLibrary`].

use crate::RuntimeError;
use ferry_cache::{Remembered, VerifiedDigests};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The ONNX Runtime release this Ferry is built and tested against; `scripts/fetch-onnxruntime` installs it.
pub const ORT_VERSION: &str = "1.31.1";

/// SHA-256 of `libonnxruntime.so` from the official `onnxruntime` 1.31.1 wheel for this architecture
/// (`scripts/fetch-onnxruntime` records the same digests; a test keeps them equal). `None` where no
/// official wheel exists: such hosts must set `ORT_DYLIB_PATH`.
#[cfg(target_arch = "x86_64")]
pub const ORT_LIBRARY_SHA256: Option<&str> =
    Some("fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3");
/// See the x86-64 variant.
#[cfg(target_arch = "aarch64")]
pub const ORT_LIBRARY_SHA256: Option<&str> =
    Some("8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467");
/// See the x86-64 variant.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const ORT_LIBRARY_SHA256: Option<&str> = None;

/// SHA-256 of `libonnxruntime.so` from the official `onnxruntime-gpu` 1.31.1 wheel (CUDA 13, cuDNN 9),
/// the build with the CUDA execution provider (it runs on the CPU too). x86-64 only: that is the one
/// platform NVIDIA's CUDA 13 wheels and this wheel exist for.
#[cfg(target_arch = "x86_64")]
pub const ORT_GPU_LIBRARY_SHA256: Option<&str> =
    Some("5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303");
/// See the x86-64 variant.
#[cfg(not(target_arch = "x86_64"))]
pub const ORT_GPU_LIBRARY_SHA256: Option<&str> = None;

/// The provider libraries the GPU build loads from its own directory when the CUDA execution provider
/// is asked for, with their SHA-256 from the same wheel: checked like the library itself, since ONNX
/// Runtime loads them into the process.
pub const ORT_CUDA_PROVIDERS: [(&str, &str); 2] = [
    (
        "libonnxruntime_providers_shared.so",
        "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
    ),
    ("libonnxruntime_providers_cuda.so", "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137"),
];

/// The directory, beside the CPU build's, where `scripts/fetch-onnxruntime --gpu` installs the GPU build
/// (`.ort/1.31.1-gpu/`, with the CUDA libraries in its `cuda/`); in an installation, `lib/gpu/`.
pub const GPU_DIR: &str = "1.31.1-gpu";

/// Which build of ONNX Runtime a library is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrtBuild {
    /// The pinned CPU build.
    Cpu,
    /// The pinned GPU build (CUDA execution provider).
    Gpu,
    /// A library named explicitly or by `ORT_DYLIB_PATH`: not checked against a pin.
    Unknown,
}

/// Where `scripts/fetch-onnxruntime` installs the library in the checkout this crate was built from;
/// empty in a release build (`FERRY_RELEASE=1`), which has no checkout place.
pub const DEFAULT_LIBRARY_PATH: &str = env!("FERRY_ORT_DEFAULT");

/// The environment variable that names a library to load instead of the pinned one.
pub const ORT_DYLIB_PATH_VAR: &str = "ORT_DYLIB_PATH";

/// The environment variable that names a Ferry installation: its `lib/` holds the pinned library.
pub const FERRY_HOME_VAR: &str = "FERRY_HOME";

/// The file name of the library in every place Ferry installs it.
pub const LIBRARY_FILE: &str = "libonnxruntime.so";

/// Where the library in use was found, in the order the places are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// Named by [`RuntimeOptions::library_path`](crate::RuntimeOptions::library_path); used as is.
    Explicit,
    /// Named by `ORT_DYLIB_PATH`; used as is, at the user's responsibility.
    Env,
    /// `lib/` beside the executable, or `../lib/` for an executable in a `bin/` directory: a Ferry
    /// release archive or install prefix. Must be the pinned build.
    BesideExecutable,
    /// `$FERRY_HOME/lib/`. Must be the pinned build.
    FerryHome,
    /// The `.ort/` of the checkout this Ferry was built from, where `scripts/fetch-onnxruntime`
    /// installs it. Must be the pinned build.
    Checkout,
    /// The `onnxruntime` Python wheel of a Python environment (`onnxruntime/capi/`); used only when it
    /// is the pinned build, so another version installed for Python is skipped, not loaded.
    Wheel,
}

impl LibrarySource {
    /// How `ferry doctor` names the place.
    pub fn describe(self) -> &'static str {
        match self {
            LibrarySource::Explicit => "RuntimeOptions::library_path",
            LibrarySource::Env => ORT_DYLIB_PATH_VAR,
            LibrarySource::BesideExecutable => "lib/ beside the executable",
            LibrarySource::FerryHome => "$FERRY_HOME/lib",
            LibrarySource::Checkout => "the checkout's .ort/",
            LibrarySource::Wheel => "the onnxruntime Python wheel",
        }
    }

    /// Whether a library found here claims to be the pinned build, so its digest must match the pin.
    fn claims_pinned(self) -> bool {
        !matches!(self, LibrarySource::Explicit | LibrarySource::Env)
    }
}

/// The ONNX Runtime library loaded into this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibrary {
    /// Absolute path of the loaded file.
    pub path: PathBuf,
    /// How it was found.
    pub source: LibrarySource,
    /// Its version, when known: from the pinned digest, or the `VERS_x.y.z` ELF symbol version ONNX
    /// Runtime stamps on its exported API.
    pub version: Option<semver::Version>,
    /// SHA-256 of the file, when it was checked (always for a place that claims the pinned build).
    pub sha256: Option<String>,
    /// Whether the digest check was answered by the verified-digest cache (the file unchanged since a
    /// full hash) rather than by hashing it in this process.
    pub digest_cached: bool,
    /// Which build it is, by its digest.
    pub build: OrtBuild,
}

/// One place the library was looked for, as `ferry doctor` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The place.
    pub source: LibrarySource,
    /// The file looked for, when the place names one here.
    pub path: Option<PathBuf>,
    /// What was found there.
    pub outcome: ProbeOutcome,
}

/// What a [`Probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// A library that passed its checks.
    Usable(OrtLibrary),
    /// Nothing there, and why (`not set`, `no such file`).
    Absent(String),
    /// A file that must not be loaded, and why (a digest that is not the pin's).
    Refused(String),
}

#[derive(Debug)]
pub(crate) struct OrtState {
    pub library: OrtLibrary,
    pub env: ort::environment::Environment,
}

// A Mutex rather than a OnceLock so that a failed load (library not fetched yet) can be retried.
static STATE: Mutex<Option<Arc<OrtState>>> = Mutex::new(None);

fn lib_err(path: &Path, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::OrtLibrary { path: path.to_path_buf(), reason: reason.into() }
}

/// Loads ONNX Runtime on first use; later calls return the same library whatever they ask for, because a
/// process can hold only one.
pub(crate) fn ensure_loaded(
    explicit: Option<&Path>,
    python_prefixes: &[PathBuf],
    cache: Option<&VerifiedDigests>,
    gpu: bool,
) -> Result<Arc<OrtState>, RuntimeError> {
    let mut guard = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(state) = guard.as_ref() {
        if let Some(p) = explicit
            && std::path::absolute(p).ok().as_deref() != Some(state.library.path.as_path())
        {
            return Err(lib_err(
                p,
                format!(
                    "ONNX Runtime is already loaded in this process from `{}`; a process can load only one",
                    state.library.path.display()
                ),
            ));
        }
        return Ok(Arc::clone(state));
    }
    let mut places = Places::from_env(explicit, gpu);
    places.python_first = python_prefixes.to_vec();
    let library = search(&places, cache)?;
    let builder = ort::init_from(&library.path).map_err(|e| lib_err(&library.path, e.to_string()))?;
    let env =
        builder.with_name("ferry").with_telemetry(false).build().map_err(|e| {
            lib_err(&library.path, format!("creating the ONNX Runtime environment failed: {e}"))
        })?;
    // Every failure reaches the caller as a typed error; ONNX Runtime's own log would only repeat it on
    // the host's stderr. ORT_LOG still selects a level for debugging.
    if std::env::var_os("ORT_LOG").is_none() {
        env.set_log_level(ort::logging::LogLevel::Fatal);
    }
    let state = Arc::new(OrtState { library, env });
    *guard = Some(Arc::clone(&state));
    Ok(state)
}

/// The library already loaded into this process, if any.
pub fn loaded_library() -> Option<OrtLibrary> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|s| s.library.clone())
}

/// Every place in search order and what each holds, checking every library found (digests included):
/// what `ferry doctor` prints. The first [`ProbeOutcome::Usable`] is the library a
/// [`Runtime`](crate::Runtime) would load, unless a place before it refused its file: a damaged copy
/// where the pinned build is installed stops the search rather than being passed over.
pub fn probe_libraries(explicit: Option<&Path>, cache: Option<&VerifiedDigests>) -> Vec<Probe> {
    let places = Places::from_env(explicit, false);
    places
        .list()
        .map(|(source, found)| {
            let outcome = match &found {
                Found::Absent(why) => ProbeOutcome::Absent(why.clone()),
                Found::File(path) => match check_library(path, source, cache) {
                    Ok(lib) => ProbeOutcome::Usable(lib),
                    Err(e) => ProbeOutcome::Refused(refusal(&e)),
                },
            };
            Probe { source, path: found.path().map(Path::to_path_buf), outcome }
        })
        .collect()
}

fn refusal(e: &RuntimeError) -> String {
    match e {
        RuntimeError::OrtLibrary { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// What the process environment says about the places to search.
#[derive(Debug, Default)]
pub(crate) struct Places {
    pub explicit: Option<PathBuf>,
    pub env: Option<PathBuf>,
    pub exe: Option<PathBuf>,
    pub ferry_home: Option<PathBuf>,
    /// `None` in a release build.
    pub checkout: Option<PathBuf>,
    /// Python installation prefixes whose `site-packages` may hold the wheel; `None`: found from the
    /// environment, and only when the search gets that far.
    pub python_prefixes: Option<Vec<PathBuf>>,
    /// Prefixes searched before those: the host's own interpreter ([`RuntimeOptions::python_prefixes`](crate::RuntimeOptions::python_prefixes)).
    pub python_first: Vec<PathBuf>,
    /// Whether the GPU build is wanted: its places (`lib/gpu/`, `$FERRY_HOME/lib/gpu/`, `.ort/<v>-gpu/`)
    /// are searched before the CPU build's.
    pub gpu: bool,
}

#[derive(Debug)]
enum Found {
    File(PathBuf),
    Absent(String),
}

impl Found {
    fn path(&self) -> Option<&Path> {
        match self {
            Found::File(p) => Some(p),
            Found::Absent(_) => None,
        }
    }
}

impl Places {
    fn from_env(explicit: Option<&Path>, gpu: bool) -> Places {
        Places {
            gpu,
            explicit: explicit.map(Path::to_path_buf),
            env: env_path(ORT_DYLIB_PATH_VAR),
            exe: std::env::current_exe().ok(),
            ferry_home: env_path(FERRY_HOME_VAR),
            checkout: (!DEFAULT_LIBRARY_PATH.is_empty()).then(|| PathBuf::from(DEFAULT_LIBRARY_PATH)),
            python_prefixes: None,
            python_first: Vec::new(),
        }
    }

    /// The Python installations of this environment: an active virtualenv or conda environment, the
    /// user's `~/.local`, the interpreters on `PATH` (pyenv's through its `versions/`), then
    /// `/usr/local` and `/usr`.
    pub(crate) fn python_prefixes_from_env() -> Vec<PathBuf> {
        let mut prefixes: Vec<PathBuf> =
            ["VIRTUAL_ENV", "CONDA_PREFIX"].iter().filter_map(|v| env_path(v)).collect();
        prefixes.extend(env_path("HOME").map(|h| h.join(".local")));
        // The interpreters on PATH, through their real location (a venv's `bin/python3` is a link).
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.ends_with(".pyenv/shims") {
                // pyenv's shims are scripts, not links: its interpreters live under `versions/`.
                let root = env_path("PYENV_ROOT").or_else(|| dir.parent().map(Path::to_path_buf));
                if let Some(Ok(read)) = root.map(|r| std::fs::read_dir(r.join("versions"))) {
                    let mut versions: Vec<PathBuf> = read.filter_map(|e| Some(e.ok()?.path())).collect();
                    versions.sort();
                    prefixes.extend(versions);
                }
                continue;
            }
            // A virtual environment's interpreter links to its base one: the environment itself is the
            // directory above `bin/`, marked by its `pyvenv.cfg`.
            if let Some(venv) = dir.parent().filter(|d| d.join("pyvenv.cfg").is_file()) {
                prefixes.push(venv.to_path_buf());
            }
            if let Ok(real) = std::fs::canonicalize(dir.join("python3"))
                && let Some(prefix) = real.parent().and_then(Path::parent)
            {
                prefixes.push(prefix.to_path_buf());
            }
        }
        prefixes.extend([PathBuf::from("/usr/local"), PathBuf::from("/usr")]);
        let mut seen = std::collections::HashSet::new();
        prefixes.retain(|p| seen.insert(p.clone()));
        prefixes
    }

    /// Each place in search order, with the file it holds or why there is none; lazily, so a search
    /// that finds the library early never scans the Python installations.
    fn list(&self) -> impl Iterator<Item = (LibrarySource, Found)> + '_ {
        self.installed().into_iter().chain(std::iter::once(()).flat_map(|()| self.wheel_places()))
    }

    /// The places other than Python wheels.
    fn installed(&self) -> Vec<(LibrarySource, Found)> {
        let file = |p: PathBuf| {
            if p.exists() { Found::File(p) } else { Found::Absent(format!("no {}", p.display())) }
        };
        let named = |p: &Option<PathBuf>, what: &str| match p {
            Some(p) => {
                std::path::absolute(p).map(Found::File).unwrap_or_else(|e| Found::Absent(e.to_string()))
            }
            None => Found::Absent(format!("{what} not set")),
        };
        let mut out = vec![
            (LibrarySource::Explicit, named(&self.explicit, "RuntimeOptions::library_path")),
            (LibrarySource::Env, named(&self.env, ORT_DYLIB_PATH_VAR)),
        ];
        if self.gpu {
            out.extend(self.gpu_places(&file));
        }
        let beside = self.exe.as_deref().and_then(Path::parent).map(|dir| {
            let lib = dir.join("lib").join(LIBRARY_FILE);
            match dir.file_name() {
                Some(name) if name == "bin" && !lib.exists() => {
                    dir.parent().map_or(lib.clone(), |up| up.join("lib").join(LIBRARY_FILE))
                }
                _ => lib,
            }
        });
        out.push((
            LibrarySource::BesideExecutable,
            beside.map_or_else(|| Found::Absent("the executable's path is unknown".into()), file),
        ));
        out.push((
            LibrarySource::FerryHome,
            match &self.ferry_home {
                Some(home) => file(home.join("lib").join(LIBRARY_FILE)),
                None => Found::Absent(format!("{FERRY_HOME_VAR} not set")),
            },
        ));
        out.push((
            LibrarySource::Checkout,
            match &self.checkout {
                Some(path) => file(path.clone()),
                None => Found::Absent("a release build: no checkout".into()),
            },
        ));
        out
    }

    /// The GPU build's places, searched first when it is wanted.
    fn gpu_places(&self, file: &dyn Fn(PathBuf) -> Found) -> Vec<(LibrarySource, Found)> {
        let mut out = Vec::new();
        if let Some(dir) = self.exe.as_deref().and_then(Path::parent) {
            let lib = dir.join("lib").join("gpu").join(LIBRARY_FILE);
            let lib = match dir.file_name() {
                Some(name) if name == "bin" && !lib.exists() => {
                    dir.parent().map_or(lib.clone(), |up| up.join("lib").join("gpu").join(LIBRARY_FILE))
                }
                _ => lib,
            };
            out.push((LibrarySource::BesideExecutable, file(lib)));
        }
        if let Some(home) = &self.ferry_home {
            out.push((LibrarySource::FerryHome, file(home.join("lib").join("gpu").join(LIBRARY_FILE))));
        }
        if let Some(dir) = self.checkout.as_deref().and_then(Path::parent).and_then(Path::parent) {
            out.push((LibrarySource::Checkout, file(dir.join(GPU_DIR).join(LIBRARY_FILE))));
        }
        out
    }

    fn wheel_places(&self) -> Vec<(LibrarySource, Found)> {
        let wheels = self.wheels();
        if wheels.is_empty() {
            let why = "no onnxruntime wheel in the Python environments found".to_owned();
            return vec![(LibrarySource::Wheel, Found::Absent(why))];
        }
        wheels.into_iter().map(|w| (LibrarySource::Wheel, Found::File(w))).collect()
    }

    /// `onnxruntime/capi/libonnxruntime.so.<version>` in each prefix's `site-packages`/`dist-packages`.
    fn wheels(&self) -> Vec<PathBuf> {
        let mut prefixes = self.python_first.clone();
        prefixes.extend(self.python_prefixes.clone().unwrap_or_else(Places::python_prefixes_from_env));
        let mut found = Vec::new();
        for packages in ferry_device::site_packages(&prefixes) {
            let capi = packages.join("onnxruntime").join("capi");
            let Ok(read) = std::fs::read_dir(&capi) else { continue };
            let mut libs: Vec<PathBuf> = read
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.strip_prefix(LIBRARY_FILE).is_some_and(|v| v.starts_with('.'))
                })
                .map(|e| e.path())
                .collect();
            libs.sort();
            found.extend(libs);
        }
        found
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The library to load: the first place that holds one. A library named explicitly or by
/// `ORT_DYLIB_PATH` is used as is (or the error says why not); a place that claims the pinned build
/// must hold it, or the search stops there; a wheel of another build is passed over.
pub(crate) fn search(places: &Places, cache: Option<&VerifiedDigests>) -> Result<OrtLibrary, RuntimeError> {
    let mut passed_over = Vec::new();
    for (source, found) in places.list() {
        match (found, source) {
            (Found::Absent(why), _) => passed_over.push(why),
            (Found::File(path), LibrarySource::Wheel) => match check_library(&path, source, cache) {
                Ok(lib) => return Ok(lib),
                Err(e) => passed_over.push(format!("{}: {}", path.display(), refusal(&e))),
            },
            (Found::File(path), _) => return check_library(&path, source, cache),
        }
    }
    Err(lib_err(
        places.checkout.as_deref().unwrap_or(Path::new(LIBRARY_FILE)),
        format!(
            "ONNX Runtime {ORT_VERSION} was not found ({}); run `scripts/fetch-onnxruntime` in the Ferry checkout, \
             put the pinned library in lib/ beside the ferry executable or in ${FERRY_HOME_VAR}/lib, or set \
             {ORT_DYLIB_PATH_VAR} to a libonnxruntime shared library; `ferry doctor` shows every place searched",
            passed_over.join("; ")
        ),
    ))
}

/// Checks the file before it is loaded: where the pinned build is claimed it must match the recorded
/// digest (a library is code that runs with the host's privileges), answered from the verified-digest
/// cache when the file is unchanged since it was last hashed; any library must be a regular file, and
/// its version is read if possible.
pub(crate) fn check_library(
    path: &Path,
    source: LibrarySource,
    cache: Option<&VerifiedDigests>,
) -> Result<OrtLibrary, RuntimeError> {
    let (file, size) = ferry_spec::file::open_regular(path).map_err(|e| {
        let hint = match source {
            LibrarySource::Env => format!(" (named by {ORT_DYLIB_PATH_VAR})"),
            LibrarySource::Explicit => " (named by RuntimeOptions::library_path)".to_owned(),
            _ => String::new(),
        };
        lib_err(path, format!("{}{hint}", e.reason()))
    })?;
    let library = |version, sha256, digest_cached, build| OrtLibrary {
        path: path.to_path_buf(),
        source,
        version,
        sha256,
        digest_cached,
        build,
    };
    if !source.claims_pinned() {
        // Not claimed to be anything: the version is what the bundle's pin is checked against, so it is
        // read from the file (and remembered like a digest: reading 29 MB costs as much as hashing it).
        let ticket = match cache.map(|c| c.recall("onnxruntime-version", path, &file)) {
            Some(Remembered::Known(v)) => {
                return Ok(library(semver::Version::parse(&v).ok(), None, true, OrtBuild::Unknown));
            }
            Some(Remembered::Unknown(ticket)) => Some(ticket),
            None => None,
        };
        let bytes = read_whole(&file, size, path)?;
        let version = elf_symbol_version(&bytes);
        if let (Some(c), Some(t)) = (cache, ticket) {
            c.remember(t, &file, &version.as_ref().map_or_else(|| "unknown".to_owned(), ToString::to_string));
        }
        return Ok(library(version, None, false, OrtBuild::Unknown));
    }
    let expected = ORT_LIBRARY_SHA256.ok_or_else(|| {
        lib_err(path, format!("no pinned digest for this architecture; set {ORT_DYLIB_PATH_VAR}"))
    })?;
    let build_of = |digest: &str| {
        if digest == expected {
            Some(OrtBuild::Cpu)
        } else if Some(digest) == ORT_GPU_LIBRARY_SHA256 {
            Some(OrtBuild::Gpu)
        } else {
            None
        }
    };
    let version = semver::Version::parse(ORT_VERSION).ok();
    let ticket = match cache.map(|c| c.recall("onnxruntime", path, &file)) {
        Some(Remembered::Known(d)) if build_of(&d).is_some() => {
            let build = build_of(&d).unwrap_or(OrtBuild::Cpu);
            return Ok(library(version, Some(d), true, build));
        }
        Some(Remembered::Known(_)) | None => None,
        Some(Remembered::Unknown(ticket)) => Some(ticket),
    };
    let bytes = read_whole(&file, size, path)?;
    let actual = ferry_bundle::digest::Sha256Digest::of(&bytes).hex();
    let Some(build) = build_of(&actual) else {
        let fix = match source {
            LibrarySource::Checkout => "run `scripts/fetch-onnxruntime --force`",
            LibrarySource::Wheel => {
                "it is another build of ONNX Runtime; set ORT_DYLIB_PATH to use it anyway"
            }
            _ => {
                "replace it with the library of the Ferry release, or run `scripts/fetch-onnxruntime --dest` on it"
            }
        };
        return Err(lib_err(
            path,
            format!(
                "sha256 is {actual}, expected {expected} (ONNX Runtime {ORT_VERSION}){gpu}; the file is \
                 damaged or replaced: {fix}",
                gpu = ORT_GPU_LIBRARY_SHA256.map(|g| format!(" or {g} (its GPU build)")).unwrap_or_default(),
            ),
        ));
    };
    if let (Some(c), Some(t)) = (cache, ticket) {
        c.remember(t, &file, &actual);
    }
    Ok(library(version, Some(actual), false, build))
}

/// Checks the CUDA execution provider's libraries, which ONNX Runtime loads from its own directory: they
/// must be there, and beside a pinned GPU build they must be the pinned files (hashed once, then answered
/// by the verified-digest cache while unchanged). Beside a library named explicitly, they are the user's.
pub(crate) fn check_cuda_providers(
    library: &OrtLibrary,
    cache: Option<&VerifiedDigests>,
) -> Result<(), RuntimeError> {
    let dir = library.path.parent().unwrap_or(Path::new("."));
    for (name, pinned) in ORT_CUDA_PROVIDERS {
        let path = dir.join(name);
        let (file, size) = ferry_spec::file::open_regular(&path).map_err(|e| {
            lib_err(
                &path,
                format!(
                    "the CUDA execution provider's library is not usable ({}): the ONNX Runtime at `{}` has no \
                     CUDA support; run `scripts/fetch-onnxruntime --gpu`",
                    e.reason(),
                    library.path.display()
                ),
            )
        })?;
        if library.build != OrtBuild::Gpu {
            continue;
        }
        let ticket = match cache.map(|c| c.recall("onnxruntime-provider", &path, &file)) {
            Some(Remembered::Known(d)) if d == pinned => continue,
            Some(Remembered::Known(_)) | None => None,
            Some(Remembered::Unknown(ticket)) => Some(ticket),
        };
        let actual = ferry_bundle::digest::Sha256Digest::of(&read_whole(&file, size, &path)?).hex();
        if actual != pinned {
            return Err(lib_err(
                &path,
                format!(
                    "sha256 is {actual}, expected {pinned} (ONNX Runtime {ORT_VERSION}'s GPU build); the file is \
                     damaged or replaced: run `scripts/fetch-onnxruntime --gpu --force`"
                ),
            ));
        }
        if let (Some(c), Some(t)) = (cache, ticket) {
            c.remember(t, &file, &actual);
        }
    }
    Ok(())
}

/// The whole library, through the handle that was checked (not by path again, which could now name
/// another file).
fn read_whole(file: &std::fs::File, size: u64, path: &Path) -> Result<Vec<u8>, RuntimeError> {
    let handle = file.try_clone().map_err(|e| lib_err(path, e.to_string()))?;
    ferry_spec::file::read_open(handle, size, path, ferry_spec::file::NO_LIMIT)
        .map_err(|e| lib_err(path, e.reason()))
}

/// ONNX Runtime's Linux builds version their exported symbols as `VERS_<major.minor.patch>`
/// (`OrtGetApiBase@@VERS_1.31.1`); the version-definition string is the one version marker available
/// without calling into the library.
pub(crate) fn elf_symbol_version(bytes: &[u8]) -> Option<semver::Version> {
    const MARKER: &[u8] = b"VERS_";
    let mut start = 0;
    while let Some(pos) = find(&bytes[start..], MARKER) {
        let at = start + pos + MARKER.len();
        let tail = &bytes[at..];
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len()).min(32);
        if let Ok(text) = std::str::from_utf8(&tail[..end])
            && let Ok(v) = semver::Version::parse(text)
        {
            return Some(v);
        }
        start = at;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        match haystack[i..].iter().position(|&b| b == first) {
            Some(p) => {
                i += p;
                if haystack.get(i..i + needle.len()) == Some(needle) {
                    return Some(i);
                }
                i += 1;
            }
            None => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_and_const_agree() {
        let script =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/fetch-onnxruntime"))
                .expect("scripts/fetch-onnxruntime");
        assert!(script.contains(&format!("VERSION = \"{ORT_VERSION}\"")), "script pins another version");
        for digest in [
            "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            "8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467",
        ] {
            assert!(script.contains(digest), "script lacks library digest {digest}");
        }
        if let Some(d) = ORT_LIBRARY_SHA256 {
            assert!(script.contains(d));
        }
        assert!(
            DEFAULT_LIBRARY_PATH.is_empty()
                || DEFAULT_LIBRARY_PATH.ends_with(&format!(".ort/{ORT_VERSION}/libonnxruntime.so"))
        );
    }

    #[test]
    fn reads_elf_symbol_version() {
        let mut bytes = b"junk VERS_ nope\0 more VERS_1.31.1\0tail".to_vec();
        assert_eq!(elf_symbol_version(&bytes), semver::Version::parse("1.31.1").ok());
        bytes.truncate(10);
        assert_eq!(elf_symbol_version(&bytes), None);
        assert_eq!(elf_symbol_version(b""), None);
        assert_eq!(elf_symbol_version(b"VERS_"), None);
    }

    fn places(dir: &Path) -> Places {
        Places {
            checkout: Some(dir.join("checkout/libonnxruntime.so")),
            python_prefixes: Some(Vec::new()),
            python_first: Vec::new(),
            ..Places::default()
        }
    }

    #[test]
    fn explicit_then_env_then_installed_places() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = places(dir.path());
        p.explicit = Some(PathBuf::from("/a/lib.so"));
        p.env = Some(PathBuf::from("/b/lib.so"));
        let list: Vec<_> = p.list().collect();
        let sources: Vec<LibrarySource> = list.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            sources,
            [
                LibrarySource::Explicit,
                LibrarySource::Env,
                LibrarySource::BesideExecutable,
                LibrarySource::FerryHome,
                LibrarySource::Checkout,
                LibrarySource::Wheel
            ]
        );
        assert_eq!(list[0].1.path(), Some(Path::new("/a/lib.so")));
        assert_eq!(list[1].1.path(), Some(Path::new("/b/lib.so")));
        // A named library that is missing is an error, not a reason to look elsewhere.
        let err = search(&p, None).unwrap_err().to_string();
        assert!(err.contains("/a/lib.so") && err.contains("RuntimeOptions::library_path"), "{err}");
        p.explicit = None;
        let err = search(&p, None).unwrap_err().to_string();
        assert!(err.contains("/b/lib.so") && err.contains(ORT_DYLIB_PATH_VAR), "{err}");
    }

    #[test]
    fn installed_places_must_hold_the_pinned_build() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = places(dir.path());
        let err = search(&p, None).unwrap_err().to_string();
        assert!(err.contains("was not found") && err.contains("FERRY_HOME not set"), "{err}");
        // A damaged copy where the pinned build is installed stops the search: passing it over would hide it.
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("lib")).unwrap();
        std::fs::write(home.join("lib").join(LIBRARY_FILE), b"not the pinned build").unwrap();
        p.ferry_home = Some(home);
        std::fs::create_dir_all(dir.path().join("checkout")).unwrap();
        std::fs::write(p.checkout.as_ref().unwrap(), b"also not").unwrap();
        let err = search(&p, None).unwrap_err().to_string();
        assert!(err.contains("home/lib/libonnxruntime.so") && err.contains("sha256 is"), "{err}");
    }

    #[test]
    fn a_fifo_or_directory_where_the_library_belongs_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = places(dir.path());
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("lib")).unwrap();
        let fifo = home.join("lib").join(LIBRARY_FILE);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        p.ferry_home = Some(home.clone());
        let err = search(&p, None).unwrap_err().to_string();
        assert!(err.contains("libonnxruntime.so") && err.contains("FIFO"), "{err}");
        std::fs::remove_file(&fifo).unwrap();
        std::fs::create_dir(&fifo).unwrap();
        let err = search(&p, None).unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn a_wheel_of_another_build_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = places(dir.path());
        let capi = dir.path().join("venv/lib/python3.12/site-packages/onnxruntime/capi");
        std::fs::create_dir_all(&capi).unwrap();
        std::fs::write(capi.join("libonnxruntime.so.1.20.0"), b"VERS_1.20.0\0").unwrap();
        std::fs::write(capi.join("libonnxruntime_providers_shared.so"), b"").unwrap();
        p.python_prefixes = Some(vec![dir.path().join("venv")]);
        let list: Vec<_> = p.list().collect();
        let wheels: Vec<_> = list.iter().filter(|(s, _)| *s == LibrarySource::Wheel).collect();
        assert_eq!(wheels.len(), 1, "{list:?}");
        let err = search(&p, None).unwrap_err().to_string();
        assert!(
            err.contains("libonnxruntime.so.1.20.0: sha256 is") && err.contains("another build"),
            "{err}"
        );
    }

    #[test]
    fn the_digest_check_is_remembered_and_a_changed_file_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache =
            VerifiedDigests::at(&dir.path().join("verified")).unwrap().with_margin(std::time::Duration::ZERO);
        let fake = dir.path().join(LIBRARY_FILE);
        std::fs::write(&fake, b"VERS_1.2.3\0").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let first = check_library(&fake, LibrarySource::Env, Some(&cache)).unwrap();
        let second = check_library(&fake, LibrarySource::Env, Some(&cache)).unwrap();
        assert_eq!((first.digest_cached, second.digest_cached), (false, true));
        assert_eq!(second.version, semver::Version::parse("1.2.3").ok());
        std::fs::write(&fake, b"VERS_1.2.4\0").unwrap();
        let third = check_library(&fake, LibrarySource::Env, Some(&cache)).unwrap();
        assert_eq!((third.digest_cached, third.version), (false, semver::Version::parse("1.2.4").ok()));
        // A pinned place never takes a remembered value that is not the pin.
        let err = check_library(&fake, LibrarySource::Checkout, Some(&cache)).unwrap_err();
        assert!(err.to_string().contains("sha256 is"), "{err}");
    }

    #[test]
    fn missing_or_bad_library_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.so");
        assert!(matches!(
            check_library(&missing, LibrarySource::Env, None),
            Err(RuntimeError::OrtLibrary { .. })
        ));
        let fake = dir.path().join("fake.so");
        std::fs::write(&fake, b"not a library").unwrap();
        let err = check_library(&fake, LibrarySource::Checkout, None).unwrap_err();
        assert!(err.to_string().contains("sha256"), "{err}");
        let lib = check_library(&fake, LibrarySource::Env, None).unwrap();
        assert_eq!(lib.version, None);
    }
}
