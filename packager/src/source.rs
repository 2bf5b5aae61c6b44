//! Loading and validating a bundle source directory.

use crate::PackError;
use crate::reference::ReferenceSample;
use crate::source_file::{self, Refusal};
use ferry_contract::sample::SampleKind;
use ferry_onnx::{ModelInfo, ValueInfo};
use ferry_spec::config::ConfigSchema;
use ferry_spec::file::{NO_LIMIT, SMALL_FILE_LIMIT};
use ferry_spec::{GoldenSide, Source, TensorSpec, media};
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
    /// The manifest's `transform` (§3.7): `[transform]` with each component checked and pinned and the
    /// build's locked dependencies; `None` without a `[transform]` section.
    pub transform: Option<ferry_spec::TransformManifest>,
    /// The reference sample (`[reference] data`, or `ferry pack --reference FILE`), read and its kind
    /// known; profiled at pack time.
    pub reference: Option<crate::reference::ReferenceSample>,
}

/// The most an `.onnx` file can be: protobuf messages are limited to 2 GiB (larger models keep their
/// weights in external-data files, which are streamed, never read whole).
pub(crate) const ONNX_LIMIT: u64 = 2 << 30;

/// Reads `ferry.toml` from `dir` and validates the whole source.
///
/// Every file is read through [`source_file`](crate::source_file): a symbolic link, FIFO, device or
/// `..` anywhere below `dir` is refused ([`PackError::UnsafeFile`]), naming the path.
pub fn load(dir: &Path) -> Result<LoadedSource, PackError> {
    load_with(dir, None)
}

/// [`load`], with the reference sample read from `reference` (a file anywhere, `ferry pack
/// --reference FILE`) instead of `[reference] data`.
pub fn load_with(dir: &Path, reference: Option<&Path>) -> Result<LoadedSource, PackError> {
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
        for (key, file) in g.files() {
            named.push((format!("golden[{i}].{key}"), file.to_owned()));
        }
    }
    if let Some(t) = &source.transform {
        for (key, file) in [
            ("transform.prepare", &t.prepare),
            ("transform.decide", &t.decide),
            ("transform.records", &t.records),
            ("transform.results", &t.results),
        ] {
            if let Some(file) = file {
                named.push((key.into(), file.clone()));
            }
        }
    }
    let shipped = source
        .reference
        .as_ref()
        .filter(|r| r.ship_sample && reference.is_none())
        .and_then(|r| r.data.clone());
    if let Some(rel) = &shipped {
        named.push(("reference.data".into(), rel.clone()));
    }
    for (key, rel) in &named {
        let disk = existing_file(dir, &toml_path, key, rel)?;
        files.insert(rel.clone(), disk);
    }
    let sample_err = |path: PathBuf, message: String| PackError::Reference { path, message };
    let reference = match (reference, source.reference.as_ref().and_then(|r| r.data.as_deref())) {
        (Some(path), _) => {
            let kind = SampleKind::of(path).map_err(|m| sample_err(path.to_path_buf(), m))?;
            let bytes = ferry_spec::file::read(path, crate::reference::SAMPLE_LIMIT)
                .map_err(|e| sample_err(path.to_path_buf(), e.reason()))?;
            Some(ReferenceSample { path: path.to_path_buf(), shipped: None, bytes, kind })
        }
        (None, Some(rel)) => {
            let kind = SampleKind::of(Path::new(rel)).map_err(|m| sample_err(dir.join(rel), m))?;
            let bytes = source_file::read(dir, rel, crate::reference::SAMPLE_LIMIT)
                .map_err(|r| refused(r, &toml_path, Some("reference.data"), rel))?;
            Some(ReferenceSample { path: dir.join(rel), shipped: shipped.clone(), bytes, kind })
        }
        (None, None) => None,
    };
    // The transforms' source tree, every file of it, and then the components checked and pinned.
    let mut tree = Vec::new();
    if let Some(root) = source.transform.as_ref().and_then(|t| t.source.as_deref()) {
        tree = crate::transform::source_tree(dir, &toml_path, root)?;
        for rel in &tree {
            files.insert(rel.clone(), dir.join(rel));
        }
    }
    let transform = match &source.transform {
        Some(t) => Some(crate::transform::manifest(dir, &toml_path, t, &tree)?),
        None => None,
    };

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
    crate::transform::check_golden_lines(dir, &toml_path, &source)?;
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
    let generated = [
        crate::provenance::PROVENANCE_PATH,
        crate::provenance::SBOM_PATH,
        ferry_spec::reference::PROFILE_PATH,
    ];
    ferry_spec::check_file_view(files.keys().map(String::as_str).chain(generated))
        .map_err(|e| PackError::Source { path: toml_path.clone(), message: format!("file view: {e}") })?;
    Ok(LoadedSource { dir: dir.to_path_buf(), source, model, files, signatures, transform, reference })
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

