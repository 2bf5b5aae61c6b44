//! What `ferry pack` records about how a bundle was built: a SLSA v1 provenance statement and a CycloneDX
//! 1.5 SBOM, stored as generated files of the file view (`.ferry/provenance.json`, `.ferry/sbom.cdx.json`)
//! so that signatures cover them and the bundle stays a single OCI image that `skopeo inspect` reads.
//! They describe the other files; their subject is the source tree digest (SHA-256 over the canonical
//! list of paths and file digests), since a file cannot name the digest of the manifest that lists it.
//!
//! Both are functions of the bundle's content and of the source repository named by the CI environment:
//! no timestamps, paths, host names or random serial numbers, so packing the same source twice gives the
//! same bytes.

use ferry_spec::{FERRY_VERSION, FORMAT_VERSION, Manifest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA provenance predicate type.
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// The `buildType` of a `ferry pack` build.
pub const BUILD_TYPE: &str = "https://ferry.dev/pack/v1";
/// Artifact and layer media type of the provenance referrer.
pub const PROVENANCE_MEDIA_TYPE: &str = "application/vnd.in-toto+json";
/// Artifact and layer media type of the SBOM referrer.
pub const SBOM_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";
/// `dev.ferry.kind` of the provenance referrer.
pub const PROVENANCE_KIND: &str = "provenance";
/// `dev.ferry.kind` of the SBOM referrer.
pub const SBOM_KIND: &str = "sbom";
/// The referrer annotation naming what a referrer holds (shared with signatures and attestations).
pub const KIND_ANNOTATION: &str = "dev.ferry.kind";

/// The repository and commit a bundle was built from, as the CI environment names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRepo {
    /// The repository URL (`https://github.com/owner/name`).
    pub url: String,
    /// The full commit hash (hex).
    pub commit: String,
}

/// A source signature the provenance records (`spec/FORMAT.md` §5): a producer's OMS signature over
/// the source directory, kept beside the bundle it was packed into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSignature {
    /// Where it was found in the source (`model.sig`).
    pub file: String,
    /// SHA-256 (hex) of the sigstore bundle JSON.
    pub sha256: String,
    /// `key <hint>` or `keyless`.
    pub signer: String,
    /// How many files it signs.
    pub resources: usize,
}

/// The `kind` annotation of the resolved dependency that names the source tree by its digest.
pub const TREE_DIGEST_KIND: &str = "source tree digest";
/// The `kind` annotation of a resolved dependency that is a source signature.
pub const SOURCE_SIGNATURE_KIND: &str = "source signature";
/// The CycloneDX component type of the model.
pub const MODEL_COMPONENT_TYPE: &str = "machine-learning-model";
/// The CycloneDX property holding the ONNX Runtime version range (a semver requirement, not a version).
pub const VERSION_RANGE_PROPERTY: &str = "ferry:version_range";

// The documents below are written by `pack` and read back by `ferry audit` through the same types, so
// the two cannot drift apart. Reading is lenient where the documents allow it (unknown fields are
// ignored, absent lists are empty), so a bundle packed by a later Ferry still audits; a field of the
// wrong JSON type makes the whole document unreadable, which the audit reports.

/// An in-toto v1 statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement<P> {
    /// `https://in-toto.io/Statement/v1`.
    #[serde(rename = "_type", default)]
    pub statement_type: String,
    /// What the statement is about.
    #[serde(default)]
    pub subject: Vec<ResourceDescriptor>,
    /// The type of `predicate`.
    #[serde(rename = "predicateType", default)]
    pub predicate_type: String,
    /// What is said about the subject.
    pub predicate: P,
}

/// An in-toto resource descriptor: a file, a source tree or a repository, named by name or URI and
/// identified by its digests (algorithm → value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A name (a path in the bundle, `model:version` for the source tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A URI (`git+https://…` for the source repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Digests by algorithm (`sha256`, `gitCommit`), values without a prefix.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    /// The media type of the resource, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Ferry's annotations (`kind`, and for a source signature `signer` and `resources`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Value>,
}

