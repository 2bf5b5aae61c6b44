//! The verification context and the artifact and contract checks. Golden and perf checks live in
//! `golden.rs`, `contract.data` in `data.rs`, `rebuild.identical` in `rebuild.rs`.

use crate::data::DataFile;
use crate::{Case, Evidence, Outcome, Status, VerifyOptions};
use ferry_bundle::{Bundle, BundleError};
use ferry_contract::{Contract, ContractError};
use ferry_onnx::{ModelInfo, OnnxDim, ValueInfo, ValueKind};
use ferry_runtime::{Model, Runtime};
use ferry_spec::config::ConfigSchema;
use ferry_spec::policy::{CheckId, Level};
use ferry_spec::{
    Compression, FORMAT_VERSION, GoldenSet, Manifest, ModelSection, Source, SourceError, TensorSpec,
};
use ferry_tensor::{Format, TensorMap};
use std::collections::BTreeSet;
use std::path::Path;

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    ferry_bundle::digest::Sha256Digest::of(bytes).to_string()
}

/// State shared by the checks of one verification, filled in as they run (in [`CheckId::ALL`] order).
pub(crate) struct Context<'a> {
    pub(crate) path: &'a Path,
    pub(crate) options: &'a VerifyOptions,
    bundle: Result<Bundle, BundleError>,
    /// The check that reports why the bundle could not be opened.
    open_owner: Option<CheckId>,
    /// Files of the file view whose bytes do not match the manifest (set by `artifact.digest`).
    tampered: Option<BTreeSet<String>>,
    model_info: Option<Result<ModelInfo, String>>,
    runtime: Option<Result<Runtime, String>>,
    pub(crate) model: Option<Result<Model, String>>,
    pub(crate) data: Option<DataFile>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        path: &'a Path,
        options: &'a VerifyOptions,
        bundle: Result<Bundle, BundleError>,
        data: Option<DataFile>,
    ) -> Context<'a> {
        let open_owner = bundle.as_ref().err().map(owner_of);
        Context {
            path,
            options,
            bundle,
            open_owner,
            tampered: None,
            model_info: None,
            runtime: None,
            model: None,
            data,
        }
    }

    /// The opened bundle, if it could be opened.
    pub(crate) fn bundle(&self) -> Option<&Bundle> {
        self.bundle.as_ref().ok()
    }

    /// The policy's level, except that the check owning an open failure is always required: a policy may
    /// waive a check, not make an unreadable bundle pass.
    pub(crate) fn level(&self, id: CheckId) -> Level {
        if self.open_owner == Some(id) { Level::Required } else { self.options.policy.level(id) }
    }

    pub(crate) fn run(&mut self, id: CheckId) -> Outcome {
        match id {
            CheckId::ArtifactFormat => self.artifact_format(),
            CheckId::ArtifactLayout => self.artifact_layout(),
            CheckId::ArtifactDigest => self.artifact_digest(),
            CheckId::ArtifactPins => self.artifact_pins(),
            CheckId::ArtifactSignature => self.artifact_signature(),
            CheckId::ArtifactTrust => self.artifact_trust(),
            CheckId::ContractModelIo => self.contract_model_io(),
            CheckId::ContractConfigSchema => self.contract_config_schema(),
            CheckId::ContractGoldenInputs => self.contract_golden_inputs(),
            CheckId::ContractData => self.contract_data(),
            CheckId::GoldenOutputs => self.golden_outputs(),
            CheckId::PerfLatency => self.perf_latency(),
            CheckId::RebuildIdentical => {
                crate::rebuild::check(self.path, self.bundle(), self.options.rebuild.as_deref())
            }
        }
    }

    /// The bundle, or the outcome of a check that needs it when it could not be opened.
    pub(crate) fn need_bundle(&self, id: CheckId) -> Result<&Bundle, Outcome> {
        match &self.bundle {
            Ok(b) => Ok(b),
            Err(e) if self.open_owner == Some(id) => {
                Err(Outcome::failed(format!("the bundle could not be opened: {e}"), open_evidence(e)))
            }
            Err(_) => Err(Outcome::skipped(format!(
                "skipped: the bundle could not be opened (see {})",
                self.open_owner.map_or("artifact.layout", CheckId::as_str)
            ))),
        }
    }

    /// The bundle for a check that reads its content: refused while `artifact.digest` found tampered files.
    pub(crate) fn need_content(&self, id: CheckId) -> Result<&Bundle, Outcome> {
        let b = self.need_bundle(id)?;
        match &self.tampered {
            Some(t) if !t.is_empty() => Err(Outcome::skipped(format!(
                "skipped: artifact.digest failed ({}), so the bundle's content cannot be trusted",
                t.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
            ))),
            _ => Ok(b),
        }
    }

    fn artifact_format(&mut self) -> Outcome {
        let b = match self.need_bundle(CheckId::ArtifactFormat) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let m = b.manifest();
        let mut evidence = Vec::new();
        if !ferry_spec::is_supported_format(u64::from(m.format_version)) {
            evidence.push(Evidence::FormatVersion {
                found: u64::from(m.format_version),
                supported: FORMAT_VERSION,
            });
        }
        match b.blob(&b.image_manifest().config.digest) {
            Ok(raw) => match serde_json::from_slice::<serde_json::Value>(raw) {
                Ok(value) => evidence.extend(manifest_schema_violations(&value)),
                Err(e) => evidence.push(schema_ev("manifest", "", "json", e.to_string())),
            },
            Err(e) => evidence.push(Evidence::Error { message: e.to_string() }),
        }
        if let Err(SourceError::Invalid { key, message }) = source_view(m).validate() {
            evidence.push(schema_ev("manifest", &key_to_pointer(&key), "format", message));
        }
        evidence.extend(missing_references(m));
        if evidence.is_empty() {
            let old = if m.format_version < FORMAT_VERSION {
                format!(
                    " (an older format, still read; its signatures do not bind the manifest and never \
                     count: repack and sign again for format {FORMAT_VERSION})"
                )
            } else {
                String::new()
            };
            Outcome::passed(format!(
                "format version {}; the manifest validates against its schema{old}",
                m.format_version
            ))
        } else {
            Outcome::failed(
                format!(
                    "the manifest breaks the format in {} place{}",
                    evidence.len(),
                    plural(evidence.len())
                ),
                evidence,
            )
        }
    }

    fn artifact_layout(&mut self) -> Outcome {
        let b = match self.need_bundle(CheckId::ArtifactLayout) {
            Ok(b) => b,
            Err(o) => return o,
        };
        Outcome::passed(format!(
            "OCI image layout with {} file{} and {} referrer{}; no member missing or unexpected",
            b.manifest().files.len(),
            plural(b.manifest().files.len()),
            b.referrers().len(),
            plural(b.referrers().len())
        ))
    }

    fn artifact_digest(&mut self) -> Outcome {
        let b = match self.need_bundle(CheckId::ArtifactDigest) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let mut evidence = Vec::new();
        let mut tampered = BTreeSet::new();
        // Every blob hashed once, in parallel; every file judged, so the evidence names all bad files.
        let hashed = b.file_blob_digests();
        for f in &b.manifest().files {
            let stored_digest = match hashed.get(f.blob.as_str()) {
                Some(Ok(d)) => d.clone(),
                Some(Err(e)) => {
                    tampered.insert(f.path.clone());
                    evidence.push(Evidence::Member { member: f.blob.clone(), message: e.to_string() });
                    continue;
                }
                None => {
                    tampered.insert(f.path.clone());
                    evidence.push(Evidence::Member { member: f.blob.clone(), message: "not hashed".into() });
                    continue;
                }
            };
            if stored_digest != f.blob {
                tampered.insert(f.path.clone());
                evidence.push(Evidence::Digest {
                    file: Some(f.path.clone()),
                    blob: f.blob.clone(),
                    expected: f.blob.clone(),
                    actual: stored_digest,
                });
                continue;
            }
            if f.compression == Compression::Zstd {
                let expected = format!("{}{}", ferry_bundle::digest::SHA256_PREFIX, f.sha256);
                match b.file(&f.path) {
                    Ok(plain) => {
                        let actual = sha256_digest(&plain);
                        if actual != expected {
                            tampered.insert(f.path.clone());
                            evidence.push(Evidence::Digest {
                                file: Some(f.path.clone()),
                                blob: f.blob.clone(),
                                expected,
                                actual,
                            });
                        }
                    }
                    Err(e) => {
                        tampered.insert(f.path.clone());
                        evidence.push(Evidence::Member { member: f.blob.clone(), message: e.to_string() });
                    }
                }
            }
        }
        let n = b.manifest().files.len();
        let outcome = if evidence.is_empty() {
            Outcome::passed(format!("{n} file{} match their digests", plural(n)))
        } else {
            let names: Vec<String> = tampered.iter().map(|f| format!("`{f}`")).collect();
            Outcome::failed(
                format!("{} of {n} files do not match their digests: {}", tampered.len(), names.join(", ")),
                evidence,
            )
        };
        self.tampered = Some(tampered);
        outcome
    }

    fn artifact_pins(&mut self) -> Outcome {
        if let Err(o) = self.need_bundle(CheckId::ArtifactPins) {
            return o;
        }
        let has_golden = self.bundle().is_some_and(|b| !b.manifest().golden.is_empty());
        let wants_runtime = has_golden
            && [CheckId::GoldenOutputs, CheckId::PerfLatency].iter().any(|c| self.level(*c) != Level::Skip);
        // The library actually loaded says more than the version this Ferry pins; load it if it will be
        // needed anyway, and only then (loading it costs a few hundred milliseconds).
        let loaded = if wants_runtime { self.runtime().ok() } else { None };
        let (ort_version, ort_what) = match loaded {
            Some(rt) => match &rt.library().version {
                Some(v) => (Some(v.clone()), format!("ONNX Runtime {v}")),
                None => {
                    (None, format!("an ONNX Runtime of unknown version (`{}`)", rt.library().path.display()))
                }
            },
            _ => {
                let v = semver::Version::parse(ferry_runtime::ORT_VERSION).ok();
                (v, format!("ONNX Runtime {} (the version this Ferry pins)", ferry_runtime::ORT_VERSION))
            }
        };
        let entry_ok = !self.is_tampered(&self.entrypoint());
        let model = if entry_ok { self.model_info().ok().cloned() } else { None };
        let Ok(b) = self.need_bundle(CheckId::ArtifactPins) else {
            return Outcome::skipped("skipped: the bundle could not be opened");
        };
        let m = b.manifest();
        let mut evidence = Vec::new();
        let pin =
            |pin: &str, required: String, found: String| Evidence::Pin { pin: pin.into(), required, found };
        match semver::VersionReq::parse(&m.pins.onnxruntime) {
            Err(e) => evidence.push(pin(
                "onnxruntime",
                m.pins.onnxruntime.clone(),
                format!("not a version requirement: {e}"),
            )),
            Ok(req) => match &ort_version {
                Some(v) if req.matches(v) => {}
                _ => evidence.push(pin("onnxruntime", m.pins.onnxruntime.clone(), ort_what.clone())),
            },
        }
        if let Err(e) = semver::Version::parse(&m.pins.ferry_version) {
            evidence.push(pin(
                "ferry_version",
                m.pins.ferry_version.clone(),
                format!("not a semantic version: {e}"),
            ));
        }
        for path in &m.pins.onnx.external_data {
            if m.file(path).is_none() {
                evidence.push(pin("onnx.external_data", path.clone(), "not a file of the bundle".into()));
            }
        }
        let mut note = String::new();
        match &model {
            Some(info) => evidence.extend(onnx_pin_differences(m, info)),
            None => note = " (the ONNX pins were not compared: the model could not be read)".into(),
        }
        if evidence.is_empty() {
            Outcome::passed(format!("pins fit {ort_what} and describe the bundled model{note}"))
        } else {
            Outcome::failed(
                format!(
                    "{} pin{} {} not fit{note}",
                    evidence.len(),
                    plural(evidence.len()),
                    if evidence.len() == 1 { "does" } else { "do" }
                ),
                evidence,
            )
        }
    }

    fn artifact_signature(&mut self) -> Outcome {
        let b = match self.need_bundle(CheckId::ArtifactSignature) {
            Ok(b) => b,
            Err(o) => return o,
        };
        match &self.options.signatures {
            Some(check) => check.check(b, &self.options.policy.trust, &self.options.keys),
            None => {
                let n = b.referrers().len();
                Outcome::skipped(format!(
                    "skipped: no signature checking configured ({n} referrer{} in the bundle)",
                    plural(n)
                ))
            }
        }
    }

    fn artifact_trust(&mut self) -> Outcome {
        let b = match self.need_bundle(CheckId::ArtifactTrust) {
            Ok(b) => b,
            Err(o) => return o,
        };
        if !self.options.policy.trust.is_configured() {
            return Outcome::skipped("skipped: the policy has no [trust] table");
        }
        match &self.options.signatures {
            Some(check) => check.trust(b, &self.options.policy.trust),
            None => Outcome::failed(
                "the policy has a [trust] table but no signature checking is configured",
                Vec::new(),
            ),
        }
    }

    fn contract_model_io(&mut self) -> Outcome {
        if let Err(o) = self.need_content(CheckId::ContractModelIo) {
            return o;
        }
        let entry = self.entrypoint();
        let info = match self.model_info() {
            Ok(i) => i.clone(),
            Err(e) => {
                return Outcome::failed(
                    format!("`{entry}` is not a readable ONNX model"),
                    vec![Evidence::Error { message: e.clone() }],
                );
            }
        };
        let Some(b) = self.bundle() else {
            return Outcome::skipped("skipped: the bundle could not be opened");
        };
        let m = b.manifest();
        let mut evidence = Vec::new();
        compare_io("input", &m.inputs, &info.inputs, &mut evidence);
        compare_io("output", &m.outputs, &info.outputs, &mut evidence);
        if evidence.is_empty() {
            Outcome::passed(format!(
                "{} input{} and {} output{} match `{entry}`",
                m.inputs.len(),
                plural(m.inputs.len()),
                m.outputs.len(),
                plural(m.outputs.len())
            ))
        } else {
            Outcome::failed(
                format!(
                    "the contract differs from `{entry}` in {} place{}",
                    evidence.len(),
                    plural(evidence.len())
                ),
                evidence,
            )
        }
    }

    fn contract_config_schema(&mut self) -> Outcome {
        let b = match self.need_content(CheckId::ContractConfigSchema) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let Some(c) = &b.manifest().config else {
            return Outcome::skipped("skipped: the bundle declares no configuration");
        };
        let read = |path: &str| -> Result<serde_json::Value, Vec<Evidence>> {
            let bytes = b.file(path).map_err(|e| vec![Evidence::Error { message: e.to_string() }])?;
            serde_json::from_slice(&bytes)
                .map_err(|e| vec![schema_ev(path, "", "json", format!("not valid JSON: {e}"))])
        };
        let schema = match read(&c.schema) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::failed(format!("the configuration schema `{}` cannot be read", c.schema), e);
            }
        };
        let compiled = match ConfigSchema::compile(&schema) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::failed(
                    format!("`{}` is not a valid JSON Schema", c.schema),
                    vec![schema_ev(&c.schema, "", "schema", e)],
                );
            }
        };
        let (defaults, document) = match &c.defaults {
            Some(d) => {
                let defaults = match read(d) {
                    Ok(v) => v,
                    Err(e) => {
                        return Outcome::failed(format!("the default configuration `{d}` cannot be read"), e);
                    }
                };
                (Some(defaults), d.clone())
            }
            None => (None, format!("{} (schema defaults)", c.schema)),
        };
        // The one effective-defaults rule of `pack` and the runtime: the schema's own defaults, then the
        // defaults file merged over them.
        let Some(effective) = compiled.effective_defaults(defaults.as_ref()) else {
            return Outcome::failed(
                format!("the default configuration `{document}` is not a JSON object"),
                vec![schema_ev(
                    &document,
                    "",
                    "type",
                    "the default configuration must be a JSON object".into(),
                )],
            );
        };
        match compiled.validate(&effective) {
            Ok(()) => Outcome::passed(format!(
                "the default configuration `{document}` validates against `{}`",
                c.schema
            )),
            Err(violations) => {
                let evidence: Vec<Evidence> = violations
                    .into_iter()
                    .map(|v| schema_ev(&document, &v.pointer, &v.rule, v.message))
                    .collect();
                Outcome::failed(
                    format!(
                        "the default configuration `{document}` breaks `{}` in {} place{}",
                        c.schema,
                        evidence.len(),
                        plural(evidence.len())
                    ),
                    evidence,
                )
            }
        }
    }

    fn contract_golden_inputs(&mut self) -> Outcome {
        let b = match self.need_content(CheckId::ContractGoldenInputs) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let m = b.manifest();
        if m.golden.is_empty() {
            return Outcome::skipped("skipped: the bundle has no golden sets");
        }
        let contract = Contract::new(&m.inputs, &m.outputs);
        let cases: Vec<Case> = m.golden.iter().map(|g| golden_set_conformance(b, m, &contract, g)).collect();
        summarize_cases(cases, "golden set", "conform to the contract")
    }

    fn contract_data(&mut self) -> Outcome {
        let b = match self.need_bundle(CheckId::ContractData) {
            Ok(b) => b,
            Err(o) => return o,
        };
        match &self.data {
            None => Outcome::skipped("skipped: no --data file given"),
            Some(d) => d.check(b.manifest(), &self.options.policy.data),
        }
    }

    pub(crate) fn entrypoint(&self) -> String {
        self.bundle().map(|b| b.manifest().entrypoint.clone()).unwrap_or_default()
    }

    fn is_tampered(&self, file: &str) -> bool {
        self.tampered.as_ref().is_some_and(|t| t.contains(file))
    }

    fn model_info(&mut self) -> Result<&ModelInfo, &String> {
        if self.model_info.is_none() {
            let info = match self.bundle() {
                Some(b) => {
                    let entry = &b.manifest().entrypoint;
                    b.file(entry).map_err(|e| e.to_string()).and_then(|bytes| {
                        ferry_onnx::read_model(&bytes).map_err(|e| format!("`{entry}`: {e}"))
                    })
                }
                None => Err("the bundle could not be opened".to_owned()),
            };
            self.model_info = Some(info);
        }
        match &self.model_info {
            Some(Ok(i)) => Ok(i),
            Some(Err(e)) => Err(e),
            None => Err(&NOT_READ),
        }
    }

    /// ONNX Runtime, loaded on first use.
    pub(crate) fn runtime(&mut self) -> Result<&Runtime, String> {
        if self.runtime.is_none() {
            let rt = Runtime::new(self.options.runtime.clone())
                .map_err(|e| format!("ONNX Runtime could not be loaded: {e}"));
            self.runtime = Some(rt);
        }
        match &self.runtime {
            Some(Ok(rt)) => Ok(rt),
            Some(Err(e)) => Err(e.clone()),
            None => Err("ONNX Runtime could not be loaded".into()),
        }
    }
}

