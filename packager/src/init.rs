//! `ferry init`: a bundle source scaffolded from a model a user already has.

use crate::PackError;
use crate::source::ONNX_LIMIT;
use ferry_contract::sample::parquet::ParquetTable;
use ferry_contract::sample::{Cell, CsvRecords, parse_cell};
use ferry_onnx::{OnnxDim, ValueInfo, ValueKind};
use ferry_spec::{DType, Feature, ValueType};
use ferry_tensor::{Tensor, TensorData, TensorMap};
use std::collections::BTreeMap;
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
    /// A sample: a CSV of the model's tabular input (a header row naming the columns, one row per
    /// record) or a Parquet file of it (its columns, in order; `.parquet`), or a tensor file (`.npz`, `.safetensors`, `.json`) holding a batch of every input by name.
    /// Profiled into feature tables; its first rows made into a golden set.
    pub sample: Option<PathBuf>,
    /// How many of the sample's first rows make the golden set (default 5).
    pub golden_rows: Option<usize>,
}

/// Computes a model's outputs for golden inputs, given the scaffolded source packed into a bundle (its
/// path): how `init --sample` gets expected outputs without the packager linking a runtime. The `ferry`
/// library passes one backed by ONNX Runtime.
pub type Reference<'a> = &'a dyn Fn(&Path, &TensorMap) -> Result<ferry_tensor::ValueMap, String>;

/// The largest sample `init` reads.
const SAMPLE_LIMIT: u64 = 256 << 20;
/// A column with at most this many distinct whole numbers (and at least four rows per value) is
/// categorical: its feature gets `allowed` instead of a range.
const MAX_CATEGORIES: usize = 10;

/// The largest last axis `init` scaffolds one feature table per position for: wider float inputs
/// (images, embeddings) are not tables of named features.
const MAX_SCAFFOLDED_FEATURES: usize = 256;

/// [`init_with`] with the default [`InitOptions`].
pub fn init(model: &Path, dir: &Path) -> Result<(), PackError> {
    init_with(model, dir, &InitOptions::default(), None)
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
///
/// With a [`InitOptions::sample`], the tabular input's feature tables come from the sample (names from
/// its header, observed ranges, nullability where a value is missing, small categorical sets), and, when
/// `reference` is given, its first rows become the golden set `sample`, with outputs computed by
/// `reference`. The file says so: such expected outputs prove the bundle keeps reproducing this model,
/// not that the model is right.
pub fn init_with(
    model: &Path,
    dir: &Path,
    options: &InitOptions,
    reference: Option<Reference<'_>>,
) -> Result<(), PackError> {
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
    let profile = match &options.sample {
        Some(path) => Some(profile_sample(path, &info.inputs, options.golden_rows.unwrap_or(5))?),
        None => None,
    };
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
            let profiled =
                profile.as_ref().filter(|_| side == "inputs").and_then(|p| p.features.get(&v.name));
            write_spec(&mut text, side, v, bound, profiled.map(Vec::as_slice))
                .map_err(|m| PackError::Unsupported { file: model.display().to_string(), message: m })?;
        }
    }
    let _ = writeln!(
        text,
        "# Golden sets: inputs and the outputs the model must reproduce (.npz, .npy, .safetensors or .json),\n\
         # computed by an independent reference (the framework the model was trained in), so that `ferry\n\
         # verify` proves this bundle reproduces them.\n\
         # [[golden]]\n# name = \"smoke\"\n# inputs = \"golden/smoke.inputs.npz\"\n# expected = \"golden/smoke.expected.npz\"\n\
         # (or both sides in one JSON file: file = \"golden/smoke.json\"; `ferry golden` writes either)\n# rtol = 1e-4\n# atol = 1e-5"
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
    if let (Some(p), Some(reference)) = (&profile, reference)
        && !p.golden.is_empty()
    {
        golden_from_sample(tmp.path(), &mut text, p, reference)?;
    }
    // An empty `dir` is replaced atomically; one that filled up meanwhile is an error.
    tmp.commit().map_err(|e| PackError::io(dir, e))
}