impl ResourceDescriptor {
    fn named(name: &str, alg: &str, digest: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            digest: BTreeMap::from([(alg.to_owned(), digest.to_owned())]),
            ..Self::default()
        }
    }

    fn annotated(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.annotations.insert(key.to_owned(), value.into());
        self
    }

    /// The `kind` annotation, when it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.annotations.get("kind").and_then(Value::as_str)
    }
}

/// The SLSA v1 provenance predicate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlsaProvenance {
    /// How the bundle was built and from what.
    #[serde(default)]
    pub build_definition: BuildDefinition,
    /// Who built it.
    #[serde(default)]
    pub run_details: RunDetails,
}

/// SLSA `buildDefinition`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// [`BUILD_TYPE`] for `ferry pack`.
    #[serde(default)]
    pub build_type: String,
    /// What a user chose: the model's name and version.
    #[serde(default)]
    pub external_parameters: ExternalParameters,
    /// What the packager chose: its version, the format version and the zstd level.
    #[serde(default)]
    pub internal_parameters: InternalParameters,
    /// What the bundle was built from: the source tree, the source commit, source signatures.
    #[serde(default)]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// The external parameters of a `ferry pack` build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExternalParameters {
    /// The model the source declares.
    #[serde(default)]
    pub model: ModelRef,
}

/// A model's name and version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// `[model] name`.
    #[serde(default)]
    pub name: String,
    /// `[model] version`.
    #[serde(default)]
    pub version: String,
}

/// The internal parameters of a `ferry pack` build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InternalParameters {
    /// The packager's version.
    #[serde(default)]
    pub ferry_version: String,
    /// The bundle format version written.
    #[serde(default)]
    pub format_version: u32,
    /// The zstd level blobs were compressed with.
    #[serde(default)]
    pub zstd_level: i32,
}

/// SLSA `runDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunDetails {
    /// The builder.
    #[serde(default)]
    pub builder: Builder,
    /// Build metadata: deliberately empty (no timestamps, no invocation id).
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

/// SLSA `builder`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Builder {
    /// [`builder_id`] for `ferry pack`.
    #[serde(default)]
    pub id: String,
}

/// A CycloneDX 1.5 bill of materials, the subset Ferry writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bom {
    /// `CycloneDX`.
    #[serde(default)]
    pub bom_format: String,
    /// `1.5`.
    #[serde(default)]
    pub spec_version: String,
    /// A URN derived from the source tree digest.
    #[serde(default)]
    pub serial_number: String,
    /// The BOM's own version (1).
    #[serde(default)]
    pub version: u32,
    /// The tool that wrote it and the component it describes (the bundle).
    #[serde(default)]
    pub metadata: BomMetadata,
    /// The model, ONNX Runtime and Ferry; then a bundle's feature-transform components and their
    /// builds' locked packages, when it has transforms.
    #[serde(default)]
    pub components: Vec<Component>,
    /// What depends on what.
    #[serde(default)]
    pub dependencies: Vec<BomDependency>,
}

/// CycloneDX `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BomMetadata {
    /// The tools that wrote the BOM.
    #[serde(default)]
    pub tools: Tools,
    /// The component the BOM describes: the bundle's source files, by the source tree digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<Component>,
}

/// CycloneDX `metadata.tools` (the 1.5 object form).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tools {
    /// The tools, as components.
    #[serde(default)]
    pub components: Vec<Component>,
}

/// A CycloneDX component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `file`, `library`, `application`, [`MODEL_COMPONENT_TYPE`]…
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The reference other parts of the BOM use.
    #[serde(rename = "bom-ref", default, skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    /// The component's name (a path for a file).
    #[serde(default)]
    pub name: String,
    /// Its version, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Hash>,
    /// Its package URL (a transform's locked dependency: `pkg:cargo/…`, `pkg:pypi/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// Its licenses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<LicenseChoice>,
    /// Name–value properties (ONNX pins, the ONNX Runtime version range).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
    /// Nested components (the model's files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

