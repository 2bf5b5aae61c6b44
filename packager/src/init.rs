//! `ferry init`: a bundle source scaffolded from a model a user already has.

use crate::PackError;
use crate::source::ONNX_LIMIT;
use ferry_onnx::{OnnxDim, ValueInfo, ValueKind};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn file_err(e: ferry_spec::file::FileError) -> PackError {
    PackError::Source { path: e.path().to_path_buf(), message: e.reason() }
}

/// What `ferry init` writes into `[model]` beyond what the model file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitOptions {
    /// `[model] name`; default: the source directory's name (else the model file's stem), made safe.
    pub name: Option<String>,
    /// `[model] version`; default `0.1.0`.
    pub version: Option<String>,
    /// `[model] license` (an SPDX expression); default empty, with a comment asking for one.
    pub license: Option<String>,
}

/// The largest last axis `init` scaffolds one feature table per position for: wider float inputs
/// (images, embeddings) are not tables of named features.
const MAX_SCAFFOLDED_FEATURES: u64 = 256;

/// [`init_with`] with the default [`InitOptions`].
pub fn init(model: &Path, dir: &Path) -> Result<(), PackError> {
    init_with(model, dir, &InitOptions::default())
}

/// Writes a bundle source for `model` into `dir` (which must not exist or be empty): the model and its
/// external-data files, a `ferry.toml` whose contract is read from the model's real inputs and outputs,
/// a permissive config schema with empty defaults, and a commented golden-set slot. `ferry pack DIR`
/// then works as is. Written into a temporary directory and renamed, so a failure leaves nothing.
///
/// What the model makes obvious is scaffolded too: an axis 0 the model leaves unnamed is the shared
/// `batch` dim of every tensor; a float input `[batch, n]` (n ≤ 256) gets one feature table per column
/// (no bounds yet, so NaN is refused until a column is marked `nullable`); an integer input that only
/// indexes an embedding table (`Gather`) gets `values = { min = 0, max = rows - 1 }`.
pub fn init_with(model: &Path, dir: &Path, options: &InitOptions) -> Result<(), PackError> {
    let bytes = ferry_spec::file::read(model, ONNX_LIMIT).map_err(file_err)?;
    let model_name =
        model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.onnx".into());
    let onnx_err = |e: ferry_onnx::OnnxError| PackError::Onnx {
        file: model.display().to_string(),
        message: e.to_string(),
    };
    let info = ferry_onnx::read_model(&bytes).map_err(onnx_err)?;
    let bounds = ferry_onnx::index_bounds(&bytes).map_err(onnx_err)?;
    let init_err = |message: String| PackError::Init { path: dir.to_path_buf(), message };
    match std::fs::read_dir(dir) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(init_err("directory is not empty".into()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(PackError::io(dir, e)),
    }
    let model_dir = model.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    for loc in &info.external_data {
        ferry_spec::check_relative_path(loc).map_err(|e| PackError::Onnx {
            file: model.display().to_string(),
            message: format!("external data `{loc}`: {e}"),
        })?;
    }
    let mut text = String::new();
    let default_name = || {
        let from = |p: Option<&std::ffi::OsStr>| {
            p.map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
        };
        sanitize(&from(dir.file_name()).or_else(|| from(model.file_stem())).unwrap_or_else(|| "model".into()))
    };
    let name = options.name.clone().unwrap_or_else(default_name);
    let version = options.version.clone().unwrap_or_else(|| "0.1.0".into());
    let _ =
        writeln!(text, "# Bundle source written by `ferry init`. Keys are documented in spec/FORMAT.md.\n");
    let _ = writeln!(
        text,
        "[model]\nname = {}\nversion = {}\ndescription = \"\"",
        toml_str(&name),
        toml_str(&version)
    );
    match &options.license {
        Some(l) => {
            let _ = writeln!(text, "license = {}", toml_str(l));
        }
        None => {
            let _ = writeln!(
                text,
                "# The licence of the weights, as an SPDX expression (\"Apache-2.0\"); shown in the SBOM.\nlicense = \"\""
            );
        }
    }
    let _ = writeln!(text, "onnx = {}\n", toml_str(&model_name));
    let _ = writeln!(text, "[config]\nschema = \"config.schema.json\"\ndefaults = \"config.json\"\n");
    for (side, values) in [("inputs", &info.inputs), ("outputs", &info.outputs)] {
        for v in values {
            let bound = if side == "inputs" { bounds.get(&v.name) } else { None };
            write_spec(&mut text, side, v, bound)
                .map_err(|m| PackError::Onnx { file: model.display().to_string(), message: m })?;
        }
    }
    let _ = writeln!(
        text,
        "# Golden sets: inputs and the outputs the model must reproduce (.npz, .npy, .safetensors or .json),\n\
         # computed by an independent reference (the framework the model was trained in), so that `ferry\n\
         # verify` proves this bundle reproduces them.\n\
         # [[golden]]\n# name = \"smoke\"\n# inputs = \"golden/smoke.inputs.npz\"\n# expected = \"golden/smoke.expected.npz\"\n# rtol = 1e-4\n# atol = 1e-5"
    );

    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| PackError::io(&parent, e))?;
    // Built under a temporary name beside `dir` and renamed into place (`ferry_atomic`): removed on any
    // error, and by the next write there if this process is killed.
    let tmp = ferry_atomic::AtomicDir::create(dir).map_err(|e| PackError::io(dir, e))?;
    let write = |rel: &str, data: &[u8]| -> Result<(), PackError> {
        let p = tmp.path().join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| PackError::io(d, e))?;
        }
        std::fs::write(&p, data).map_err(|e| PackError::io(&p, e))
    };
    write(&model_name, &bytes)?;
    for loc in &info.external_data {
        let from = model_dir.join(loc);
        let data = ferry_spec::file::read(&from, ferry_spec::file::NO_LIMIT).map_err(file_err)?;
        write(loc, &data)?;
    }
    write("config.schema.json", b"{\n  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n  \"type\": \"object\",\n  \"properties\": {}\n}\n")?;
    write("config.json", b"{}\n")?;
    write(ferry_spec::media::SOURCE_FILE, text.as_bytes())?;
    // An empty `dir` is replaced atomically; one that filled up meanwhile is an error.
    tmp.commit().map_err(|e| PackError::io(dir, e))
}