fn write_spec(
    text: &mut String,
    side: &str,
    v: &ValueInfo,
    bound: Option<&ferry_onnx::IndexBound>,
    profiled: Option<&[Feature]>,
) -> Result<(), String> {
    let value_type = match &v.value_type {
        Some(t) => t.clone(),
        None if v.kind != ValueKind::Tensor => {
            return Err(format!(
                "{side} `{}` has ONNX type {}, which Ferry cannot hold (only tensors, and sequences, maps \
                 and optionals of them: map keys integers or strings, map values scalars)",
                v.name,
                v.kind.name()
            ));
        }
        None => ValueType::Tensor,
    };
    let dtype = v.elem_type.ok_or_else(|| {
        format!("`{}` has ONNX element type {}, which Ferry does not support", v.name, v.raw_elem_type)
    })?;
    // A map's values are scalars whatever shape (usually none) the model gives them.
    let no_dims = Vec::new();
    let shape = if value_type.has_map() {
        &no_dims
    } else {
        v.shape.as_ref().ok_or_else(|| {
            format!("`{}` has no declared shape; give the model a shape before packing", v.name)
        })?
    };
    let in_container = !value_type.is_tensor();
    let dims: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            OnnxDim::Value(n) if *n >= 0 => n.to_string(),
            OnnxDim::Param(p) => toml_str(p),
            // Exporters leave the batch axis unnamed; naming it once links every tensor's batch. Inside
            // a sequence, dims are free per element, so a shared name would say nothing.
            _ if i == 0 && !in_container => toml_str("batch"),
            _ => toml_str(&format!("{}_dim{i}", sanitize(&v.name))),
        })
        .collect();
    let _ = writeln!(text, "[[{side}]]\nname = {}", toml_str(&v.name));
    if in_container {
        let what = if value_type.has_map() {
            "dtype is the maps' values, which are scalars"
        } else {
            "dtype and shape are each element's; its dims are free per element"
        };
        // skl2onnx's classifiers end in ZipMap: one map of class to probability per row.
        let _ = writeln!(text, "# A {value_type}: {what}.\ntype = \"{value_type}\"");
    }
    let _ = writeln!(text, "dtype = \"{dtype}\"\nshape = [{}]", dims.join(", "));
    if let Some(b) = bound.filter(|b| b.size > 0 && !dtype.is_float() && dtype.bits().is_some()) {
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
    let columns = if side == "inputs" { scaffolded_columns(v).unwrap_or(0) } else { 0 };
    if let Some(features) = profiled {
        let _ = writeln!(
            text,
            "# Profiled by `ferry init --sample` from the sample's columns: observed ranges, nullable where a value\n\
             # was missing, allowed values for small categorical columns. Widen them to what the model accepts.\nfeatures = ["
        );
        for f in features {
            let _ = writeln!(text, "  {},", feature_toml(f));
        }
        let _ = writeln!(text, "]");
    } else if columns > 0 {
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

/// One feature as an inline TOML table.
fn feature_toml(f: &Feature) -> String {
    let mut parts = vec![format!("name = {}", toml_str(&f.name))];
    let num = |v: f64| if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.1}") } else { format!("{v:?}") };
    if let Some(allowed) = &f.allowed {
        parts.push(format!("allowed = [{}]", allowed.iter().map(|v| num(*v)).collect::<Vec<_>>().join(", ")));
    } else {
        parts.extend(f.min.map(|v| format!("min = {}", num(v))));
        parts.extend(f.max.map(|v| format!("max = {}", num(v))));
    }
    if f.nullable {
        parts.push("nullable = true".into());
    }
    format!("{{ {} }}", parts.join(", "))
}

/// What a sample says about the model's inputs.
#[derive(Debug)]
struct Profile {
    sample: PathBuf,
    /// Feature tables, by input.
    features: BTreeMap<String, Vec<Feature>>,
    /// The sample's first rows of every input, for the golden set; empty when the sample does not
    /// feed every input (a CSV for a model with more than its tabular input).
    golden: TensorMap,
    golden_rows: usize,
}

fn sample_err(path: &Path, message: String) -> PackError {
    PackError::Source { path: path.to_path_buf(), message }
}

/// Profiles a sample: a CSV or Parquet file of the tabular input ([`profile_csv`], [`profile_parquet`]),
/// or a tensor file (`.npz`, `.safetensors`, `.json`) holding a batch of every input, by name
/// ([`profile_tensors`]).
fn profile_sample(path: &Path, inputs: &[ValueInfo], golden_rows: usize) -> Result<Profile, PackError> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        return profile_parquet(path, inputs, golden_rows);
    }
    match ferry_tensor::Format::from_path(path) {
        Some(ferry_tensor::Format::Npy) => Err(sample_err(
            path,
            "a lone .npy names no input; give a .csv, or an .npz, .safetensors or .json holding each input by name"
                .into(),
        )),
        Some(_) => profile_tensors(path, inputs, golden_rows),
        None => profile_csv(path, inputs, golden_rows),
    }
}