impl Component {
    fn new(kind: &str, name: &str) -> Self {
        Self { kind: kind.to_owned(), name: name.to_owned(), ..Self::default() }
    }

    /// The value of property `name`, if the component has it.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|p| p.name == name).map(|p| p.value.as_str())
    }
}

/// A CycloneDX hash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hash {
    /// `SHA-256`.
    #[serde(default)]
    pub alg: String,
    /// Lowercase hex.
    #[serde(default)]
    pub content: String,
}

/// A CycloneDX license choice: one license (`{"license": {…}}`) or an SPDX expression
/// (`{"expression": "MIT OR Apache-2.0"}`, what Cargo packages declare).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LicenseChoice {
    /// The license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<License>,
    /// An SPDX license expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A CycloneDX license, by SPDX id or by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct License {
    /// An SPDX license id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A license name (what `[model] license` holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A CycloneDX name–value property.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Property {
    /// Its name (`onnx:opset:ai.onnx`).
    #[serde(default)]
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

impl Property {
    fn new(name: &str, value: &str) -> Self {
        Self { name: name.to_owned(), value: value.to_owned() }
    }
}

/// A CycloneDX dependency: `reference` depends on `depends_on`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BomDependency {
    /// The `bom-ref` of the dependent.
    #[serde(rename = "ref", default)]
    pub reference: String,
    /// The `bom-ref`s it depends on.
    #[serde(rename = "dependsOn", default)]
    pub depends_on: Vec<String>,
}

/// The builder id recorded in provenance.
pub fn builder_id() -> String {
    format!("https://ferry.dev/packager@{FERRY_VERSION}")
}

