use crate::{DType, ValueType, check_relative_path};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A bundle source: the parsed `ferry.toml` at the root of a source directory.
///
/// Unknown keys are refused everywhere, so a typo never silently drops a constraint.
///
/// ```
/// let src = ferry_spec::Source::from_toml_str(r#"
/// [model]
/// name = "demo"
/// version = "1.0.0"
/// onnx = "model.onnx"
///
/// [[inputs]]
/// name = "x"
/// dtype = "float32"
/// shape = ["batch", 3]
///
/// [[outputs]]
/// name = "y"
/// dtype = "float32"
/// shape = ["batch", 1]
/// "#).unwrap();
/// assert_eq!(src.model.name, "demo");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Who the model is and which graph runs.
    pub model: ModelSection,
    /// The runtime configuration: its JSON Schema and its defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigSection>,
    /// The model's inputs, in the order the graph declares them.
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
    /// The model's outputs, in the order the graph declares them.
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
    /// Golden sets: inputs with the outputs the model must reproduce.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub golden: Vec<GoldenSet>,
    /// Feature transforms: WebAssembly components that turn raw records into the model's inputs and
    /// its outputs into decisions (§3.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<TransformSection>,
    /// Where the model may run (device kinds, the oldest GPU); absent: anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<crate::DevicesSection>,
    /// The training-data sample the reference profile is computed from (§3.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<crate::reference::ReferenceSection>,
}

/// `[transform]`: the code between a raw record and the model, as WebAssembly components implementing
/// `ferry:transform@0.1.0` (`spec/wit/transform.wit`), run sandboxed by the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformSection {
    /// Component exporting `prepare`: a batch of JSON records to the model's input tensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepare: Option<String>,
    /// Component exporting `decide`: the model's outputs to one JSON result per record. May be the same
    /// file as `prepare`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide: Option<String>,
    /// The components' source tree, bundled with them (a directory; a Cargo crate's locked dependencies
    /// are recorded as pins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// JSON Schema (draft 2020-12) every raw record must satisfy before `prepare` sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,
    /// JSON Schema every result of `decide` must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<String>,
    /// What one call may spend; unset keys take the runtime's defaults.
    #[serde(default, skip_serializing_if = "TransformLimits::is_default")]
    pub limits: TransformLimits,
    /// What of the host the transforms see; by default nothing that varies.
    #[serde(default, skip_serializing_if = "TransformSandbox::is_default")]
    pub sandbox: TransformSandbox,
}

impl TransformSection {
    /// The component files, each once: `prepare`, then `decide` when it is another file.
    pub fn components(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.prepare.iter().map(String::as_str).collect();
        if let Some(d) = &self.decide
            && !out.contains(&d.as_str())
        {
            out.push(d);
        }
        out
    }
}

/// `[transform.limits]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformLimits {
    /// Wall-clock milliseconds one call may run (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// MiB of linear memory one call may hold (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Calls of one transform running at once (default: the host's cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

impl TransformLimits {
    /// No key set.
    pub fn is_default(&self) -> bool {
        *self == TransformLimits::default()
    }
}

/// `[transform.sandbox]`: opt-ins to the host's nondeterminism.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformSandbox {
    /// See the host's wall and monotonic clocks (otherwise fixed at 2000-01-01T00:00:00Z).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_clock: bool,
    /// Get the host's random bytes (otherwise a seeded stream).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_random: bool,
    /// A fresh instance for every call (otherwise instances are pooled and reused, the host side
    /// rewound per call), so nothing a call leaves in the component's memory reaches the next.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh_instances: bool,
}

impl TransformSandbox {
    /// Nothing opted in.
    pub fn is_default(&self) -> bool {
        *self == TransformSandbox::default()
    }
}

/// `[model]`: identity and the files that make the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Lower-case name: `[a-z0-9][a-z0-9._-]*`, at most 128 bytes.
    pub name: String,
    /// Semantic version of the model (`1.2.0`).
    pub version: String,
    /// One paragraph on what the model does.
    #[serde(default)]
    pub description: String,
    /// SPDX licence expression of the model weights.
    #[serde(default)]
    pub license: String,
    /// Path of the ONNX graph the runtime executes. Its external-data files are found and bundled
    /// automatically.
    pub onnx: String,
    /// Further files to carry (tokenizer vocabularies, notes), relative to the source directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_files: Vec<String>,
}

/// `[config]`: the configuration a host may set at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSection {
    /// Path of a JSON Schema (draft 2020-12) the effective configuration must satisfy.
    pub schema: String,
    /// Path of a JSON object with the default configuration; `{}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<String>,
}