static NOT_READ: String = String::new();

fn owner_of(e: &BundleError) -> CheckId {
    match e {
        BundleError::FormatVersion { .. } => CheckId::ArtifactFormat,
        BundleError::Json { what, .. } if what == "the Ferry manifest" => CheckId::ArtifactFormat,
        BundleError::FileView(_) => CheckId::ArtifactFormat,
        // A compressed blob that is not exactly one frame of its declared size fails the check of
        // compressed files against their uncompressed digest, whether found on open or when hashing.
        BundleError::Digest { .. } | BundleError::Decompress { .. } | BundleError::TooLarge { .. } => {
            CheckId::ArtifactDigest
        }
        _ => CheckId::ArtifactLayout,
    }
}

fn open_evidence(e: &BundleError) -> Vec<Evidence> {
    vec![match e {
        BundleError::FormatVersion { found, supported } => {
            Evidence::FormatVersion { found: u64::from(*found), supported: *supported }
        }
        BundleError::Json { member, what, message } if what == "the Ferry manifest" => {
            schema_ev("manifest", "", "schema", format!("{member}: {message}"))
        }
        BundleError::FileView(e) => schema_ev("manifest", "/files", "path", e.to_string()),
        BundleError::Json { member, what, message } => Evidence::Member {
            member: member.clone(),
            message: format!("not valid JSON for {what}: {message}"),
        },
        // Which metadata blob failed is in the check's message; the blob is named by its digest.
        BundleError::Digest { expected, actual, .. } => Evidence::Digest {
            file: None,
            blob: expected.clone(),
            expected: expected.clone(),
            actual: actual.clone(),
        },
        BundleError::Missing(m) => Evidence::Member { member: m.clone(), message: "missing".into() },
        BundleError::Unexpected(m) => {
            Evidence::Member { member: m.clone(), message: "unexpected: no manifest refers to it".into() }
        }
        BundleError::Tar { offset, message } => {
            Evidence::Member { member: format!("tar header at byte {offset}"), message: message.clone() }
        }
        BundleError::TrailingData { offset, marker } => Evidence::Member {
            member: format!("byte {offset}"),
            message: format!("non-zero data after the end-of-archive marker at byte {marker}"),
        },
        BundleError::Truncated { offset, what } => Evidence::Member {
            member: format!("byte {offset}"),
            message: format!("truncated: expected {what}"),
        },
        other => Evidence::Error { message: other.to_string() },
    }]
}