/// The source repository named by GitHub Actions (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_SHA`)
/// or GitLab CI (`CI_PROJECT_URL`, `CI_COMMIT_SHA`), if any.
///
/// A local `git rev-parse HEAD` is deliberately not consulted: it would make the bundle depend on
/// where the source directory sits (inside a work tree or a copy of it) and on uncommitted edits it
/// cannot see, breaking "same source, same bytes, whatever the path".
pub fn source_repo_from_env() -> Option<SourceRepo> {
    source_repo_from(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// [`source_repo_from_env`] over any variable lookup (for tests).
pub fn source_repo_from(var: impl Fn(&str) -> Option<String>) -> Option<SourceRepo> {
    let is_commit = |c: &str| matches!(c.len(), 40 | 64) && c.bytes().all(|b| b.is_ascii_hexdigit());
    if let (Some(repo), Some(sha)) = (var("GITHUB_REPOSITORY"), var("GITHUB_SHA")) {
        let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_owned());
        if is_commit(&sha) {
            return Some(SourceRepo {
                url: format!("{}/{repo}", server.trim_end_matches('/')),
                commit: sha.to_ascii_lowercase(),
            });
        }
    }
    if let (Some(url), Some(sha)) = (var("CI_PROJECT_URL"), var("CI_COMMIT_SHA"))
        && is_commit(&sha)
    {
        return Some(SourceRepo { url, commit: sha.to_ascii_lowercase() });
    }
    None
}

fn hex_of(digest: &str) -> &str {
    ferry_bundle::digest::strip_prefix(digest).unwrap_or(digest)
}

/// Where `ferry pack` stores the provenance statement in the file view.
pub const PROVENANCE_PATH: &str = ".ferry/provenance.json";
/// Where `ferry pack` stores the SBOM in the file view.
pub const SBOM_PATH: &str = ".ferry/sbom.cdx.json";

/// The source tree digest: SHA-256 over the canonical JSON list of `[path, sha256]` pairs of the
/// bundled source files, in path order.
pub fn tree_digest(files: &[ferry_spec::FileEntry]) -> String {
    let pairs: Vec<[&str; 2]> = files.iter().map(|f| [f.path.as_str(), f.sha256.as_str()]).collect();
    let canonical = ferry_spec::to_canonical_json(&pairs).unwrap_or_default();
    ferry_bundle::digest::Sha256Digest::of(&canonical).to_string()
}

/// The SLSA v1 provenance statement of a bundle: subject = every bundled source file, resolved
/// dependencies = the source tree (by its digest) and the source commit when known.
pub fn provenance_statement(
    tree_digest: &str,
    manifest: &Manifest,
    source: Option<&SourceRepo>,
    source_signatures: &[SourceSignature],
) -> Statement<SlsaProvenance> {
    let subject =
        manifest.files.iter().map(|f| ResourceDescriptor::named(&f.path, "sha256", &f.sha256)).collect();
    let mut deps = vec![
        ResourceDescriptor::named(
            &format!("{}:{}", manifest.model.name, manifest.model.version),
            "sha256",
            hex_of(tree_digest),
        )
        .annotated("kind", TREE_DIGEST_KIND),
    ];
    if let Some(s) = source {
        deps.push(ResourceDescriptor {
            uri: Some(format!("git+{}", s.url)),
            digest: BTreeMap::from([("gitCommit".to_owned(), s.commit.clone())]),
            ..ResourceDescriptor::default()
        });
    }
    for s in source_signatures {
        let mut d = ResourceDescriptor::named(&s.file, "sha256", &s.sha256)
            .annotated("kind", SOURCE_SIGNATURE_KIND)
            .annotated("signer", s.signer.as_str())
            .annotated("resources", s.resources);
        d.media_type = Some("application/vnd.dev.sigstore.bundle.v0.3+json".to_owned());
        deps.push(d);
    }
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject,
        predicate_type: SLSA_PROVENANCE.to_owned(),
        predicate: SlsaProvenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.to_owned(),
                external_parameters: ExternalParameters {
                    model: ModelRef {
                        name: manifest.model.name.clone(),
                        version: manifest.model.version.clone(),
                    },
                },
                internal_parameters: InternalParameters {
                    ferry_version: FERRY_VERSION.to_owned(),
                    format_version: FORMAT_VERSION,
                    zstd_level: ferry_bundle::ZSTD_LEVEL,
                },
                resolved_dependencies: deps,
            },
            run_details: RunDetails { builder: Builder { id: builder_id() }, metadata: BTreeMap::new() },
        },
    }
}