/// One dimension of a declared shape: a fixed size or a symbolic name shared across tensors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A symbolic size such as `batch`; every tensor using the same name must agree on its value.
    Symbolic(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(s) => f.write_str(s),
        }
    }
}

/// One input or output of the data contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// The graph's name for the tensor.
    pub name: String,
    /// What kind of value it is: a plain tensor (the default, not written) or a sequence, map or optional
    /// of tensors (`type = "sequence<map<int64, tensor>>"`). `dtype` and `shape` describe the innermost
    /// tensors; symbolic dims inside a container are free per element.
    #[serde(default, rename = "type", skip_serializing_if = "ValueType::is_tensor")]
    pub value_type: ValueType,
    /// Element type.
    pub dtype: DType,
    /// Shape: integers are fixed dims, strings are symbolic dims.
    pub shape: Vec<Dim>,
    /// For tabular inputs: one entry per position along the last axis, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<Feature>,
    /// Rules every element of an input must satisfy, whatever its rank (token ids in `[0, vocab)`);
    /// checked at the door like feature rules, and together with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<ValueRules>,
}

impl TensorSpec {
    /// The shape as text, e.g. `[batch, 14]`.
    pub fn shape_string(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(ToString::to_string).collect();
        format!("[{}]", dims.join(", "))
    }
}

/// Constraints on every element of an input tensor (`values = { min = 0, max = 999 }`): the rules of a
/// [`Feature`], applied to the whole tensor instead of one position along its last axis. As for a
/// feature, declaring them on a floating-point input refuses NaN unless `nullable = true`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueRules {
    /// Inclusive lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Inclusive upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Every element must equal one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<f64>>,
    /// Whether NaN ("missing") is accepted. Floating-point inputs only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nullable: bool,
}

impl ValueRules {
    /// The same rules as a feature named `name`, so that one rule ([`Feature`]'s) serves both.
    pub fn as_feature(&self, name: &str) -> Feature {
        Feature {
            name: name.to_owned(),
            min: self.min,
            max: self.max,
            allowed: self.allowed.clone(),
            nullable: self.nullable,
        }
    }
}

/// Constraints on one tabular feature (one position along an input's last axis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    /// Feature name, used in error messages and reports.
    pub name: String,
    /// Inclusive lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Inclusive upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The value must equal one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<f64>>,
    /// Whether NaN ("missing") is accepted. Floating-point inputs only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nullable: bool,
}

/// Comparison tolerances: `|actual - expected| <= atol + rtol * |expected|`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Relative tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// Absolute tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
}

impl Tolerance {
    /// Default relative tolerance for float32/float64 outputs.
    pub const DEFAULT_RTOL: f64 = 1e-4;
    /// Default absolute tolerance for float32/float64 outputs.
    pub const DEFAULT_ATOL: f64 = 1e-5;
    /// Default relative tolerance for float16 and bfloat16 outputs.
    pub const DEFAULT_RTOL_F16: f64 = 1e-2;
    /// Default absolute tolerance for float16 and bfloat16 outputs.
    pub const DEFAULT_ATOL_F16: f64 = 1e-3;

    /// The first set value of each field wins: `self`, then `fallback`.
    pub fn or(self, fallback: Tolerance) -> Tolerance {
        Tolerance { rtol: self.rtol.or(fallback.rtol), atol: self.atol.or(fallback.atol) }
    }

    /// The default `(rtol, atol)` of a dtype (spec/FORMAT.md §3.4): float16 and bfloat16 `1e-2`/`1e-3`;
    /// each float8 one unit in the last place, `rtol = 2^-mantissa bits`, and its smallest subnormal as
    /// `atol` (E4M3FN 2^-3/2^-9, E4M3FNUZ 2^-3/2^-10, E5M2 2^-2/2^-16, E5M2FNUZ 2^-2/2^-17); the rest
    /// `1e-4`/`1e-5` (integers, booleans and strings compare exactly whatever the tolerance).
    pub fn default_for(dtype: DType) -> (f64, f64) {
        match dtype {
            DType::Float16 | DType::BFloat16 => (Self::DEFAULT_RTOL_F16, Self::DEFAULT_ATOL_F16),
            DType::Float8E4M3FN => (0.125, 0.001_953_125),
            DType::Float8E4M3FNUZ => (0.125, 0.000_976_562_5),
            DType::Float8E5M2 => (0.25, 1.0 / 65536.0),
            DType::Float8E5M2FNUZ => (0.25, 1.0 / 131_072.0),
            _ => (Self::DEFAULT_RTOL, Self::DEFAULT_ATOL),
        }
    }

