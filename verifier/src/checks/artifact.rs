//! The `artifact.*` checks: `artifact.format`, `artifact.layout`, `artifact.digest`, `artifact.pins`,
//! `artifact.signature` and `artifact.trust`. They belong together because they judge the bundle as an
//! artifact (its format, archive, bytes, pins and signatures) rather than what its model computes; they
//! run first, and `artifact.digest` records the tampered files that the later checks refuse to read.

use super::{Context, plural, schema_ev, sha256_digest};
use crate::{Evidence, Outcome};
use ferry_onnx::ModelInfo;
use ferry_spec::config::ConfigSchema;
use ferry_spec::policy::{CheckId, Level};
use ferry_spec::{Compression, FORMAT_VERSION, Manifest, SourceError};
use std::collections::BTreeSet;

impl Context<'_> {
    pub(super) fn artifact_format(&mut self) -> Outcome {
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
        if let Err(SourceError::Invalid { key, message }) = m.source_view().validate() {
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

    pub(super) fn artifact_layout(&mut self) -> Outcome {
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

    pub(super) fn artifact_digest(&mut self) -> Outcome {
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
            let verb = if n == 1 { "matches its digest" } else { "match their digests" };
            Outcome::passed(format!("{n} file{} {verb}", plural(n)))
        } else {
            let names: Vec<String> = tampered.iter().map(|f| format!("`{f}`")).collect();
            Outcome::failed(
                format!(
                    "{} of {n} file{} {}: {}",
                    tampered.len(),
                    plural(n),
                    if tampered.len() == 1 {
                        "does not match its digest"
                    } else {
                        "do not match their digests"
                    },
                    names.join(", ")
                ),
                evidence,
            )
        };
        self.tampered = Some(tampered);
        outcome
    }

    pub(super) fn artifact_pins(&mut self) -> Outcome {
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

    pub(super) fn artifact_signature(&mut self) -> Outcome {
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

    pub(super) fn artifact_trust(&mut self) -> Outcome {
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
        for (key, file) in g.files() {
            named.push((format!("/golden/{i}/{key}"), file));
        }
    }
    if let Some(r) = &m.reference {
        named.push(("/reference/profile".into(), &r.profile));
        if let Some(s) = &r.sample {
            named.push(("/reference/sample".into(), s));
        }
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