pub(crate) fn refused(r: Refusal, toml_path: &Path, key: Option<&str>, rel: &str) -> PackError {
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
pub(crate) fn existing_file(
    dir: &Path,
    toml_path: &Path,
    key: &str,
    rel: &str,
) -> Result<PathBuf, PackError> {
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
    use ferry_contract::IoDifference as D;
    let Some(first) = ferry_contract::model_io::differences(declared, actual).into_iter().next() else {
        return Ok(());
    };
    let one = &side[..side.len() - 1];
    let (key, message) = match first {
        D::Missing { index, name } => {
            let names: Vec<&str> = actual.iter().map(|a| a.name.as_str()).collect();
            (
                format!("{side}[{index}].name"),
                format!("the model has no {one} named `{name}`; it has {names:?}"),
            )
        }
        D::Kind { index, name, declared, model } => (
            format!("{side}[{index}].type"),
            format!("`{name}` is declared {declared} but the model says {model}"),
        ),
        D::DType { index, name, declared, model: Ok(t) } => (
            format!("{side}[{index}].dtype"),
            format!("`{name}` is declared {declared} but the model says {t}"),
        ),
        D::DType { index, name, model: Err(code), .. } => (
            format!("{side}[{index}].dtype"),
            format!("`{name}` has ONNX element type {code}, which Ferry does not support"),
        ),
        D::Rank { index, name, declared, model } => {
            let spec = declared.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            (
                format!("{side}[{index}].shape"),
                format!(
                    "`{name}` is declared with rank {} [{spec}] but the model says rank {}",
                    declared.len(),
                    model.len()
                ),
            )
        }
        D::Dim { index, name, axis, declared, model } => (
            format!("{side}[{index}].shape[{axis}]"),
            format!("`{name}` dim {axis} is declared `{declared}` but the model fixes it to {model}"),
        ),
        D::Undeclared { name } => {
            (side.to_owned(), format!("the model's {one} `{name}` is not declared in the contract"))
        }
    };
    Err(PackError::Contract { file: file.to_owned(), key, message })
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

pub(crate) fn read_json(
    dir: &Path,
    toml_path: &Path,
    key: &str,
    rel: &str,
) -> Result<serde_json::Value, PackError> {
    let bytes =
        source_file::read(dir, rel, SMALL_FILE_LIMIT).map_err(|r| refused(r, toml_path, Some(key), rel))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PackError::Config { file: rel.to_owned(), message: format!("not valid JSON: {e}") })
}

/// Golden files must parse and carry exactly the declared tensors with the declared dtypes and ranks: each
/// side from its own file, or from its object of a golden file (`file`).
fn check_golden(dir: &Path, toml_path: &Path, source: &Source) -> Result<(), PackError> {
    for (i, g) in source.golden.iter().enumerate() {
        for side in GoldenSide::BOTH {
            let file = g.side(side);
            // A set of raw records names only the sides the transforms' check compares (`inputs` for
            // `prepare`, `expected` for the model), or neither.
            if file.path.is_empty() && !g.has_tensors() {
                continue;
            }
            let (specs, other) = match side {
                GoldenSide::Inputs => (&source.inputs, &source.outputs),
                GoldenSide::Outputs => (&source.outputs, &source.inputs),
            };
            let rel = file.path;
            let key = format!("golden[{i}].{}", file.key);
            let err = |message: String| PackError::Golden { file: rel.to_owned(), key: key.clone(), message };
            let disk = dir.join(rel);
            if ferry_tensor::Format::from_path(&disk).is_none() {
                return Err(err(ferry_tensor::TensorError::UnknownFormat { path: disk }.to_string()));
            }
            let bytes =
                source_file::read(dir, rel, NO_LIMIT).map_err(|r| refused(r, toml_path, Some(&key), rel))?;
            let max = ferry_contract::DEFAULT_MAX_ELEMENTS;
            let tensors = ferry_contract::files::read_golden_values(&bytes, file, specs, max)
                .map_err(|e| err(e.in_file(&disk).to_string()))?;
            drop(bytes);
            ferry_contract::check_tensor_set(specs, &tensors).map_err(|e| {
                let within = if file.combined { format!("in `{side}`: ") } else { String::new() };
                err(format!("{within}{e}{}", other_side_hint(&e, other, file)))
            })?;
        }
    }
    Ok(())
}

/// Where a tensor that one side of a golden set does not declare belongs, when the other side declares
/// it (an input among the expected outputs, or the reverse).
fn other_side_hint(
    e: &ferry_contract::TensorSetError,
    other: &[TensorSpec],
    file: ferry_spec::GoldenFile<'_>,
) -> String {
    let ferry_contract::TensorSetError::Unknown { tensor } = e else { return String::new() };
    if !other.iter().any(|s| &s.name == tensor) {
        return String::new();
    }
    let (what, place) = match (file.side, file.combined) {
        (GoldenSide::Outputs, true) => ("an input", "under `inputs`"),
        (GoldenSide::Inputs, true) => ("an output", "under `outputs`"),
        (GoldenSide::Outputs, false) => ("an input", "in the `inputs` file"),
        (GoldenSide::Inputs, false) => ("an output", "in the `expected` file"),
    };
    format!(" as an {}: it is {what}, so it belongs {place}", file.side.key().trim_end_matches('s'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ferry_onnx::{OnnxDim, ValueKind};
    use ferry_spec::{DType, Dim};

    fn refusal(declared: TensorSpec, model: ValueInfo) -> String {
        match check_contract("ferry.toml", "inputs", &[declared], &[model]) {
            Err(PackError::Contract { file, key, message }) => format!("{file}: {key}: {message}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn pack_names_the_key_of_the_first_difference_with_the_model() {
        let spec = |shape: Vec<Dim>| TensorSpec {
            value_type: Default::default(),
            name: "x".into(),
            dtype: DType::Float32,
            shape,
            features: vec![],
            values: None,
        };
        let value = |name: &str, kind, elem_type, shape| ValueInfo {
            name: name.into(),
            kind,
            elem_type,
            raw_elem_type: 16,
            shape,
            value_type: None,
        };
        let f32 = Some(DType::Float32);
        let fixed = |n| Some(vec![OnnxDim::Value(n)]);
        let cases = [
            (spec(vec![Dim::Fixed(2)]), value("y", ValueKind::Tensor, f32, fixed(2))),
            (spec(vec![]), value("x", ValueKind::Map, None, None)),
            (spec(vec![Dim::Fixed(2)]), value("x", ValueKind::Tensor, Some(DType::Int64), fixed(3))),
            (spec(vec![]), value("x", ValueKind::Tensor, None, None)),
            (spec(vec![Dim::Fixed(2), Dim::Fixed(1)]), value("x", ValueKind::Tensor, f32, fixed(2))),
            (spec(vec![Dim::Symbolic("batch".into())]), value("x", ValueKind::Tensor, f32, fixed(1))),
        ];
        let got: Vec<String> = cases.into_iter().map(|(d, m)| refusal(d, m)).collect();
        assert_eq!(
            got,
            [
                "ferry.toml: inputs[0].name: the model has no input named `x`; it has [\"y\"]",
                "ferry.toml: inputs[0].type: `x` is declared tensor but the model says a map Ferry cannot hold",
                "ferry.toml: inputs[0].dtype: `x` is declared float32 but the model says int64",
                "ferry.toml: inputs[0].dtype: `x` has ONNX element type 16, which Ferry does not support",
                "ferry.toml: inputs[0].shape: `x` is declared with rank 2 [2, 1] but the model says rank 1",
                "ferry.toml: inputs[0].shape[0]: `x` dim 0 is declared `batch` but the model fixes it to 1",
            ]
        );
        let extra = [value("x", ValueKind::Tensor, f32, None), value("z", ValueKind::Tensor, f32, None)];
        let e = check_contract("ferry.toml", "inputs", &[spec(vec![])], &extra).unwrap_err();
        assert!(e.to_string().contains("the model's input `z` is not declared in the contract"), "{e}");
    }
}