/// What a column of sample values says, kept as running statistics so that memory grows with the number
/// of columns, not of cells.
#[derive(Debug, Default)]
struct ColumnStats {
    min: Option<f64>,
    max: Option<f64>,
    present: usize,
    missing: bool,
    /// The distinct values while they are few and whole; `None` once the column is not categorical.
    distinct: Option<std::collections::BTreeSet<i64>>,
}

impl ColumnStats {
    fn new() -> ColumnStats {
        ColumnStats { distinct: Some(std::collections::BTreeSet::new()), ..ColumnStats::default() }
    }

    /// One value; `None` is a missing one.
    fn add(&mut self, value: Option<f64>) {
        let Some(v) = value else {
            self.missing = true;
            return;
        };
        self.present += 1;
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        let Some(set) = &mut self.distinct else { return };
        // Whole numbers well inside i64 are exact as i64; anything else ends the categorical set.
        if v.fract() != 0.0 || v.abs() >= 9.0e15 {
            self.distinct = None;
            return;
        }
        #[allow(clippy::cast_possible_truncation)]
        set.insert(v as i64);
        if set.len() > MAX_CATEGORIES {
            self.distinct = None;
        }
    }

    /// The feature the column suggests: its observed range, nullable if a value was missing, and allowed
    /// values instead of a range for a small categorical column (at most [`MAX_CATEGORIES`] whole
    /// numbers, seen four times each on average).
    fn feature(&self, name: &str) -> Feature {
        #[allow(clippy::cast_precision_loss)]
        let categorical = self
            .distinct
            .as_ref()
            .filter(|d| !d.is_empty() && self.present >= 4 * d.len())
            .map(|d| d.iter().map(|v| *v as f64).collect::<Vec<f64>>());
        let ranged = categorical.is_none();
        Feature {
            name: name.to_owned(),
            min: self.min.filter(|_| ranged),
            max: self.max.filter(|_| ranged),
            allowed: categorical,
            nullable: self.missing,
        }
    }
}

/// Why `v` cannot be a value of `dtype`: not finite, or beyond the type's range (a float32 that would
/// round to infinity, an integer beyond the type's bounds).
fn out_of_range(v: f64, dtype: DType) -> Option<&'static str> {
    if !v.is_finite() {
        return Some("is not a finite number");
    }
    #[allow(clippy::cast_possible_truncation)]
    let fits = match dtype {
        DType::Float32 => (v as f32).is_finite(),
        DType::Int32 => (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&v),
        // i64::MAX is not a float; 2^63 is the first value beyond it.
        DType::Int64 => (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v),
        _ => true,
    };
    (!fits).then_some("is out of range")
}

/// The columns of an input `init` gives one feature table each: a float input `[batch, n]`, n ≤
/// [`MAX_SCAFFOLDED_FEATURES`] (wider ones are images or embeddings, not named features).
fn scaffolded_columns(v: &ValueInfo) -> Option<usize> {
    tabular(v, None).filter(|(d, n)| d.is_float() && *n <= MAX_SCAFFOLDED_FEATURES).map(|(_, n)| n)
}

/// Whether `v` is a tabular input of `n` columns: numeric, of shape `[batch, n]`.
fn tabular(v: &ValueInfo, n: Option<usize>) -> Option<(DType, usize)> {
    let dtype = v.elem_type?;
    let Some([_, OnnxDim::Value(c)]) = v.shape.as_deref() else { return None };
    let c = usize::try_from(*c).ok().filter(|c| n.is_none_or(|n| n == *c))?;
    (dtype != DType::String && dtype != DType::Bool && c > 0).then_some((dtype, c))
}

