use crate::{ConfigSection, GoldenSet, TensorSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ONNX Runtime versions this Ferry release runs bundles with, as a semver requirement. Recorded in
/// every manifest; a runtime whose ONNX Runtime falls outside a bundle's range refuses to open it.
pub const ONNXRUNTIME_SUPPORTED: &str = ">=1.31.0, <1.32.0";

/// The Ferry manifest: the OCI config blob of a bundle, stored as canonical JSON.
///
/// It is the resolved, machine-readable view of the bundle: what `ferry.toml` said, plus every file's
/// digest and the pins read from the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The bundle format version ([`FORMAT_VERSION`](crate::FORMAT_VERSION)).
    pub format_version: u32,
    /// Identity of the model.
    pub model: ModelMeta,
    /// Path of the ONNX graph the runtime executes.
    pub entrypoint: String,
    /// Every file of the bundle's file view, sorted by path (`ferry.toml` included).
    pub files: Vec<FileEntry>,
    /// The configuration schema and defaults, if the model has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigRef>,
    /// Declared inputs.
    pub inputs: Vec<TensorSpec>,
    /// Declared outputs.
    pub outputs: Vec<TensorSpec>,
    /// Golden sets.
    #[serde(default)]
    pub golden: Vec<GoldenSet>,
    /// What the bundle was built with and needs.
    pub pins: Pins,
    /// The feature transforms (§3.7): `[transform]` as written, and what each component is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<TransformManifest>,
    /// `[devices]` as written: where the model may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<crate::DevicesSection>,
    /// The reference profile and, when shipped, its sample (§3.9); absent without `[reference]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<crate::reference::ReferenceManifest>,
}

/// `[transform]` with what the packager read off each component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformManifest {
    /// The section, paths into the file view.
    #[serde(flatten)]
    pub section: crate::TransformSection,
    /// Each component file once, sorted by path.
    pub components: Vec<ComponentPin>,
    /// How the components were built, read from `source` when it is a Cargo crate or a componentize-py
    /// tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<TransformBuild>,
}

/// One component, as the packager checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentPin {
    /// Path in the file view.
    pub path: String,
    /// Lower-case hex SHA-256 of the component.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The WIT package its exports implement (`ferry:transform@0.1.0`).
    pub wit: String,
    /// What it exports, sorted.
    pub exports: Vec<String>,
    /// What it imports, sorted (WASI 0.2 interfaces and `ferry:transform/types`).
    pub imports: Vec<String>,
}

/// What built the components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformBuild {
    /// `cargo` (a Cargo crate with its `Cargo.lock`) or `componentize-py`.
    pub kind: String,
    /// The toolchain and its version, where the source records it (`componentize-py 0.25.1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub toolchain: String,
    /// The locked dependency tree, sorted by name and version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackagePin>,
}

/// One locked dependency of a transform's source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackagePin {
    pub name: String,
    pub version: String,
    /// Where it comes from (`registry+https://github.com/rust-lang/crates.io-index`, `pypi`); empty
    /// for the crate itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The registry's checksum (`sha256:<hex>` for PyPI pins with a hash), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
}

/// Identity of the model, copied from `[model]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    pub name: String,
    pub version: String,
    pub description: String,
    pub license: String,
}

/// The config section with paths into the file view.
pub type ConfigRef = ConfigSection;

/// How a file's blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// The blob is the file's bytes: weights are read in place, without a second copy.
    None,
    /// The blob is a single zstd frame (level 19, content size recorded) of the file's bytes.
    Zstd,
}

/// One file of the bundle's file view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path relative to the bundle root, `/`-separated.
    pub path: String,
    /// Lower-case hex SHA-256 of the file's bytes (uncompressed).
    pub sha256: String,
    /// Size of the file in bytes (uncompressed).
    pub size: u64,
    /// How the blob is stored.
    pub compression: Compression,
    /// The OCI digest of the stored blob (`sha256:<hex>`); equals `sha256:<sha256>` when uncompressed.
    pub blob: String,
}

/// What the bundle was built with and what it needs to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// The Ferry version that packed the bundle.
    pub ferry_version: String,
    /// Semver requirement on the ONNX Runtime version that may execute the bundle.
    pub onnxruntime: String,
    /// Read from the model's protobuf.
    pub onnx: OnnxPins,
}

/// Facts read from the ONNX model itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnnxPins {
    /// `ModelProto.ir_version`.
    pub ir_version: i64,
    /// Operator set imports: domain (`""` is the default ONNX domain) to version.
    pub opsets: BTreeMap<String, i64>,
    /// `ModelProto.producer_name`.
    #[serde(default)]
    pub producer_name: String,
    /// `ModelProto.producer_version`.
    #[serde(default)]
    pub producer_version: String,
    /// External-data files the graph reads, relative to the bundle root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_data: Vec<String>,
}

impl Manifest {
    /// The manifest seen as the source it was packed from, so the source's rules (unique names, features
    /// that fit their shapes, valid tolerances, safe paths: [`Source::validate`](crate::Source::validate))
    /// can be checked on a bundle, as `verify`'s `artifact.format` does.
    pub fn source_view(&self) -> crate::Source {
        crate::Source {
            model: crate::ModelSection {
                name: self.model.name.clone(),
                version: self.model.version.clone(),
                description: self.model.description.clone(),
                license: self.model.license.clone(),
                onnx: self.entrypoint.clone(),
                extra_files: Vec::new(),
            },
            config: self.config.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            golden: self.golden.clone(),
            transform: self.transform.as_ref().map(|t| t.section.clone()),
            devices: self.devices.clone(),
            // The profile carries its settings; the manifest only says where it is.
            reference: None,
        }
    }

    /// Looks up a file of the file view by path.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.binary_search_by(|f| f.path.as_str().cmp(path)).ok().map(|i| &self.files[i])
    }

    /// Looks up a declared input by name.
    pub fn input(&self, name: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|t| t.name == name)
    }

    /// Looks up a declared output by name.
    pub fn output(&self, name: &str) -> Option<&TensorSpec> {
        self.outputs.iter().find(|t| t.name == name)
    }
}
