//! Loading and validating a bundle source directory.

use crate::PackError;
use crate::source_file::{self, Refusal};
use ferry_onnx::{ModelInfo, OnnxDim, ValueInfo, ValueKind};
use ferry_spec::config::ConfigSchema;
use ferry_spec::file::{NO_LIMIT, SMALL_FILE_LIMIT};
use ferry_spec::{Source, TensorSpec, media};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A validated bundle source: every named file exists, the contract matches the model, the default
/// config passes its schema and the golden files fit the contract.
#[derive(Debug, Clone)]
pub struct LoadedSource {
    /// The source directory.
    pub dir: PathBuf,
    /// The parsed `ferry.toml`.
    pub source: Source,
    /// What the ONNX model declares.
    pub model: ModelInfo,
    /// Every file of the file view (bundle path → path on disk), `ferry.toml` included, sorted.
    pub files: BTreeMap<String, PathBuf>,
    /// Signatures and attestations found in the source, `(source path, sigstore bundle JSON)`: every
    /// `.ferry/referrers/*.json` in name order (as `ferry unpack` writes them), then `model.sig` unless
    /// it repeats one of them. Each is kept as a referrer of the new bundle, classified by content
    /// (`ferry_trust::kept_referrer`), or the pack fails naming it.
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// The most an `.onnx` file can be: protobuf messages are limited to 2 GiB (larger models keep their
/// weights in external-data files, which are streamed, never read whole).
pub(crate) const ONNX_LIMIT: u64 = 2 << 30;

/// Reads `ferry.toml` from `dir` and validates the whole source.
///
/// Every file is read through [`source_file`](crate::source_file): a symbolic link, FIFO, device or
/// `..` anywhere below `dir` is refused ([`PackError::UnsafeFile`]), naming the path.
pub fn load(dir: &Path) -> Result<LoadedSource, PackError> {
    let toml_path = dir.join(media::SOURCE_FILE);
    let text = match source_file::read(dir, media::SOURCE_FILE, SMALL_FILE_LIMIT) {
        Ok(t) => t,
        Err(Refusal::Missing) => {
            return Err(PackError::Source {
                path: toml_path,
                message:
                    "not found: a bundle source needs a ferry.toml (`ferry init MODEL.onnx DIR` writes one)"
                        .into(),
            });
        }
        Err(r) => return Err(refused(r, &toml_path, None, media::SOURCE_FILE)),
    };
    let text = String::from_utf8(text).map_err(|e| PackError::Source {
        path: toml_path.clone(),
        message: format!("not UTF-8 text: {}", e.utf8_error()),
    })?;
    let source = Source::from_toml_str(&text).map_err(|e| PackError::Source {
        path: toml_path.clone(),
        message: e.to_string().trim_end().to_owned(),
    })?;

    let mut files = BTreeMap::new();
    files.insert(media::SOURCE_FILE.to_owned(), toml_path.clone());
    let mut named: Vec<(String, String)> = vec![("model.onnx".into(), source.model.onnx.clone())];
    for (i, f) in source.model.extra_files.iter().enumerate() {
        named.push((format!("model.extra_files[{i}]"), f.clone()));
    }
    if let Some(c) = &source.config {
        named.push(("config.schema".into(), c.schema.clone()));
        if let Some(d) = &c.defaults {
            named.push(("config.defaults".into(), d.clone()));
        }
    }
    for (i, g) in source.golden.iter().enumerate() {
        named.push((format!("golden[{i}].inputs"), g.inputs.clone()));
        named.push((format!("golden[{i}].expected"), g.expected.clone()));
    }
    for (key, rel) in &named {
        let disk = existing_file(dir, &toml_path, key, rel)?;
        files.insert(rel.clone(), disk);
    }

    let onnx_file = &source.model.onnx;
    let onnx_bytes = source_file::read(dir, onnx_file, ONNX_LIMIT)
        .map_err(|r| refused(r, &toml_path, Some("model.onnx"), onnx_file))?;
    let model = ferry_onnx::read_model(&onnx_bytes)
        .map_err(|e| PackError::Onnx { file: onnx_file.clone(), message: e.to_string() })?;
    drop(onnx_bytes);
    for loc in &model.external_data {
        let rel = ferry_spec::external_data_path(onnx_file, loc);
        ferry_spec::check_relative_path(&rel).map_err(|e| PackError::Onnx {
            file: onnx_file.clone(),
            message: format!("external data location `{loc}` is not a safe relative path: {e}"),
        })?;
        let disk = existing_file(dir, &toml_path, &format!("external data of {onnx_file}"), &rel)?;
        files.insert(rel, disk);
    }

    check_contract(onnx_file, "inputs", &source.inputs, &model.inputs)?;
    check_contract(onnx_file, "outputs", &source.outputs, &model.outputs)?;
    check_config(dir, &toml_path, &source)?;
    check_golden(dir, &toml_path, &source)?;
    let mut signatures = Vec::new();
    for rel in referrer_files(dir)? {
        let bytes = source_file::read(dir, &rel, SMALL_FILE_LIMIT)
            .map_err(|r| refused(r, &dir.join(&rel), None, &rel))?;
        signatures.push((rel, bytes));
    }
    let sig_path = dir.join(ferry_trust::SIGNATURE_FILE);
    match source_file::read(dir, ferry_trust::SIGNATURE_FILE, SMALL_FILE_LIMIT) {
        Ok(b) => {
            if !signatures.iter().any(|(_, s)| *s == b) {
                signatures.push((ferry_trust::SIGNATURE_FILE.to_owned(), b));
            }
        }
        Err(Refusal::Missing) => {}
        Err(r) => return Err(refused(r, &sig_path, None, ferry_trust::SIGNATURE_FILE)),
    }
    if files.contains_key(ferry_trust::SIGNATURE_FILE) {
        return Err(PackError::Source {
            path: toml_path,
            message: "`model.sig` is where a bundle's signature is unpacked; it cannot be a bundled file"
                .into(),
        });
    }
    // The one set of file-view path rules, which the reader enforces too: with the files pack generates,
    // so a source file can never collide with them.
    let generated = [crate::provenance::PROVENANCE_PATH, crate::provenance::SBOM_PATH];
    ferry_spec::check_file_view(files.keys().map(String::as_str).chain(generated))
        .map_err(|e| PackError::Source { path: toml_path.clone(), message: format!("file view: {e}") })?;
    Ok(LoadedSource { dir: dir.to_path_buf(), source, model, files, signatures })
}

/// The error for a source file that could not be opened; `key` is the `ferry.toml` key naming it.
/// The most signatures and attestations a source may carry in `.ferry/referrers/`.
const MAX_REFERRER_FILES: usize = 256;

/// The `.ferry/referrers/*.json` files of a source, sorted by name. Each is read through
/// [`source_file::read`] afterwards, which refuses links and anything but a regular file.
fn referrer_files(dir: &Path) -> Result<Vec<String>, PackError> {
    let rel_dir = ferry_spec::media::REFERRERS_DIR;
    let path = dir.join(rel_dir);
    let entries = match std::fs::read_dir(&path) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PackError::io(&path, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PackError::io(&path, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| n.ends_with(".json")) else {
            return Err(PackError::Source {
                path: entry.path(),
                message: format!("only signature files named `NNN.json` may be in `{rel_dir}/`"),
            });
        };
        names.push(format!("{rel_dir}/{name}"));
        if names.len() > MAX_REFERRER_FILES {
            return Err(PackError::Source {
                path: path.clone(),
                message: format!("more than {MAX_REFERRER_FILES} signature files"),
            });
        }
    }
    names.sort();
    Ok(names)
}

fn refused(r: Refusal, toml_path: &Path, key: Option<&str>, rel: &str) -> PackError {
    match r {
        Refusal::Missing => match key {
            Some(key) => PackError::MissingFile {
                path: toml_path.to_path_buf(),
                key: key.to_owned(),
                file: rel.to_owned(),
            },
            None => PackError::Source { path: toml_path.to_path_buf(), message: "not found".into() },
        },
        Refusal::Unsafe { path, reason } => {
            PackError::UnsafeFile { path, key: key.map(str::to_owned), reason }
        }
        Refusal::TooLarge { path, size, limit } => PackError::Source {
            path,
            message: format!("is {size} bytes, more than the {limit}-byte limit for this file"),
        },
        Refusal::Io { path, source } => PackError::io(path, source),
    }
}

/// Checks that `rel` is a regular file below `dir` (opening it the way the writer will) and returns its
/// path on disk.
fn existing_file(dir: &Path, toml_path: &Path, key: &str, rel: &str) -> Result<PathBuf, PackError> {
    source_file::open(dir, rel).map_err(|r| refused(r, toml_path, Some(key), rel))?;
    Ok(dir.join(rel))
}

/// The declared contract must describe the graph's real I/O: the same names, dtypes and ranks, and no
/// fixed dim that the model contradicts. A declared fixed dim may narrow a symbolic one of the model.
fn check_contract(
    file: &str,
    side: &str,
    declared: &[TensorSpec],
    actual: &[ValueInfo],
) -> Result<(), PackError> {
    let err = |key: String, message: String| PackError::Contract { file: file.to_owned(), key, message };
    for (i, d) in declared.iter().enumerate() {
        let key = format!("{side}[{i}]");
        let Some(a) = actual.iter().find(|a| a.name == d.name) else {
            let names: Vec<&str> = actual.iter().map(|a| a.name.as_str()).collect();
            return Err(err(
                format!("{key}.name"),
                format!("the model has no {} named `{}`; it has {names:?}", &side[..side.len() - 1], d.name),
            ));
        };
        if a.kind != ValueKind::Tensor {
            return Err(err(
                key,
                format!("`{}` is a {} in the model; Ferry contracts describe tensors", d.name, a.kind.name()),
            ));
        }
        match a.elem_type {
            Some(t) if t == d.dtype => {}
            Some(t) => {
                return Err(err(
                    format!("{key}.dtype"),
                    format!("`{}` is declared {} but the model says {t}", d.name, d.dtype),
                ));
            }
            None => {
                return Err(err(
                    format!("{key}.dtype"),
                    format!(
                        "`{}` has ONNX element type {}, which Ferry does not support",
                        d.name, a.raw_elem_type
                    ),
                ));
            }
        }
        if let Some(shape) = &a.shape {
            if shape.len() != d.shape.len() {
                return Err(err(
                    format!("{key}.shape"),
                    format!(
                        "`{}` is declared with rank {} {} but the model says rank {}",
                        d.name,
                        d.shape.len(),
                        d.shape_string(),
                        shape.len()
                    ),
                ));
            }
            for (j, (dd, md)) in d.shape.iter().zip(shape).enumerate() {
                let fixed = match md {
                    OnnxDim::Value(m) => Some(*m),
                    OnnxDim::Param(_) | OnnxDim::Unknown => None,
                };
                let ok = ferry_contract::dim_fits_model(dd, fixed);
                if !ok {
                    return Err(err(
                        format!("{key}.shape[{j}]"),
                        format!(
                            "`{}` dim {j} is declared `{dd}` but the model fixes it to {}",
                            d.name,
                            fmt_dim(md)
                        ),
                    ));
                }
            }
        }
    }
    for a in actual {
        if !declared.iter().any(|d| d.name == a.name) {
            return Err(err(
                side.to_owned(),
                format!(
                    "the model's {} `{}` is not declared in the contract",
                    &side[..side.len() - 1],
                    a.name
                ),
            ));
        }
    }
    Ok(())
}

fn fmt_dim(d: &OnnxDim) -> String {
    match d {
        OnnxDim::Value(v) => v.to_string(),
        OnnxDim::Param(p) => p.clone(),
        OnnxDim::Unknown => "?".into(),
    }
}

fn check_config(dir: &Path, toml_path: &Path, source: &Source) -> Result<(), PackError> {
    let Some(c) = &source.config else { return Ok(()) };
    let schema = read_json(dir, toml_path, "config.schema", &c.schema)?;
    let compiled = ConfigSchema::compile(&schema).map_err(|e| PackError::Config {
        file: c.schema.clone(),
        message: format!("not a valid JSON Schema: {e}"),
    })?;
    let defaults = match &c.defaults {
        Some(d) => Some((d, read_json(dir, toml_path, "config.defaults", d)?)),
        None => None,
    };
    let file = defaults.as_ref().map(|(d, _)| (*d).clone()).unwrap_or_else(|| c.schema.clone());
    // The same effective defaults `verify` and the runtime check: schema defaults, then the file.
    let effective = compiled.effective_defaults(defaults.as_ref().map(|(_, v)| v)).ok_or_else(|| {
        PackError::Config { file: file.clone(), message: "the default config must be a JSON object".into() }
    })?;
    compiled.validate(&effective).map_err(|v| PackError::Config {
        file,
        message: format!(
            "the default config (schema defaults merged with the defaults file) fails its schema `{}`: {}",
            c.schema,
            v.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ),
    })
}

fn read_json(dir: &Path, toml_path: &Path, key: &str, rel: &str) -> Result<serde_json::Value, PackError> {
    let bytes =
        source_file::read(dir, rel, SMALL_FILE_LIMIT).map_err(|r| refused(r, toml_path, Some(key), rel))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PackError::Config { file: rel.to_owned(), message: format!("not valid JSON: {e}") })
}

/// Golden files must parse and carry exactly the declared tensors with the declared dtypes and ranks.
fn check_golden(dir: &Path, toml_path: &Path, source: &Source) -> Result<(), PackError> {
    for (i, g) in source.golden.iter().enumerate() {
        for (field, rel, specs) in
            [("inputs", &g.inputs, &source.inputs), ("expected", &g.expected, &source.outputs)]
        {
            let key = format!("golden[{i}].{field}");
            let err = |message: String| PackError::Golden { file: rel.clone(), key: key.clone(), message };
            let disk = dir.join(rel);
            let format = ferry_tensor::Format::from_path(&disk).ok_or_else(|| {
                err(ferry_tensor::TensorError::UnknownFormat { path: disk.clone() }.to_string())
            })?;
            let bytes =
                source_file::read(dir, rel, NO_LIMIT).map_err(|r| refused(r, toml_path, Some(&key), rel))?;
            let tensors = ferry_contract::files::read_tensor_bytes(&bytes, format, &disk, specs)
                .map_err(|e| err(e.in_file(&disk).to_string()))?;
            drop(bytes);
            ferry_contract::check_tensor_set(specs, &tensors).map_err(|e| err(e.to_string()))?;
        }
    }
    Ok(())
}