/// Profiles a tensor sample: each input of the model, by name, with its batch on axis 0. A tabular
/// input (`[batch, n]`, n ≤ 256) gets a feature table per column (`col_i`, as a sample file names no
/// columns); every input's first rows make the golden set.
fn profile_tensors(path: &Path, inputs: &[ValueInfo], golden_rows: usize) -> Result<Profile, PackError> {
    let hints: BTreeMap<String, DType> =
        inputs.iter().filter_map(|v| Some((v.name.clone(), v.elem_type?))).collect();
    // Checked on each header, before its data is inflated: only the model's inputs, and the runtime's
    // element limit in all, so a small compressed file cannot make init allocate gigabytes.
    let mut budget = ferry_tensor::element_budget(ferry_contract::DEFAULT_MAX_ELEMENTS);
    let mut bounded = |d: &ferry_tensor::Declared<'_>| -> Result<(), ferry_tensor::Refusal> {
        if !hints.contains_key(d.name) {
            return Err(format!(
                "`{}` is not an input of the model; a sample holds only inputs, by name",
                d.name
            )
            .into());
        }
        budget(d)
    };
    let tensors = ferry_tensor::read_file_checked(path, &hints, &mut bounded)
        .map_err(|e| sample_err(path, e.to_string()))?;
    let mut features = BTreeMap::new();
    let mut golden = TensorMap::new();
    let mut rows = usize::MAX;
    for v in inputs {
        let Some(t) = tensors.get(&v.name) else {
            let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
            return Err(sample_err(
                path,
                format!("holds no tensor `{}` (it has {names:?}); name each input", v.name),
            ));
        };
        let Some(&batch) = t.shape.first() else {
            return Err(sample_err(
                path,
                format!("`{}` is a scalar; a sample holds a batch on axis 0", v.name),
            ));
        };
        rows = rows.min(batch);
        if let Some(n) = scaffolded_columns(v)
            && t.shape.len() == 2
            && t.shape[1] == n
        {
            let table = (0..n)
                .map(|c| {
                    let mut stats = ColumnStats::new();
                    for r in 0..batch {
                        let x = t.as_f64(r * n + c).filter(|x| !x.is_nan());
                        if x.is_some_and(f64::is_infinite) {
                            return Err(sample_err(
                                path,
                                format!(
                                    "`{}` at [{r}, {c}]: an infinite value is not a sample value",
                                    v.name
                                ),
                            ));
                        }
                        stats.add(x);
                    }
                    Ok(stats.feature(&format!("col_{c}")))
                })
                .collect::<Result<Vec<_>, PackError>>()?;
            features.insert(v.name.clone(), table);
        }
    }
    if rows == 0 {
        return Err(sample_err(path, "the sample's batch is empty".into()));
    }
    let take = rows.min(golden_rows);
    for v in inputs {
        if let Some(t) = tensors.get(&v.name) {
            let head =
                t.first_rows(take).ok_or_else(|| sample_err(path, format!("`{}` is not a batch", v.name)))?;
            golden.insert(v.name.clone(), head);
        }
    }
    Ok(Profile { sample: path.to_path_buf(), features, golden, golden_rows: take })
}