    /// Resolves to `(rtol, atol)` with the documented per-dtype defaults ([`Tolerance::default_for`]).
    pub fn resolve(self, dtype: DType) -> (f64, f64) {
        let (r, a) = Self::default_for(dtype);
        (self.rtol.unwrap_or(r), self.atol.unwrap_or(a))
    }
}

/// A golden set: named input tensors and the outputs the model must produce for them, in one combined
/// JSON file (`file`) or in two tensor files (`inputs` and `expected`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "required": ["file"], "not": { "anyOf": [{ "required": ["inputs"] }, { "required": ["expected"] }, { "required": ["records"] }] } },
    { "required": ["inputs", "expected"], "not": { "anyOf": [{ "required": ["file"] }, { "required": ["records"] }] } },
    { "required": ["records"], "not": { "required": ["file"] }, "anyOf": [{ "required": ["decisions"] }, { "required": ["inputs"] }, { "required": ["expected"] }] }
]))]
pub struct GoldenSet {
    /// Name of the set, unique in the bundle.
    pub name: String,
    /// A golden file holding both sides, `{"inputs": {NAME: TENSOR, ...}, "outputs": {NAME: TENSOR,
    /// ...}}` (`.json`; each side in the JSON tensor format). Instead of `inputs` and `expected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Tensor file with the inputs (`.npz`, `.npy`, `.safetensors` or `.json`); with `expected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
    /// Tensor file with the expected outputs; with `inputs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Raw records (`.jsonl`, one JSON object per line) that go through the transforms (§3.7). With
    /// them, `inputs` is what `prepare` must make of them, `expected` what the model must answer, and
    /// `decisions` what `decide` must return; at least one of the three.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,
    /// The results `decide` must return for `records` (`.jsonl`, one JSON value per line, in order),
    /// compared field by field, numbers within the set's tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<String>,
    /// Relative tolerance for every output of this set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// Absolute tolerance for every output of this set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    /// Per-output tolerance overrides.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Tolerance>,
    /// Tolerances for one device kind (`[golden.tolerance.cuda]`), over the ones above when the model runs
    /// there: GPU kernels differ from the CPU's in the last bits. Keys: [`crate::DEVICE_KINDS`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tolerance: BTreeMap<String, DeviceTolerance>,
}

/// A golden set's tolerances on one device kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTolerance {
    /// Relative tolerance for every output of the set on this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// Absolute tolerance for every output of the set on this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    /// Per-output overrides on this device.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Tolerance>,
}

/// One side of a golden set: the inputs, or the outputs the model must reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoldenSide {
    /// The inputs.
    Inputs,
    /// The expected outputs.
    Outputs,
}

impl GoldenSide {
    /// Both sides, inputs first.
    pub const BOTH: [GoldenSide; 2] = [GoldenSide::Inputs, GoldenSide::Outputs];

    /// The side's key in a combined golden file: `inputs` or `outputs`.
    pub fn key(self) -> &'static str {
        match self {
            GoldenSide::Inputs => "inputs",
            GoldenSide::Outputs => "outputs",
        }
    }
}