fn write_spec(
    text: &mut String,
    side: &str,
    v: &ValueInfo,
    bound: Option<&ferry_onnx::IndexBound>,
) -> Result<(), String> {
    if v.kind != ValueKind::Tensor {
        return Err(format!("`{}` is a {}; Ferry contracts describe tensors", v.name, v.kind.name()));
    }
    let dtype = v.elem_type.ok_or_else(|| {
        format!("`{}` has ONNX element type {}, which Ferry does not support", v.name, v.raw_elem_type)
    })?;
    let shape = v.shape.as_ref().ok_or_else(|| {
        format!("`{}` has no declared shape; give the model a shape before packing", v.name)
    })?;
    let dims: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            OnnxDim::Value(n) if *n >= 0 => n.to_string(),
            OnnxDim::Param(p) => toml_str(p),
            // Exporters leave the batch axis unnamed; naming it once links every tensor's batch.
            _ if i == 0 => toml_str("batch"),
            _ => toml_str(&format!("{}_dim{i}", sanitize(&v.name))),
        })
        .collect();
    let _ = writeln!(
        text,
        "[[{side}]]\nname = {}\ndtype = \"{dtype}\"\nshape = [{}]",
        toml_str(&v.name),
        dims.join(", ")
    );
    if let Some(b) = bound.filter(|b| b.size > 0 && !dtype.is_float() && dtype.size().is_some()) {
        let node = if b.node.is_empty() { String::new() } else { format!(" `{}`", b.node) };
        let _ = writeln!(
            text,
            "# Indexes `{}` ({} rows) through Gather{node}: an id outside [0, {}) is refused at the door.\nvalues = {{ min = 0, max = {} }}",
            b.table,
            b.size,
            b.size,
            b.size - 1
        );
    }
    let columns = match shape.as_slice() {
        [_, OnnxDim::Value(n)]
            if side == "inputs" && dtype.is_float() && (1..=MAX_SCAFFOLDED_FEATURES as i64).contains(n) =>
        {
            *n
        }
        _ => 0,
    };
    if columns > 0 {
        let _ = writeln!(
            text,
            "# One table per column: rename them, add min/max/allowed, and mark the columns that may be\n\
             # missing (NaN) with nullable = true; until then NaN is refused everywhere.\nfeatures = ["
        );
        for c in 0..columns {
            let _ = writeln!(text, "  {{ name = \"col_{c}\" }},");
        }
        let _ = writeln!(text, "]");
    }
    let _ = writeln!(text);
    Ok(())
}

fn sanitize(s: &str) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        out.insert(0, 'm');
    }
    out.truncate(128);
    out
}

fn toml_str(s: &str) -> String {
    // A TOML basic string has JSON's escapes.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