/// Profiles a CSV sample: the header names the columns, each record is a row ([`TableProfile`]).
fn profile_csv(path: &Path, inputs: &[ValueInfo], golden_rows: usize) -> Result<Profile, PackError> {
    let text = ferry_spec::file::read_to_string(path, SAMPLE_LIMIT).map_err(file_err)?;
    let mut records = CsvRecords::new(&text);
    let header = match records.next() {
        Some(Ok((_, h))) => h,
        Some(Err(e)) => return Err(sample_err(path, e)),
        None => {
            return Err(sample_err(
                path,
                "the sample is empty; it needs a header row naming the columns".into(),
            ));
        }
    };
    let n = header.len();
    let names = header.iter().map(|h| h.trim().to_owned()).collect();
    let mut table = TableProfile::new(path, names, inputs, golden_rows, "line 1: ")?;
    let mut rows = 0usize;
    for rec in records {
        let (line, fields) = rec.map_err(|e| sample_err(path, e))?;
        if fields.len() != n {
            return Err(sample_err(
                path,
                format!("line {line}: {} fields, but the header has {n}", fields.len()),
            ));
        }
        for (c, cell) in fields.iter().enumerate() {
            table
                .add(rows, c, &parse_cell(cell), || cell.trim().to_owned())
                .map_err(|e| sample_err(path, format!("line {line}, {e}")))?;
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(sample_err(path, "the sample has a header but no rows".into()));
    }
    table.finish(path, rows)
}

/// Profiles a Parquet sample as a CSV ([`TableProfile`]): its columns in file order, a null a missing
/// value. The file is checked from its footer first ([`ParquetTable::new`]): flat numeric columns, at
/// most the runtime's element limit in cells, page sizes its rows can need.
fn profile_parquet(path: &Path, inputs: &[ValueInfo], golden_rows: usize) -> Result<Profile, PackError> {
    let bytes = ferry_spec::file::read(path, SAMPLE_LIMIT).map_err(file_err)?;
    let limit = u64::try_from(ferry_contract::DEFAULT_MAX_ELEMENTS).unwrap_or(u64::MAX);
    let table = ParquetTable::new(bytes, limit).map_err(|e| sample_err(path, e))?;
    let mut profile = TableProfile::new(path, table.names().to_vec(), inputs, golden_rows, "")?;
    if table.rows() == 0 {
        return Err(sample_err(path, "the sample has columns but no rows".into()));
    }
    table
        .for_each_cell(|row, c, cell| {
            let shown = || match cell {
                Cell::Number(v) => format!("{v}"),
                _ => String::new(),
            };
            profile.add(row, c, &cell, shown).map_err(|e| format!("row {}, {e}", row + 1))
        })
        .map_err(|e| sample_err(path, e))?;
    profile.finish(path, table.rows())
}

/// A sample table (named columns of cells, from a CSV or a Parquet file) profiled into the feature table
/// of the one input it feeds, with its first rows kept for the golden set: the input is the one of shape
/// `[batch, n]` with `n` the number of columns (numeric dtype); each column becomes a feature of its
/// name. Cells may come in any order (Parquet gives them column by column); memory grows with the
/// columns and the golden rows, not the cells.
#[derive(Debug)]
struct TableProfile<'a> {
    input: &'a ValueInfo,
    /// Whether `input` is the model's only input (else the sample makes no golden set).
    only_input: bool,
    dtype: DType,
    names: Vec<String>,
    columns: Vec<ColumnStats>,
    golden_rows: usize,
    /// The first `golden_rows` rows, row-major, NaN where missing; grown as rows arrive.
    golden: Vec<f64>,
}