impl fmt::Display for GoldenSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Where one side of a golden set is stored ([`GoldenSet::side`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoldenFile<'a> {
    /// The file's path (in the source directory, or the bundle's file view).
    pub path: &'a str,
    /// The `[[golden]]` key that names the file: `file`, `inputs` or `expected`.
    pub key: &'static str,
    /// The side of the set this is.
    pub side: GoldenSide,
    /// Whether the file is a combined golden file (`file`), holding both sides; otherwise the whole file
    /// is this side.
    pub combined: bool,
}

impl GoldenSet {
    /// The tolerance for one output: per-output override, then the set's, then the dtype default.
    pub fn tolerance(&self, output: &str, dtype: DType) -> (f64, f64) {
        self.tolerance_chain(None, output).resolve(dtype)
    }

    /// The tolerance for one output on a device kind (`cpu`, `cuda`): the device's per-output override,
    /// the device's set-wide one, then as [`GoldenSet::tolerance`].
    pub fn tolerance_on(&self, device: &str, output: &str, dtype: DType) -> (f64, f64) {
        self.tolerance_chain(Some(device), output).resolve(dtype)
    }

    /// The bundle's tolerances for one output, most specific first, unresolved: what a policy's
    /// overrides fall back to.
    pub fn tolerance_chain(&self, device: Option<&str>, output: &str) -> Tolerance {
        let on = device.and_then(|d| self.tolerance.get(d));
        [
            on.and_then(|d| d.outputs.get(output).copied()),
            on.map(|d| Tolerance { rtol: d.rtol, atol: d.atol }),
            self.outputs.get(output).copied(),
            Some(Tolerance { rtol: self.rtol, atol: self.atol }),
        ]
        .into_iter()
        .flatten()
        .fold(Tolerance::default(), Tolerance::or)
    }

    /// Where the set's `side` is: its combined `file`, or its `inputs` or `expected` file. A set that
    /// names neither (refused by [`Source::validate`]) gives an empty path, which no reader finds.
    pub fn side(&self, side: GoldenSide) -> GoldenFile<'_> {
        if let Some(file) = &self.file {
            return GoldenFile { path: file, key: "file", side, combined: true };
        }
        let (key, path) = match side {
            GoldenSide::Inputs => ("inputs", &self.inputs),
            GoldenSide::Outputs => ("expected", &self.expected),
        };
        GoldenFile { path: path.as_deref().unwrap_or_default(), key, side, combined: false }
    }

    /// Whether the set feeds tensors to the model and compares its outputs (`file`, or `inputs` with
    /// `expected`), as opposed to a set of records that only the transforms' check reads.
    pub fn has_tensors(&self) -> bool {
        self.file.is_some() || (self.inputs.is_some() && self.expected.is_some())
    }

    /// The files the set names, each once, with the key naming it: `file`, or `inputs` then `expected`.
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::with_capacity(2);
        let keys = [
            ("file", &self.file),
            ("inputs", &self.inputs),
            ("expected", &self.expected),
            ("records", &self.records),
            ("decisions", &self.decisions),
        ];
        for (key, f) in keys {
            if let Some(f) = f {
                out.push((key, f.as_str()));
            }
        }
        out
    }
}

/// Why a `ferry.toml` was refused. Every variant names the key or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> SourceError {
    SourceError::Invalid { key: key.into(), message: message.into() }
}

impl Source {
    /// Parses and validates a `ferry.toml`. Paths are checked to be safe relative paths; files are not
    /// touched (the packager checks that they exist).
    pub fn from_toml_str(text: &str) -> Result<Source, SourceError> {
        let source: Source = toml::from_str(text)?;
        source.validate()?;
        Ok(source)
    }