pub(crate) fn schema_ev(document: &str, pointer: &str, rule: &str, message: String) -> Evidence {
    Evidence::Schema { document: document.into(), pointer: pointer.into(), rule: rule.into(), message }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The manifest against the JSON Schema generated from [`Manifest`] (as published in
/// `spec/schema/manifest.schema.json`).
fn manifest_schema_violations(value: &serde_json::Value) -> Vec<Evidence> {
    let schema = match serde_json::to_value(schemars::schema_for!(Manifest)) {
        Ok(s) => s,
        Err(e) => {
            return vec![Evidence::Error { message: format!("the manifest schema could not be built: {e}") }];
        }
    };
    let compiled = match ConfigSchema::compile(&schema) {
        Ok(c) => c,
        Err(e) => {
            return vec![Evidence::Error { message: format!("the manifest schema does not compile: {e}") }];
        }
    };
    match compiled.validate(value) {
        Ok(()) => Vec::new(),
        Err(v) => v.into_iter().map(|v| schema_ev("manifest", &v.pointer, &v.rule, v.message)).collect(),
    }
}

/// The manifest seen as the source it was packed from, so the source's rules (unique names, features that
/// fit their shapes, valid tolerances, safe paths) can be checked on it.
fn source_view(m: &Manifest) -> Source {
    Source {
        model: ModelSection {
            name: m.model.name.clone(),
            version: m.model.version.clone(),
            description: m.model.description.clone(),
            license: m.model.license.clone(),
            onnx: m.entrypoint.clone(),
            extra_files: Vec::new(),
        },
        config: m.config.clone(),
        inputs: m.inputs.clone(),
        outputs: m.outputs.clone(),
        golden: m.golden.clone(),
    }
}

/// `inputs[0].features[2].min` → `/inputs/0/features/2/min`, for keys of [`SourceError`].
fn key_to_pointer(key: &str) -> String {
    if key == "model.onnx" {
        return "/entrypoint".into();
    }
    let mut out = String::from("/");
    for ch in key.chars() {
        match ch {
            '.' | '[' => {
                if !out.ends_with('/') {
                    out.push('/');
                }
            }
            ']' => {}
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Files the manifest names that are not in its file view.
fn missing_references(m: &Manifest) -> Vec<Evidence> {
    let mut named: Vec<(String, &str)> = Vec::new();
    if let Some(c) = &m.config {
        named.push(("/config/schema".into(), &c.schema));
        if let Some(d) = &c.defaults {
            named.push(("/config/defaults".into(), d));
        }
    }
    for (i, g) in m.golden.iter().enumerate() {
        named.push((format!("/golden/{i}/inputs"), &g.inputs));
        named.push((format!("/golden/{i}/expected"), &g.expected));
    }
    named
        .into_iter()
        .filter(|(_, f)| m.file(f).is_none())
        .map(|(pointer, f)| {
            schema_ev("manifest", &pointer, "file", format!("`{f}` is not a file of the bundle"))
        })
        .collect()
}

fn onnx_pin_differences(m: &Manifest, info: &ModelInfo) -> Vec<Evidence> {
    let p = &m.pins.onnx;
    let mut out = Vec::new();
    let mut diff = |pin: String, required: String, found: String| {
        if required != found {
            out.push(Evidence::Pin { pin, required, found });
        }
    };
    diff("onnx.ir_version".into(), p.ir_version.to_string(), info.ir_version.to_string());
    let domains: BTreeSet<&String> = p.opsets.keys().chain(info.opsets.keys()).collect();
    for d in domains {
        let show = |v: Option<&i64>| v.map_or_else(|| "-".to_owned(), ToString::to_string);
        let name = if d.is_empty() { "ai.onnx" } else { d.as_str() };
        diff(format!("onnx.opsets.{name}"), show(p.opsets.get(d)), show(info.opsets.get(d)));
    }
    diff("onnx.producer_name".into(), p.producer_name.clone(), info.producer_name.clone());
    diff("onnx.producer_version".into(), p.producer_version.clone(), info.producer_version.clone());
    let mut actual: Vec<String> =
        info.external_data.iter().map(|loc| ferry_spec::external_data_path(&m.entrypoint, loc)).collect();
    actual.sort();
    let mut pinned = p.external_data.clone();
    pinned.sort();
    diff("onnx.external_data".into(), format!("{pinned:?}"), format!("{actual:?}"));
    out
}

fn fmt_onnx_dim(d: &OnnxDim) -> String {
    match d {
        OnnxDim::Value(v) => v.to_string(),
        OnnxDim::Param(p) => p.clone(),
        OnnxDim::Unknown => "?".into(),
    }
}

fn fmt_onnx_shape(shape: &[OnnxDim]) -> String {
    format!("[{}]", shape.iter().map(fmt_onnx_dim).collect::<Vec<_>>().join(", "))
}

/// Every difference between the declared tensors of one side and the model's, with the packager's rules:
/// same names, kinds, dtypes and ranks; a declared fixed dim may narrow a symbolic or unknown one of the
/// model, but may not contradict a fixed one.
fn compare_io(side: &str, declared: &[TensorSpec], actual: &[ValueInfo], out: &mut Vec<Evidence>) {
    let ev = |tensor: &str, field: &str, declared: String, model: String| Evidence::Contract {
        side: side.into(),
        tensor: tensor.into(),
        field: field.into(),
        declared,
        model,
    };
    for d in declared {
        let Some(a) = actual.iter().find(|a| a.name == d.name) else {
            out.push(ev(&d.name, "name", d.name.clone(), "-".into()));
            continue;
        };
        if a.kind != ValueKind::Tensor {
            out.push(ev(&d.name, "kind", "tensor".into(), a.kind.name().into()));
            continue;
        }
        match a.elem_type {
            Some(t) if t == d.dtype => {}
            Some(t) => out.push(ev(&d.name, "dtype", d.dtype.to_string(), t.to_string())),
            None => out.push(ev(
                &d.name,
                "dtype",
                d.dtype.to_string(),
                format!("ONNX element type {}", a.raw_elem_type),
            )),
        }
        let Some(shape) = &a.shape else { continue };
        if shape.len() != d.shape.len() {
            out.push(ev(
                &d.name,
                "rank",
                format!("{} {}", d.shape.len(), d.shape_string()),
                format!("{} {}", shape.len(), fmt_onnx_shape(shape)),
            ));
            continue;
        }
        for (j, (dd, md)) in d.shape.iter().zip(shape).enumerate() {
            let fixed = match md {
                OnnxDim::Value(m) => Some(*m),
                OnnxDim::Param(_) | OnnxDim::Unknown => None,
            };
            let ok = ferry_contract::dim_fits_model(dd, fixed);
            if !ok {
                out.push(ev(&d.name, &format!("shape[{j}]"), dd.to_string(), fmt_onnx_dim(md)));
            }
        }
    }
    for a in actual {
        if !declared.iter().any(|d| d.name == a.name) {
            out.push(ev(&a.name, "name", "-".into(), a.name.clone()));
        }
    }
}

/// Reads a golden tensor file of the bundle, by the contract's one tensor-file rule
/// ([`ferry_contract::files`]: a lone `.npy` stands for the single declared tensor), as the packager reads it.
pub(crate) fn read_tensors(b: &Bundle, path: &str, specs: &[TensorSpec]) -> Result<TensorMap, String> {
    let bytes = b.file(path).map_err(|e| e.to_string())?;
    let format = Format::from_path(Path::new(path))
        .ok_or_else(|| format!("`{path}`: not a tensor file (expected .npy, .npz, .safetensors or .json)"))?;
    ferry_contract::files::read_tensor_bytes(&bytes, format, Path::new(path), specs)
        .map_err(|e| e.to_string())
}

fn golden_ev(g: &GoldenSet, file: &str, tensor: Option<&str>, message: String) -> Evidence {
    Evidence::GoldenTensor {
        set: g.name.clone(),
        file: file.into(),
        tensor: tensor.map(str::to_owned),
        feature: None,
        index: None,
        value: None,
        message,
    }
}

fn contract_ev(g: &GoldenSet, file: &str, e: &ContractError) -> Evidence {
    Evidence::GoldenTensor {
        set: g.name.clone(),
        file: file.into(),
        tensor: Some(e.input.clone()),
        feature: e.feature.clone(),
        index: e.index.as_ref().map(|i| i.iter().map(|&x| x as u64).collect()),
        value: e.value.clone(),
        message: e.to_string(),
    }
}

fn golden_set_conformance(b: &Bundle, m: &Manifest, contract: &Contract, g: &GoldenSet) -> Case {
    let mut evidence = Vec::new();
    match read_tensors(b, &g.inputs, &m.inputs) {
        Err(e) => evidence.push(golden_ev(g, &g.inputs, None, e)),
        Ok(inputs) => {
            for e in contract.check_all(&inputs) {
                evidence.push(contract_ev(g, &g.inputs, &e));
            }
            match read_tensors(b, &g.expected, &m.outputs) {
                Err(e) => evidence.push(golden_ev(g, &g.expected, None, e)),
                Ok(expected) => {
                    // Every declared output with its dtype, rank, fixed dims and the sizes the inputs give
                    // its symbolic dims; nothing undeclared.
                    for e in contract.check_outputs(&expected, &inputs) {
                        evidence.push(golden_ev(g, &g.expected, Some(&e.output), e.kind.to_string()));
                    }
                }
            }
        }
    }
    let status = if evidence.is_empty() { Status::Passed } else { Status::Failed };
    let message = match evidence.first() {
        None => format!("`{}` and `{}` conform to the contract", g.inputs, g.expected),
        Some(e) => e.describe(),
    };
    Case { name: g.name.clone(), status, message, evidence }
}

/// A check's outcome from its cases: failed if any case failed.
pub(crate) fn summarize_cases(cases: Vec<Case>, what: &str, verb: &str) -> Outcome {
    let failed: Vec<&str> =
        cases.iter().filter(|c| c.status == Status::Failed).map(|c| c.name.as_str()).collect();
    let n = cases.len();
    let outcome = if failed.is_empty() {
        Outcome::passed(format!("{n} {what}{} {verb}", plural(n)))
    } else {
        let names: Vec<String> = failed.iter().map(|f| format!("`{f}`")).collect();
        Outcome::failed(format!("{} of {n} {what}s failed: {}", failed.len(), names.join(", ")), Vec::new())
    };
    outcome.with_cases(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_pointers() {
        assert_eq!(key_to_pointer("inputs[0].features[2].min"), "/inputs/0/features/2/min");
        assert_eq!(key_to_pointer("model.name"), "/model/name");
        assert_eq!(key_to_pointer("model.onnx"), "/entrypoint");
    }
}