impl<'a> TableProfile<'a> {
    /// The profile of a table with these column `names` (trimmed); `at` prefixes an error about them
    /// (`"line 1: "` for a CSV header).
    fn new(
        path: &Path,
        names: Vec<String>,
        inputs: &'a [ValueInfo],
        golden_rows: usize,
        at: &str,
    ) -> Result<TableProfile<'a>, PackError> {
        let n = names.len();
        let tabular: Vec<(&ValueInfo, DType)> =
            inputs.iter().filter_map(|v| tabular(v, Some(n)).map(|(d, _)| (v, d))).collect();
        let (input, dtype) = match tabular.as_slice() {
            [one] => *one,
            [] => {
                return Err(sample_err(
                    path,
                    format!(
                        "the sample has {n} column{}, but no input of the model has shape [batch, {n}] with a numeric dtype",
                        if n == 1 { "" } else { "s" }
                    ),
                ));
            }
            _ => {
                let names: Vec<&str> = tabular.iter().map(|(v, _)| v.name.as_str()).collect();
                return Err(sample_err(
                    path,
                    format!(
                        "the sample's {n} columns fit several inputs ({}); give a model with one",
                        names.join(", ")
                    ),
                ));
            }
        };
        let mut seen = std::collections::BTreeSet::new();
        for name in &names {
            if name.is_empty() || !seen.insert(name) {
                return Err(sample_err(path, format!("{at}column name `{name}` is empty or appears twice")));
            }
        }
        let columns = (0..n).map(|_| ColumnStats::new()).collect();
        Ok(TableProfile {
            input,
            only_input: inputs.len() == 1,
            dtype,
            names,
            columns,
            golden_rows,
            golden: Vec::new(),
        })
    }

    /// The cell of column `c` in row `row` (0-based); `raw` shows it as written. An error names the
    /// column and why, for the caller to prefix with where (line or row).
    fn add(&mut self, row: usize, c: usize, cell: &Cell, raw: impl FnOnce() -> String) -> Result<(), String> {
        let (dtype, input) = (self.dtype, &self.input.name);
        let name = &self.names[c];
        let value = match *cell {
            Cell::Missing if dtype.is_float() => None,
            Cell::Missing => {
                return Err(format!("column `{name}`: a missing value, but `{input}` is {dtype}"));
            }
            Cell::Number(v) if !dtype.is_float() && v.fract() != 0.0 => {
                return Err(format!("column `{name}`: {v} is not a whole number, but `{input}` is {dtype}"));
            }
            Cell::Number(v) if out_of_range(v, dtype).is_some() => {
                let why = out_of_range(v, dtype).unwrap_or_default();
                return Err(format!("column `{name}`: `{}` {why} for {dtype}", raw()));
            }
            // The statistics see the value the tensor will hold: 5.1 as float32 is 5.0999999, and a
            // minimum of 5.1 would refuse the very row it was observed in.
            #[allow(clippy::cast_possible_truncation)]
            Cell::Number(v) if dtype == DType::Float32 => Some(f64::from(v as f32)),
            Cell::Number(v) => Some(v),
            Cell::Invalid(ref t) => {
                return Err(format!("column `{name}`: `{t}` is not a number"));
            }
        };
        self.columns[c].add(value);
        if row < self.golden_rows {
            let n = self.names.len();
            let need = (row + 1) * n;
            if self.golden.len() < need {
                self.golden.resize(need, f64::NAN);
            }
            self.golden[row * n + c] = value.unwrap_or(f64::NAN);
        }
        Ok(())
    }

    /// The feature table and golden set of a table of `rows` rows, all added.
    fn finish(self, path: &Path, rows: usize) -> Result<Profile, PackError> {
        let TableProfile { input, only_input, dtype, names, columns, golden_rows, mut golden } = self;
        let n = names.len();
        let features: Vec<Feature> =
            names.iter().zip(&columns).map(|(name, stats)| stats.feature(name)).collect();
        let take = rows.min(golden_rows);
        golden.resize(take * n, f64::NAN);
        let data = match dtype {
            #[allow(clippy::cast_possible_truncation)]
            DType::Float32 => TensorData::F32(golden.iter().map(|v| *v as f32).collect()),
            DType::Float64 => TensorData::F64(golden),
            #[allow(clippy::cast_possible_truncation)]
            DType::Int64 => TensorData::I64(golden.iter().map(|v| *v as i64).collect()),
            #[allow(clippy::cast_possible_truncation)]
            DType::Int32 => TensorData::I32(golden.iter().map(|v| *v as i32).collect()),
            other => {
                return Err(sample_err(
                    path,
                    format!(
                        "a CSV or Parquet sample feeds a float32, float64, int32 or int64 input, not {other}"
                    ),
                ));
            }
        };
        let tensor = Tensor::new(vec![take, n], data).map_err(|e| sample_err(path, e.to_string()))?;
        // A golden set needs every input; a table feeds only the tabular one.
        let golden =
            if only_input { TensorMap::from([(input.name.clone(), tensor)]) } else { TensorMap::new() };
        Ok(Profile {
            sample: path.to_path_buf(),
            features: BTreeMap::from([(input.name.clone(), features)]),
            golden,
            golden_rows: take,
        })
    }
}

