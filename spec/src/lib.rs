//! The Ferry bundle format as code.
//!
//! This crate holds the types every other Ferry crate agrees on: the bundle source (`ferry.toml`), the
//! bundle manifest (the OCI config blob), the data contract, golden sets and the policy file, together with
//! the canonical JSON encoding that makes manifests byte-for-byte reproducible. Its only I/O is [`file`], the
//! checked reader every Ferry crate uses for the files a user names. The written specification
//! lives next to it in `spec/FORMAT.md`; the JSON Schemas in `spec/schema/` are generated from these types.

mod canonical;
pub mod config;
mod devices;
pub mod display;
mod dtype;
pub mod file;
mod manifest;
mod path;
pub mod policy;
pub mod reference;
mod source;
mod value_type;

pub use canonical::{canonical_json, to_canonical_json};
pub use devices::{ComputeCapability, DEVICE_KINDS, DevicesSection};
pub use dtype::DType;
pub use manifest::{
    ComponentPin, Compression, ConfigRef, FileEntry, Manifest, ModelMeta, ONNXRUNTIME_SUPPORTED, OnnxPins,
    PackagePin, Pins, TransformBuild, TransformManifest,
};
pub use path::{
    GENERATED_FILES, MAX_COMPONENT_BYTES, PathError, SIGNATURE_IGNORED_COMPONENTS, SIGNATURE_PATH,
    check_file_view, check_relative_path, external_data_location, external_data_path,
};
pub use reference::{ColumnSettings, Kind, Method, ReferenceManifest, ReferenceSection};
pub use source::{
    ConfigSection, DeviceTolerance, Dim, Feature, GoldenFile, GoldenSet, GoldenSide, ModelSection, Source,
    SourceError, TensorSpec, Tolerance, TransformLimits, TransformSandbox, TransformSection, ValueRules,
};
pub use value_type::{MAX_TYPE_DEPTH, ValueType, ValueTypeError};

/// The bundle format version this crate writes. Bumped on any incompatible change.
///
/// Version 2 made signatures bind the Ferry manifest (`spec/FORMAT.md` §5, §8).
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format version a reader still opens. Bundles of version 1 stay readable, but their
/// signatures do not bind the Ferry manifest, so no trust policy counts them (`spec/FORMAT.md` §8).
pub const MIN_FORMAT_VERSION: u32 = 1;

/// Whether a reader of this crate's version opens bundles of format `version`.
pub fn is_supported_format(version: u64) -> bool {
    (u64::from(MIN_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&version)
}

/// The Ferry version that writes bundles; recorded as a pin in every manifest.
pub const FERRY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Well-known names of the bundle: media types, annotations and file names.
pub mod media {
    /// The OCI image manifest media type; a Ferry bundle is an OCI artifact.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// The OCI image index media type (`index.json`).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// The artifact type of a Ferry bundle manifest.
    pub const ARTIFACT_TYPE: &str = "application/vnd.ferry.bundle.v1";
    /// The media type of the config descriptor. The config blob is the Ferry [`Manifest`](crate::Manifest)
    /// in canonical JSON; it is declared with the OCI image-config media type because standard tools
    /// (`skopeo inspect`) refuse to read anything else, while `artifactType` marks the manifest as Ferry's.
    pub const FERRY_MANIFEST: &str = "application/vnd.oci.image.config.v1+json";
    /// A bundled file stored as is.
    pub const FILE: &str = "application/vnd.ferry.file.v1";
    /// A bundled file stored zstd-compressed.
    pub const FILE_ZSTD: &str = "application/vnd.ferry.file.v1+zstd";
    /// The annotation that carries a file's path inside the bundle.
    pub const TITLE: &str = "org.opencontainers.image.title";
    /// The annotation on the index entry naming the bundle (`name:version`).
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// The name of the bundle source description inside a source directory and a bundle.
    pub const SOURCE_FILE: &str = "ferry.toml";
    /// The reserved directory of generated files in a file view.
    pub const RESERVED_DIR: &str = ".ferry";
    /// Where the Ferry manifest appears in a signature's resources (format 2 on) and in an unpacked
    /// bundle, so that an OpenSSF `model_signing` verifier checks it like any other file. It is never a
    /// file of the bundle's file view: the manifest lists those files.
    pub const MANIFEST_FILE: &str = ".ferry/manifest.json";
    /// Where `ferry unpack` writes every signature and attestation of a bundle, in order, so that
    /// `ferry pack` of the directory keeps them. Ferry signatures list it among their ignore paths, so a
    /// `model_signing` verifier skips it.
    pub const REFERRERS_DIR: &str = ".ferry/referrers";
}

/// The JSON Schemas generated from the format's types, as `(file name, pretty JSON)`. The files in
/// `spec/schema/` are these; a test fails when they are stale (`FERRY_BLESS=1 cargo test -p ferry-spec`
/// rewrites them).
pub fn schemas() -> Vec<(&'static str, String)> {
    let render = |s: schemars::Schema| serde_json::to_string_pretty(&s).map(|t| t + "\n").unwrap_or_default();
    vec![
        ("ferry-toml.schema.json", render(schemars::schema_for!(Source))),
        ("manifest.schema.json", render(schemars::schema_for!(Manifest))),
    ]
}