    /// Checks the rules that serde cannot express.
    pub fn validate(&self) -> Result<(), SourceError> {
        if let Some(r) = &self.reference {
            r.validate()?;
        }
        if let Some(devices) = &self.devices {
            devices.check().map_err(|(key, message)| invalid(format!("devices.{key}"), message))?;
        }
        let m = &self.model;
        let name_ok = !m.name.is_empty()
            && m.name.len() <= 128
            && m.name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && m.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if !name_ok {
            return Err(invalid(
                "model.name",
                format!("`{}` must match [a-z0-9][a-z0-9._-]* and be at most 128 bytes", m.name),
            ));
        }
        if let Err(e) = semver::Version::parse(&m.version) {
            return Err(invalid("model.version", format!("`{}` is not a semantic version: {e}", m.version)));
        }
        check_path("model.onnx", &m.onnx)?;
        for (i, f) in m.extra_files.iter().enumerate() {
            check_path(&format!("model.extra_files[{i}]"), f)?;
        }
        if let Some(c) = &self.config {
            check_path("config.schema", &c.schema)?;
            if let Some(d) = &c.defaults {
                check_path("config.defaults", d)?;
            }
        }
        if self.inputs.is_empty() {
            return Err(invalid("inputs", "the contract declares no input; add an [[inputs]] table"));
        }
        if self.outputs.is_empty() {
            return Err(invalid("outputs", "the contract declares no output; add an [[outputs]] table"));
        }
        for (side, specs) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
            let mut seen = std::collections::BTreeSet::new();
            for (i, t) in specs.iter().enumerate() {
                let key = format!("{side}[{i}]");
                if t.name.is_empty() {
                    return Err(invalid(format!("{key}.name"), "tensor name is empty"));
                }
                if !seen.insert(t.name.as_str()) {
                    return Err(invalid(
                        format!("{key}.name"),
                        format!("tensor `{}` is declared twice", t.name),
                    ));
                }
                validate_type(&key, t)?;
                validate_features(&key, t)?;
                validate_values(&key, side, t)?;
            }
        }
        if let Some(t) = &self.transform {
            validate_transform(t)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, g) in self.golden.iter().enumerate() {
            let key = format!("golden[{i}]");
            if g.records.is_some() && self.transform.as_ref().is_none_or(|t| t.prepare.is_none()) {
                return Err(invalid(
                    format!("{key}.records"),
                    "records go through the `prepare` transform, and `[transform] prepare` is not set",
                ));
            }
            if g.decisions.is_some() && self.transform.as_ref().is_none_or(|t| t.decide.is_none()) {
                return Err(invalid(
                    format!("{key}.decisions"),
                    "decisions come from the `decide` transform, and `[transform] decide` is not set",
                ));
            }
            if !seen.insert(g.name.as_str()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("golden set `{}` is declared twice", g.name),
                ));
            }
            validate_golden_files(&key, g)?;
            for out in g.outputs.keys() {
                if !self.outputs.iter().any(|o| &o.name == out) {
                    return Err(invalid(
                        format!("{key}.outputs.{out}"),
                        format!("`{out}` is not a declared output"),
                    ));
                }
            }
            for (device, t) in &g.tolerance {
                if !crate::DEVICE_KINDS.contains(&device.as_str()) {
                    return Err(invalid(
                        format!("{key}.tolerance.{device}"),
                        format!(
                            "`{device}` is not a device kind (one of: {})",
                            crate::DEVICE_KINDS.join(", ")
                        ),
                    ));
                }
                for out in t.outputs.keys() {
                    if !self.outputs.iter().any(|o| &o.name == out) {
                        return Err(invalid(
                            format!("{key}.tolerance.{device}.outputs.{out}"),
                            format!("`{out}` is not a declared output"),
                        ));
                    }
                }
            }
            let device_tols = g.tolerance.values().flat_map(|d| {
                std::iter::once(Tolerance { rtol: d.rtol, atol: d.atol }).chain(d.outputs.values().copied())
            });
            let tols = std::iter::once(Tolerance { rtol: g.rtol, atol: g.atol })
                .chain(g.outputs.values().copied())
                .chain(device_tols);
            for t in tols {
                for v in [t.rtol, t.atol].into_iter().flatten() {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(invalid(key.clone(), format!("tolerance {v} must be finite and >= 0")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every file the source names, in a stable order and without duplicates (the ONNX external-data
    /// files are found by the packager, not listed here).
    pub fn named_files(&self) -> Vec<String> {
        let mut files = vec![self.model.onnx.clone()];
        files.extend(self.model.extra_files.iter().cloned());
        if let Some(c) = &self.config {
            files.push(c.schema.clone());
            files.extend(c.defaults.iter().cloned());
        }
        for g in &self.golden {
            files.extend(g.files().into_iter().map(|(_, f)| f.to_owned()));
        }
        if let Some(t) = &self.transform {
            files.extend(t.components().into_iter().map(str::to_owned));
            files.extend(t.records.iter().cloned());
            files.extend(t.results.iter().cloned());
        }
        files.sort();
        files.dedup();
        files
    }
}

fn validate_transform(t: &TransformSection) -> Result<(), SourceError> {
    if t.prepare.is_none() && t.decide.is_none() {
        return Err(invalid(
            "transform.prepare",
            "missing: `[transform]` names no component (`prepare`, `decide` or both)",
        ));
    }
    let paths = [
        ("transform.prepare", &t.prepare),
        ("transform.decide", &t.decide),
        ("transform.source", &t.source),
        ("transform.records", &t.records),
        ("transform.results", &t.results),
    ];
    for (key, path) in paths {
        if let Some(p) = path {
            check_path(key, p)?;
        }
    }
    if t.results.is_some() && t.decide.is_none() {
        return Err(invalid(
            "transform.results",
            "`results` describes decide's results, and `decide` is not set",
        ));
    }
    let l = &t.limits;
    if l.deadline_ms == Some(0) || l.memory_mib == Some(0) || l.concurrency == Some(0) {
        return Err(invalid(
            "transform.limits",
            "a limit of 0 would refuse every call; leave the key out for the default",
        ));
    }
    if l.memory_mib.is_some_and(|m| m > 4096) {
        return Err(invalid(
            "transform.limits.memory_mib",
            "at most 4096: a component's 32-bit memory cannot use more",
        ));
    }
    Ok(())
}

fn check_path(key: &str, path: &str) -> Result<(), SourceError> {
    check_relative_path(path).map_err(|e| invalid(key, e.to_string()))?;
    if path.starts_with(".ferry/") {
        return Err(invalid(
            key,
            format!("`{path}`: the `.ferry/` directory is reserved for files Ferry generates"),
        ));
    }
    if path == crate::media::SOURCE_FILE {
        return Err(invalid(key, "`ferry.toml` is the source description, not a model file"));
    }
    Ok(())
}

/// A golden set names its tensors one of two ways: `file` (one combined JSON file) or `inputs` and
/// `expected` (one file each), never both and never half of one.
fn validate_golden_files(key: &str, g: &GoldenSet) -> Result<(), SourceError> {
    if let Some(records) = &g.records {
        check_path(&format!("{key}.records"), records)?;
        if g.file.is_some() {
            return Err(invalid(
                format!("{key}.file"),
                "a set of records names its expectations with `decisions`, `inputs` and `expected`, not `file`",
            ));
        }
        if g.decisions.is_none() && g.inputs.is_none() && g.expected.is_none() {
            return Err(invalid(
                format!("{key}.decisions"),
                "missing: a set of `records` needs what they must give: `decisions` (decide's results), \
                 `inputs` (prepare's tensors) or `expected` (the model's outputs)",
            ));
        }
        for (k, f) in [("decisions", &g.decisions), ("inputs", &g.inputs), ("expected", &g.expected)] {
            if let Some(f) = f {
                check_path(&format!("{key}.{k}"), f)?;
            }
        }
        return Ok(());
    }
    if let Some(d) = &g.decisions {
        let _ = d;
        return Err(invalid(format!("{key}.records"), "missing: `decisions` are the results of `records`"));
    }
    let both = "name the set's tensors once: `file` (one JSON file with `inputs` and `outputs`) or \
                `inputs` and `expected` (one file each)";
    match (&g.file, &g.inputs, &g.expected) {
        (Some(file), None, None) => {
            check_path(&format!("{key}.file"), file)?;
            let json = std::path::Path::new(file)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            if !json {
                return Err(invalid(
                    format!("{key}.file"),
                    format!(
                        "`{file}`: a golden file holding both sides is JSON, {{\"inputs\": {{...}}, \
                         \"outputs\": {{...}}}}; name an .npz, .npy or .safetensors file of each side \
                         with `inputs` and `expected` instead"
                    ),
                ));
            }
            Ok(())
        }
        (Some(_), _, _) => Err(invalid(
            format!("{key}.file"),
            format!(
                "`file` holds both sides of the set, so `inputs` and `expected` cannot be given too; {both}"
            ),
        )),
        (None, Some(inputs), Some(expected)) => {
            check_path(&format!("{key}.inputs"), inputs)?;
            check_path(&format!("{key}.expected"), expected)
        }
        (None, Some(_), None) => {
            Err(invalid(format!("{key}.expected"), format!("missing: `inputs` needs `expected`; {both}")))
        }
        (None, None, Some(_)) => {
            Err(invalid(format!("{key}.inputs"), format!("missing: `expected` needs `inputs`; {both}")))
        }
        (None, None, None) => Err(invalid(format!("{key}.file"), format!("missing: {both}"))),
    }
}

fn validate_type(key: &str, t: &TensorSpec) -> Result<(), SourceError> {
    if let Some(problem) = t.value_type.problem() {
        return Err(invalid(format!("{key}.type"), format!("`{}`: {problem}", t.name)));
    }
    if t.value_type.has_map() && !t.shape.is_empty() {
        return Err(invalid(
            format!("{key}.shape"),
            format!("`{}`: a map's values are scalars, so its shape is []", t.name),
        ));
    }
    if !t.value_type.is_tensor() && !t.features.is_empty() {
        return Err(invalid(
            format!("{key}.features"),
            format!("`{}`: features describe a plain tensor's columns, not a {}", t.name, t.value_type),
        ));
    }
    Ok(())
}

fn validate_values(key: &str, side: &str, t: &TensorSpec) -> Result<(), SourceError> {
    let Some(v) = &t.values else { return Ok(()) };
    let vkey = format!("{key}.values");
    if side != "inputs" {
        return Err(invalid(vkey, format!("`{}`: values rules constrain inputs, not outputs", t.name)));
    }
    if t.dtype == DType::String || t.dtype == DType::Bool {
        return Err(invalid(
            vkey,
            format!("`{}`: values rules need a numeric dtype, not {}", t.name, t.dtype),
        ));
    }
    validate_rules(&vkey, &v.as_feature(&t.name), t)
}

/// The rules of one feature, or of a whole tensor's values (`key` names where they are declared).
fn validate_rules(key: &str, f: &Feature, t: &TensorSpec) -> Result<(), SourceError> {
    if let (Some(lo), Some(hi)) = (f.min, f.max)
        && lo > hi
    {
        return Err(invalid(format!("{key}.min"), format!("`{}`: min {lo} is above max {hi}", f.name)));
    }
    if f.nullable && !t.dtype.is_float() {
        return Err(invalid(
            format!("{key}.nullable"),
            format!(
                "`{}`: only floating-point values can be null (NaN); `{}` is {}",
                f.name, t.name, t.dtype
            ),
        ));
    }
    for v in [f.min, f.max].into_iter().flatten().chain(f.allowed.iter().flatten().copied()) {
        if v.is_nan() {
            return Err(invalid(
                key.to_owned(),
                format!("`{}`: NaN is not a bound; use nullable = true", f.name),
            ));
        }
    }
    if f.allowed.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(
            format!("{key}.allowed"),
            format!("`{}`: an empty allowed list refuses every value", f.name),
        ));
    }
    Ok(())
}

fn validate_features(key: &str, t: &TensorSpec) -> Result<(), SourceError> {
    if t.features.is_empty() {
        return Ok(());
    }
    match t.shape.last() {
        Some(Dim::Fixed(n)) if *n as usize == t.features.len() => {}
        Some(Dim::Fixed(n)) => {
            return Err(invalid(
                format!("{key}.features"),
                format!(
                    "{} feature{} listed but the last dim of `{}` is {n}",
                    t.features.len(),
                    if t.features.len() == 1 { "" } else { "s" },
                    t.name
                ),
            ));
        }
        _ => {
            return Err(invalid(
                format!("{key}.features"),
                format!("`{}` lists features, so its last dim must be a fixed size", t.name),
            ));
        }
    }
    if t.dtype == DType::String || t.dtype == DType::Bool {
        return Err(invalid(
            format!("{key}.features"),
            format!("features need a numeric dtype, not {}", t.dtype),
        ));
    }
    for (j, f) in t.features.iter().enumerate() {
        validate_rules(&format!("{key}.features[{j}]"), f, t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    const HEAD: &str = "[model]\nname = \"m\"\nversion = \"1.0.0\"\nonnx = \"m.onnx\"\n\
                        [[inputs]]\nname = \"x\"\ndtype = \"float32\"\nshape = [1]\n\
                        [[outputs]]\nname = \"y\"\ndtype = \"float32\"\nshape = [1]\n";

    fn golden(table: &str) -> Result<Source, String> {
        Source::from_toml_str(&format!("{HEAD}[[golden]]\nname = \"smoke\"\n{table}"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_golden_set_names_its_files_one_way() {
        let both = golden("file = \"g.json\"\ninputs = \"i.npz\"\nexpected = \"e.npz\"\n").unwrap_err();
        assert!(both.starts_with("key `golden[0].file`: `file` holds both sides"), "{both}");
        let half = golden("file = \"g.json\"\nexpected = \"e.npz\"\n").unwrap_err();
        assert!(half.starts_with("key `golden[0].file`"), "{half}");
        let neither = golden("rtol = 1e-3\n").unwrap_err();
        assert!(
            neither.contains("golden[0].file") && neither.contains("`inputs` and `expected`"),
            "{neither}"
        );
        let no_expected = golden("inputs = \"i.npz\"\n").unwrap_err();
        assert!(no_expected.starts_with("key `golden[0].expected`: missing"), "{no_expected}");
        let no_inputs = golden("expected = \"e.npz\"\n").unwrap_err();
        assert!(no_inputs.starts_with("key `golden[0].inputs`: missing"), "{no_inputs}");
        let npz = golden("file = \"g.npz\"\n").unwrap_err();
        assert!(npz.contains("is JSON") && npz.contains("with `inputs` and `expected`"), "{npz}");
        let unsafe_path = golden("file = \"../g.json\"\n").unwrap_err();
        assert!(unsafe_path.starts_with("key `golden[0].file`"), "{unsafe_path}");
        let typo = golden("files = \"g.json\"\n").unwrap_err();
        assert!(typo.contains("unknown field `files`"), "{typo}");
        let reserved = golden("file = \".ferry/g.json\"\n").unwrap_err();
        assert!(reserved.contains("reserved"), "{reserved}");
    }

    #[test]
    fn a_combined_golden_file_is_both_sides() {
        let s = golden("file = \"golden/smoke.JSON\"\n").unwrap();
        let g = &s.golden[0];
        let i = g.side(GoldenSide::Inputs);
        let o = g.side(GoldenSide::Outputs);
        assert_eq!(
            (i.path, i.key, i.combined, i.side),
            ("golden/smoke.JSON", "file", true, GoldenSide::Inputs)
        );
        assert_eq!((o.path, o.key, o.side), ("golden/smoke.JSON", "file", GoldenSide::Outputs));
        assert_eq!(g.files(), [("file", "golden/smoke.JSON")]);
        assert_eq!(s.named_files(), ["golden/smoke.JSON", "m.onnx"]);
        // Two sets may share one file.
        let two = Source::from_toml_str(&format!(
            "{HEAD}[[golden]]\nname = \"a\"\nfile = \"g.json\"\n[[golden]]\nname = \"b\"\nfile = \"g.json\"\n"
        ))
        .unwrap();
        assert_eq!(two.named_files(), ["g.json", "m.onnx"]);
    }

    /// A set written the old way serializes exactly as before `file` existed, so manifests of bundles
    /// packed before it keep their bytes.
    #[test]
    fn the_pair_spelling_serializes_as_before() {
        let s = golden("inputs = \"i.npz\"\nexpected = \"e.npz\"\n").unwrap();
        let g = &s.golden[0];
        assert_eq!(
            String::from_utf8(crate::to_canonical_json(g).unwrap()).unwrap(),
            r#"{"expected":"e.npz","inputs":"i.npz","name":"smoke"}"#
        );
        let e = g.side(GoldenSide::Outputs);
        assert_eq!((e.path, e.key, e.combined), ("e.npz", "expected", false));
        assert_eq!(g.files(), [("inputs", "i.npz"), ("expected", "e.npz")]);
    }

    fn output(table: &str) -> Result<Source, String> {
        let head = "[model]\nname = \"m\"\nversion = \"1.0.0\"\nonnx = \"m.onnx\"\n\
                    [[inputs]]\nname = \"x\"\ndtype = \"float32\"\nshape = [1]\n";
        Source::from_toml_str(&format!("{head}[[outputs]]\nname = \"p\"\n{table}")).map_err(|e| e.to_string())
    }

    /// `type` declares a container around the innermost tensor; ONNX's rules on what holds what, a map's
    /// scalar values and features on plain tensors only are refused naming the key; a plain tensor
    /// serializes without the key, so bundles that declare none keep their bytes.
    #[test]
    fn value_types_are_declared_and_validated() {
        let zipmap =
            output("type = \"sequence<map<int64, tensor>>\"\ndtype = \"float32\"\nshape = []\n").unwrap();
        assert_eq!(zipmap.outputs[0].value_type.to_string(), "sequence<map<int64, tensor>>");
        let json = String::from_utf8(crate::to_canonical_json(&zipmap.outputs[0]).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"dtype":"float32","name":"p","shape":[],"type":"sequence<map<int64, tensor>>"}"#
        );
        let plain = output("dtype = \"float32\"\nshape = [1]\n").unwrap();
        let json = String::from_utf8(crate::to_canonical_json(&plain.outputs[0]).unwrap()).unwrap();
        assert_eq!(json, r#"{"dtype":"float32","name":"p","shape":[1]}"#);
        for (table, needle) in [
            (
                "type = \"map<int64, tensor>\"\ndtype = \"float32\"\nshape = [2]\n",
                "key `outputs[0].shape`: `p`: a map's values are scalars, so its shape is []",
            ),
            (
                "type = \"map<float32, tensor>\"\ndtype = \"float32\"\nshape = []\n",
                "key `outputs[0].type`: `p`: a map key must be an integer type or string, not float32",
            ),
            (
                "type = \"sequence<optional<tensor>>\"\ndtype = \"float32\"\nshape = []\n",
                "a sequence cannot hold optional values",
            ),
            ("type = \"list<tensor>\"\ndtype = \"float32\"\nshape = []\n", "`list` is not a kind of value"),
            (
                "type = \"sequence<tensor>\"\ndtype = \"float32\"\nshape = [2]\nfeatures = [{ name = \"a\" }, { name = \"b\" }]\n",
                "key `outputs[0].features`: `p`: features describe a plain tensor's columns",
            ),
        ] {
            let e = output(table).unwrap_err();
            assert!(e.contains(needle), "{table}: {e}");
        }
    }
}