/// A serial number derived from a digest of what the SBOM describes (an RFC 4122 name-based layout), so
/// the SBOM needs no randomness and still has a stable, unique URN.
pub fn serial_number(digest: &str) -> String {
    let h = ferry_bundle::digest::sha256(format!("ferry-sbom:{digest}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("urn:uuid:{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

fn sha256_hash(hex: &str) -> Hash {
    Hash { alg: "SHA-256".to_owned(), content: hex.to_owned() }
}

/// The CycloneDX 1.5 SBOM of a bundle: the model (with every file's hash and its ONNX pins), the ONNX
/// Runtime version range it may run on, and the Ferry version that packed it; with feature transforms,
/// each component and each locked package of their build.
pub fn sbom(tree_digest: &str, manifest: &Manifest) -> Bom {
    let m = &manifest.model;
    let onnx = &manifest.pins.onnx;
    let files = manifest
        .files
        .iter()
        .map(|f| Component {
            bom_ref: Some(format!("file:{}", f.path)),
            hashes: vec![sha256_hash(&f.sha256)],
            ..Component::new("file", &f.path)
        })
        .collect();
    let mut props = vec![
        Property::new("ferry:entrypoint", &manifest.entrypoint),
        Property::new("onnx:ir_version", &onnx.ir_version.to_string()),
    ];
    for (domain, version) in &onnx.opsets {
        let domain = if domain.is_empty() { "ai.onnx" } else { domain };
        props.push(Property::new(&format!("onnx:opset:{domain}"), &version.to_string()));
    }
    if !onnx.producer_name.is_empty() {
        props.push(Property::new("onnx:producer_name", &onnx.producer_name));
    }
    if !onnx.producer_version.is_empty() {
        props.push(Property::new("onnx:producer_version", &onnx.producer_version));
    }
    let model = Component {
        bom_ref: Some("model".to_owned()),
        version: Some(m.version.clone()),
        description: Some(m.description.clone()).filter(|d| !d.is_empty()),
        hashes: manifest
            .files
            .iter()
            .filter(|f| f.path == manifest.entrypoint)
            .map(|f| sha256_hash(&f.sha256))
            .collect(),
        licenses: if m.license.is_empty() {
            Vec::new()
        } else {
            vec![LicenseChoice {
                license: Some(License { id: None, name: Some(m.license.clone()) }),
                expression: None,
            }]
        },
        properties: props,
        components: files,
        ..Component::new(MODEL_COMPONENT_TYPE, &m.name)
    };
    let onnxruntime = Component {
        bom_ref: Some("onnxruntime".to_owned()),
        description: Some("ONNX Runtime, any version in the range (semver requirement)".to_owned()),
        properties: vec![Property::new(VERSION_RANGE_PROPERTY, &manifest.pins.onnxruntime)],
        ..Component::new("library", "onnxruntime")
    };
    let ferry = Component {
        bom_ref: Some("ferry".to_owned()),
        version: Some(manifest.pins.ferry_version.clone()),
        properties: vec![Property::new("ferry:format_version", &manifest.format_version.to_string())],
        ..Component::new("application", "ferry")
    };
    let depends = |on: &str, deps: &[&str]| BomDependency {
        reference: on.to_owned(),
        depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
    };
    let mut bom = Bom {
        bom_format: "CycloneDX".to_owned(),
        spec_version: "1.5".to_owned(),
        serial_number: serial_number(tree_digest),
        version: 1,
        metadata: BomMetadata {
            tools: Tools {
                components: vec![Component {
                    version: Some(FERRY_VERSION.to_owned()),
                    ..Component::new("application", "ferry")
                }],
            },
            component: Some(Component {
                bom_ref: Some("bundle".to_owned()),
                version: Some(m.version.clone()),
                hashes: vec![sha256_hash(hex_of(tree_digest))],
                ..Component::new("file", &format!("{}:{}", m.name, m.version))
            }),
        },
        components: vec![model, onnxruntime, ferry],
        dependencies: vec![
            depends("bundle", &["model", "onnxruntime"]),
            depends("model", &[]),
            depends("onnxruntime", &[]),
        ],
    };
    if let Some(t) = &manifest.transform {
        add_transforms(&mut bom, t);
    }
    bom
}

/// The `bom-ref` of a transform component.
pub fn transform_ref(path: &str) -> String {
    format!("transform:{path}")
}

/// A bundle's feature transforms (§3.7) in its SBOM: each component (`application`, named by its path,
/// with its SHA-256, WIT package, exports and imports), each locked package of its build (`library`,
/// with its purl and, when the lock records one, its SHA-256), the bundle depending on the components and
/// each component on the packages. Only bundles with transforms have these entries.
fn add_transforms(bom: &mut Bom, t: &ferry_spec::TransformManifest) {
    let build = t.build.as_ref();
    let mut packages: Vec<(String, Component)> = Vec::new();
    for p in build.map(|b| b.packages.as_slice()).unwrap_or_default() {
        let kind = build.map(|b| b.kind.as_str()).unwrap_or_default();
        let purl = crate::transform::purl(kind, p);
        if packages.iter().any(|(r, _)| *r == purl) {
            continue;
        }
        let checksum = p.checksum.strip_prefix("sha256:").unwrap_or(&p.checksum);
        let hashes = if checksum.len() == 64 && checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
            vec![sha256_hash(&checksum.to_ascii_lowercase())]
        } else {
            Vec::new()
        };
        let mut properties = Vec::new();
        if !p.source.is_empty() {
            properties.push(Property::new("ferry:source", &p.source));
        }
        let c = Component {
            bom_ref: Some(purl.clone()),
            version: Some(p.version.clone()),
            hashes,
            purl: Some(purl.clone()),
            properties,
            ..Component::new("library", &p.name)
        };
        packages.push((purl, c));
    }
    let package_refs: Vec<String> = packages.iter().map(|(r, _)| r.clone()).collect();
    let mut component_refs = Vec::new();
    for c in &t.components {
        let r = transform_ref(&c.path);
        let mut properties = vec![
            Property::new("ferry:wit", &c.wit),
            Property::new("ferry:exports", &c.exports.join(",")),
            Property::new("ferry:imports", &c.imports.join(",")),
        ];
        if let Some(b) = build {
            properties.push(Property::new("ferry:build", &b.kind));
            if !b.toolchain.is_empty() {
                properties.push(Property::new("ferry:toolchain", &b.toolchain));
            }
        }
        bom.components.push(Component {
            bom_ref: Some(r.clone()),
            description: Some("feature transform (WebAssembly component)".to_owned()),
            hashes: vec![sha256_hash(&c.sha256)],
            properties,
            ..Component::new("application", &c.path)
        });
        bom.dependencies.push(BomDependency { reference: r.clone(), depends_on: package_refs.clone() });
        component_refs.push(r);
    }
    if let Some(bundle) = bom.dependencies.iter_mut().find(|d| d.reference == "bundle") {
        bundle.depends_on.extend(component_refs);
    }
    for (r, c) in packages {
        bom.components.push(c);
        bom.dependencies.push(BomDependency { reference: r, depends_on: Vec::new() });
    }
}

/// The generated files of a bundle: `(path, canonical JSON)` of the provenance and the SBOM, computed
/// from the entries of the files already written (`manifest.files`).
pub fn generated_files(
    manifest: &Manifest,
    source: Option<&SourceRepo>,
    source_signatures: &[SourceSignature],
) -> Result<Vec<(String, Vec<u8>)>, serde_json::Error> {
    let tree = tree_digest(&manifest.files);
    Ok(vec![
        (
            PROVENANCE_PATH.to_owned(),
            ferry_spec::to_canonical_json(&provenance_statement(&tree, manifest, source, source_signatures))?,
        ),
        (SBOM_PATH.to_owned(), ferry_spec::to_canonical_json(&sbom(&tree, manifest))?),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn source_repo_needs_a_full_commit() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let gh = [("GITHUB_REPOSITORY", "o/r"), ("GITHUB_SHA", sha)];
        let got = source_repo_from(env(Box::leak(Box::new(gh)))).unwrap();
        assert_eq!(got, SourceRepo { url: "https://github.com/o/r".into(), commit: sha.into() });
        let bad = [("GITHUB_REPOSITORY", "o/r"), ("GITHUB_SHA", "main")];
        assert_eq!(source_repo_from(env(Box::leak(Box::new(bad)))), None);
        let gl = [("CI_PROJECT_URL", "https://gitlab.com/g/p"), ("CI_COMMIT_SHA", sha)];
        assert_eq!(source_repo_from(env(Box::leak(Box::new(gl)))).unwrap().url, "https://gitlab.com/g/p");
        assert_eq!(source_repo_from(|_| None), None);
    }

    #[test]
    fn serial_number_is_a_stable_uuid_urn() {
        let a = serial_number("sha256:00");
        assert_eq!(a, serial_number("sha256:00"));
        assert_ne!(a, serial_number("sha256:01"));
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a["urn:uuid:".len() + 14..][..1], "5");
    }
}