/// Writes the golden set `sample` (inputs: the sample's first rows; expected: what `reference`
/// computes for them) into the scaffolded source at `src`, and its table into `ferry.toml`.
fn golden_from_sample(
    src: &Path,
    text: &mut String,
    p: &Profile,
    reference: Reference<'_>,
) -> Result<(), PackError> {
    let inputs = &p.golden;
    let tmp = tempfile::tempdir().map_err(|e| PackError::io(std::env::temp_dir(), e))?;
    let bundle = tmp.path().join("init.ferry");
    crate::pack(src, &bundle)?;
    let outputs = reference(&bundle, inputs)
        .map_err(|e| sample_err(&p.sample, format!("computing the golden outputs of its first rows: {e}")))?;
    let golden = src.join("golden");
    std::fs::create_dir_all(&golden).map_err(|e| PackError::io(&golden, e))?;
    let write = |name: &str, t: &TensorMap| {
        let path = golden.join(name);
        ferry_tensor::write_file(&path, t).map_err(|e| sample_err(&path, e.to_string()))
    };
    // Sequences, maps and optionals (an skl2onnx classifier's ZipMap) only fit a golden file of JSON.
    let files = match ferry_tensor::tensors_from_values(outputs.clone()) {
        Ok(tensors) => {
            write("sample.inputs.npz", inputs)?;
            write("sample.expected.npz", &tensors)?;
            "inputs = \"golden/sample.inputs.npz\"\nexpected = \"golden/sample.expected.npz\""
        }
        Err(_) => {
            let path = golden.join("sample.json");
            let inputs = ferry_tensor::values_from_tensors(inputs.clone());
            let bytes = ferry_tensor::golden_values_bytes(&inputs, &outputs);
            std::fs::write(&path, bytes).map_err(|e| PackError::io(&path, e))?;
            "file = \"golden/sample.json\""
        }
    };
    let sample_name = p.sample.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let rows = p.golden_rows;
    let _ = writeln!(
        text,
        "\n# Made by `ferry init --sample` from the first {rows} row{} of {sample_name}. The expected outputs were\n\
         # computed by Ferry itself (ONNX Runtime): they prove this bundle keeps reproducing the model, not that\n\
         # the model is right. Replace them with outputs from an independent reference (the framework the model\n\
         # was trained in) where you have one.\n[[golden]]\nname = \"sample\"\n{files}",
        if rows == 1 { "" } else { "s" }
    );
    let path = src.join(ferry_spec::media::SOURCE_FILE);
    std::fs::write(&path, text.as_bytes()).map_err(|e| PackError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zipmap_output_is_declared_as_a_sequence_of_maps() {
        let zipmap = ValueInfo {
            name: "output_probability".into(),
            kind: ValueKind::Sequence,
            elem_type: Some(DType::Float32),
            raw_elem_type: 1,
            shape: None,
            value_type: Some("sequence<map<int64, tensor>>".parse().unwrap()),
        };
        let mut text = String::new();
        write_spec(&mut text, "outputs", &zipmap, None, None).unwrap();
        assert_eq!(
            text,
            "[[outputs]]\nname = \"output_probability\"\n# A sequence<map<int64, tensor>>: dtype is the maps' \
             values, which are scalars.\ntype = \"sequence<map<int64, tensor>>\"\ndtype = \"float32\"\nshape = \
             []\n\n"
        );
    }

    #[test]
    fn a_value_ferry_cannot_hold_is_named() {
        let opaque = ValueInfo {
            name: "o".into(),
            kind: ValueKind::Opaque,
            elem_type: None,
            raw_elem_type: 0,
            shape: None,
            value_type: None,
        };
        let Err(message) = write_spec(&mut String::new(), "outputs", &opaque, None, None) else {
            panic!("an opaque output must be refused");
        };
        assert!(
            message.starts_with("outputs `o` has ONNX type opaque, which Ferry cannot hold"),
            "{message}"
        );
        let e = PackError::Unsupported { file: "m.onnx".into(), message };
        assert!(!e.to_string().contains("not a readable ONNX model"), "{e}");
    }
}

#[cfg(test)]
mod stats_tests {
    use super::*;

    #[test]
    fn values_beyond_the_input_dtype_are_named() {
        assert_eq!(out_of_range(1e39, DType::Float32), Some("is out of range"));
        assert_eq!(out_of_range(3.0e38, DType::Float32), None);
        assert_eq!(out_of_range(1e10, DType::Int32), Some("is out of range"));
        assert_eq!(out_of_range(2_147_483_647.0, DType::Int32), None);
        assert_eq!(out_of_range(9.223_372_036_854_776e18, DType::Int64), Some("is out of range"));
        assert_eq!(out_of_range(f64::INFINITY, DType::Float64), Some("is not a finite number"));
        assert_eq!(out_of_range(1e300, DType::Float64), None);
    }

    #[test]
    fn column_statistics_keep_no_cells() {
        let mut ranged = ColumnStats::new();
        for v in [3.5, -1.0, 2.0] {
            ranged.add(Some(v));
        }
        ranged.add(None);
        let f = ranged.feature("x");
        assert_eq!((f.min, f.max, f.allowed, f.nullable), (Some(-1.0), Some(3.5), None, true));
        // Few whole values, each seen often: categorical.
        let mut terms = ColumnStats::new();
        for i in 0..40 {
            terms.add(Some(if i % 2 == 0 { 36.0 } else { 60.0 }));
        }
        assert_eq!(terms.feature("t").allowed, Some(vec![36.0, 60.0]));
        // Eleven distinct values, or too few rows per value: ranged.
        let mut many = ColumnStats::new();
        for i in 0..110 {
            many.add(Some(f64::from(i % 11)));
        }
        assert_eq!((many.feature("m").allowed, many.feature("m").max), (None, Some(10.0)));
        let mut short = ColumnStats::new();
        for v in [0.0, 1.0, 2.0] {
            short.add(Some(v));
        }
        assert_eq!(short.feature("s").allowed, None);
    }
}
