//! The chain of custody of a bundle, for an auditor: what it was built from (its SLSA provenance),
//! what it contains (its CycloneDX SBOM, and the pins of its feature transforms' components and build),
//! who signed it, and what CI attested about it.
//!
//! An audit reports; it does not judge. Any bundle that opens gives an [`Audit`], whatever its
//! signatures say: a signature that does not verify is listed with the reason. Judging is for
//! `ferry verify` and a runtime trust policy ([`crate::trust_check`]).
//!
//! Provenance and SBOM are read through the same types the packager writes them with
//! ([`ferry_packager::provenance`]), so the audit and the writer cannot drift apart. A document that does
//! not parse as those types is reported as unreadable, with the parse error, never a failure of the
//! audit.
//!
//! ```
//! # use std::path::Path;
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("credit-risk.ferry");
//! # ferry::packager::pack(Path::new("../fixtures/credit-risk"), &path)?;
//! let bundle = ferry::bundle::Bundle::open(&path)?;
//! let audit = ferry::audit::audit(&bundle, &ferry::trust::Anchors::default(), &[]);
//! assert!(audit.digests_ok);
//! assert!(audit.signatures.is_empty());
//! print!("{audit}"); // the human rendering; `serde_json::to_string(&audit)` for machines
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use ferry_bundle::Bundle;
use ferry_packager::provenance::{
    self, Bom, PROVENANCE_PATH, ResourceDescriptor, SBOM_PATH, SlsaProvenance, Statement, TREE_DIGEST_KIND,
    VERSION_RANGE_PROPERTY,
};
use ferry_spec::display::escape as esc;
use ferry_trust::{Anchors, Found, Kind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::{self, Write as _};

/// Everything an auditor asks of one bundle. Serialises to the JSON of `ferry audit --json`; its
/// [`Display`](fmt::Display) is the human rendering (bundle strings escaped, `ferry_spec::display`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    /// The model and the bundle's manifest digest.
    pub model: ModelSummary,
    /// Whether every file blob matches the digest the manifest records.
    pub digests_ok: bool,
    /// The first mismatch, when there is one.
    pub digest_error: Option<String>,
    /// The provenance statement (`.ferry/provenance.json`); empty when the bundle has none.
    pub provenance: Vec<Document<ProvenanceSummary>>,
    /// The SBOM (`.ferry/sbom.cdx.json`); empty when the bundle has none.
    pub sbom: Vec<Document<SbomSummary>>,
    /// Every signature over the bundle.
    pub signatures: Vec<ReferrerSummary>,
    /// Every attestation about the bundle.
    pub attestations: Vec<ReferrerSummary>,
    /// Every source signature (a producer's signature over the source files, never counted by a policy).
    pub source_signatures: Vec<ReferrerSummary>,
    /// The feature transforms: each component's pin and how they were built (`transform` in the
    /// manifest). Absent when the bundle has none. Rendered after the SBOM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transforms: Option<TransformsSummary>,
}

/// What runs before and after the model: the components a bundle pins, and what built them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransformsSummary {
    /// Each component file once, as the manifest pins it.
    pub components: Vec<ComponentPinSummary>,
    /// The build pins (`cargo` with its `Cargo.lock`, or `componentize-py`); absent when not recorded.
    pub build: Option<ferry_spec::TransformBuild>,
}

/// One pinned component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentPinSummary {
    /// Its path in the file view.
    pub path: String,
    /// The stages it serves (`prepare`, `decide`).
    pub stages: Vec<String>,
    /// `sha256:…` as pinned.
    pub digest: String,
    /// Its size in bytes, as pinned.
    pub size: u64,
    /// The WIT package its exports implement.
    pub wit: String,
    /// What it imports (WASI 0.2 interfaces, `ferry:transform/types`).
    pub imports: Vec<String>,
    /// Whether the pin names the same bytes as the manifest's file entry for that path (whose digest
    /// `digests_ok` checks against the blob).
    pub matches_file: bool,
}

/// The model a bundle holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    /// `[model] name`.
    pub name: String,
    /// `[model] version`.
    pub version: String,
    /// The bundle's manifest digest (`sha256:…`): what a registry or a signature names it by.
    pub digest: String,
}

/// A generated document of the bundle, read or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document<T> {
    /// `path (sha256:…)`: where it is in the bundle and the digest the manifest records for it.
    pub digest: String,
    /// What it says, or why it could not be read.
    #[serde(flatten)]
    pub content: Readable<T>,
}

/// A document's content, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Readable<T> {
    /// It parsed.
    Read(T),
    /// It did not: not JSON, or JSON of the wrong shape.
    Unreadable {
        /// The reader's or parser's error.
        error: String,
    },
}

/// What the provenance statement says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvenanceSummary {
    /// The predicate type (SLSA provenance v1).
    pub predicate_type: String,
    /// Whether the statement names this bundle's source tree digest: that it describes these files.
    pub subject_matches: bool,
    /// The builder (`https://ferry.dev/packager@VERSION`).
    pub builder: Option<String>,
    /// The build type.
    pub build_type: Option<String>,
    /// The repository and commit, when the bundle was packed in a CI that names them.
    pub source: Option<SourceSummary>,
    /// Everything the bundle was built from.
    pub resolved_dependencies: Vec<DependencySummary>,
}

/// A source repository and commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSummary {
    /// The repository URI (`git+https://…`).
    pub uri: String,
    /// The commit.
    pub commit: String,
}

/// One thing a bundle was built from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DependencySummary {
    /// Its name, or its URI.
    pub name: Option<String>,
    /// Its digests, as `alg:value`.
    pub digests: Vec<String>,
    /// What Ferry annotated it as (`source tree digest`, `source signature`).
    pub kind: Option<String>,
}

/// What the SBOM says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SbomSummary {
    /// `CycloneDX 1.5`.
    pub format: String,
    /// Whether the SBOM names this bundle's source tree digest.
    pub subject_matches: bool,
    /// Its top-level components.
    pub components: Vec<ComponentSummary>,
}

/// One SBOM component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentSummary {
    /// The CycloneDX component type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its version, or for ONNX Runtime the version range the bundle accepts.
    pub version: Option<String>,
    /// How many files it lists (the model's files).
    pub files: usize,
}

/// One signature, attestation or source signature, and whether it verified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferrerSummary {
    /// The referrer's digest.
    pub digest: String,
    /// Whether it is a keyless (Sigstore) signature.
    pub keyless: bool,
    /// The key hint it carries (key-based signatures).
    pub key_hint: Option<String>,
    /// The keyless signer its Sigstore material names, when that material verified.
    pub signer: Option<SignerSummary>,
    /// Whether it verified.
    pub verified: bool,
    /// What it verified with: the label of the key, or the Sigstore certificate's signer.
    pub verified_with: Option<String>,
    /// Why it did not verify.
    pub why_not: Option<String>,
    /// How many files a signature covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
    /// An attestation's predicate type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// What an attested verifier report says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportSummary>,
}

/// A keyless signer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignerSummary {
    /// The certificate's subject (an e-mail address or a workflow URI).
    pub subject: String,
    /// The OIDC issuer.
    pub issuer: String,
    /// When the transparency log recorded it.
    pub logged_at: Option<String>,
}

/// What an attested verifier report says: read leniently, since an attestation may carry a report of
/// any verifier (a `ferry verify --format json` report, or a minimal one with `name`/`passed` checks).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportSummary {
    /// The verifier and its version.
    pub verifier_version: Option<String>,
    /// The checks that passed.
    pub passed: Vec<String>,
    /// The checks that failed.
    pub failed: Vec<String>,
    /// The others, with their status.
    pub other: Vec<String>,
    /// The report's overall verdict.
    pub overall_passed: Option<bool>,
}

/// Audits `bundle`: its digests, provenance, SBOM, and every signature and attestation checked against
/// `anchors`. `key_labels[i]` is how the report names `anchors.keys[i]` (a file name, say).
pub fn audit(bundle: &Bundle, anchors: &Anchors, key_labels: &[String]) -> Audit {
    let m = bundle.manifest();
    // Provenance and SBOM describe the source files (everything but themselves), by tree digest.
    let sources: Vec<ferry_spec::FileEntry> =
        m.files.iter().filter(|f| !f.path.starts_with(".ferry/")).cloned().collect();
    let tree = provenance::tree_digest(&sources);
    let subject = ferry_bundle::digest::strip_prefix(&tree).unwrap_or_default();
    let found = ferry_trust::inspect(bundle, anchors);
    let of_kind = |kind: Kind| -> Vec<ReferrerSummary> {
        found.iter().filter(|f| f.kind == kind).map(|f| referrer(f, key_labels)).collect()
    };
    let digest_error = bundle.verify_digests().err().map(|e| e.to_string());
    Audit {
        model: ModelSummary {
            name: m.model.name.clone(),
            version: m.model.version.clone(),
            digest: bundle.manifest_digest().to_owned(),
        },
        digests_ok: digest_error.is_none(),
        digest_error,
        provenance: document::<Statement<SlsaProvenance>, _>(bundle, PROVENANCE_PATH, |st| {
            summarize_provenance(st, subject)
        }),
        sbom: document::<Bom, _>(bundle, SBOM_PATH, |bom| summarize_sbom(bom, subject)),
        signatures: of_kind(Kind::Signature),
        attestations: of_kind(Kind::Attestation),
        source_signatures: of_kind(Kind::SourceSignature),
        transforms: m.transform.as_ref().map(|t| summarize_transforms(m, t)),
    }
}

fn summarize_transforms(m: &ferry_spec::Manifest, t: &ferry_spec::TransformManifest) -> TransformsSummary {
    let components = t
        .components
        .iter()
        .map(|c| {
            let stages = [("prepare", &t.section.prepare), ("decide", &t.section.decide)]
                .into_iter()
                .filter(|(_, p)| p.as_deref() == Some(c.path.as_str()))
                .map(|(s, _)| s.to_owned())
                .collect();
            ComponentPinSummary {
                path: c.path.clone(),
                stages,
                digest: format!("sha256:{}", c.sha256),
                size: c.size,
                wit: c.wit.clone(),
                imports: c.imports.clone(),
                matches_file: m.file(&c.path).is_some_and(|f| f.sha256 == c.sha256 && f.size == c.size),
            }
        })
        .collect();
    TransformsSummary { components, build: t.build.clone() }
}

/// A generated file of the bundle, parsed as `D` and summarised; empty when the bundle has none.
fn document<D: DeserializeOwned, T>(
    bundle: &Bundle,
    path: &str,
    summarize: impl Fn(D) -> T,
) -> Vec<Document<T>> {
    let Some(entry) = bundle.manifest().file(path) else { return Vec::new() };
    let content = bundle
        .file(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<D>(&bytes).map_err(|e| e.to_string()));
    let content = match content {
        Ok(d) => Readable::Read(summarize(d)),
        Err(error) => Readable::Unreadable { error },
    };
    vec![Document { digest: format!("{path} (sha256:{})", entry.sha256), content }]
}

fn summarize_provenance(st: Statement<SlsaProvenance>, subject: &str) -> ProvenanceSummary {
    let def = st.predicate.build_definition;
    let deps = def.resolved_dependencies;
    let subject_matches = deps.iter().any(|d| {
        d.kind() == Some(TREE_DIGEST_KIND) && d.digest.get("sha256").map(String::as_str) == Some(subject)
    });
    let source = deps.iter().find_map(|d| {
        let commit = d.digest.get("gitCommit")?;
        Some(SourceSummary { uri: d.uri.clone().unwrap_or_default(), commit: commit.clone() })
    });
    let non_empty = |s: String| Some(s).filter(|s| !s.is_empty());
    ProvenanceSummary {
        predicate_type: st.predicate_type,
        subject_matches,
        builder: non_empty(st.predicate.run_details.builder.id),
        build_type: non_empty(def.build_type),
        source,
        resolved_dependencies: deps.iter().map(dependency).collect(),
    }
}

fn dependency(d: &ResourceDescriptor) -> DependencySummary {
    DependencySummary {
        name: d.name.clone().or_else(|| d.uri.clone()),
        digests: d.digest.iter().map(|(alg, v)| format!("{alg}:{v}")).collect(),
        kind: d.kind().map(str::to_owned),
    }
}

fn summarize_sbom(bom: Bom, subject: &str) -> SbomSummary {
    let described =
        bom.metadata.component.as_ref().and_then(|c| c.hashes.first()).map(|h| h.content.as_str());
    let components = bom
        .components
        .iter()
        .map(|c| ComponentSummary {
            kind: c.kind.clone(),
            name: c.name.clone(),
            version: c.version.clone().or_else(|| c.property(VERSION_RANGE_PROPERTY).map(str::to_owned)),
            files: c.components.len(),
        })
        .collect();
    SbomSummary {
        format: format!("{} {}", bom.bom_format, bom.spec_version),
        subject_matches: described == Some(subject),
        components,
    }
}

fn referrer(f: &Found, key_labels: &[String]) -> ReferrerSummary {
    // A keyless signer whose Sigstore material verified is named, trusted or not: the audit reports, a
    // policy judges.
    let verified_with = match (&f.verified_by, &f.signer) {
        (Some(i), _) => key_labels.get(*i).cloned(),
        (None, Some(signer)) if f.error.is_none() => Some(format!("Sigstore certificate for {signer}")),
        _ => None,
    };
    let why_not = match (&verified_with, &f.error) {
        (Some(_), _) => None,
        (None, Some(e)) => Some(e.clone()),
        (None, None) => Some("no key given".to_owned()),
    };
    let statement = f.statement.as_ref();
    let is_attestation = f.kind == Kind::Attestation;
    ReferrerSummary {
        digest: f.digest.clone(),
        keyless: f.is_keyless(),
        key_hint: f.key_hint.clone(),
        signer: f.signer.as_ref().map(|c| SignerSummary {
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            logged_at: c.logged_at.clone(),
        }),
        verified: verified_with.is_some(),
        verified_with,
        why_not,
        files: statement
            .filter(|_| !is_attestation)
            .and_then(|s| s["predicate"]["resources"].as_array())
            .map(Vec::len),
        predicate_type: statement
            .filter(|_| is_attestation)
            .and_then(|s| s["predicateType"].as_str())
            .map(str::to_owned),
        report: statement.filter(|_| is_attestation).map(|s| report_summary(&s["predicate"])),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// What a verifier report says, for both `ferry verify --format json` reports (`tool.version`, checks
/// with `id` and `status`) and minimal hand-written ones (`verifier_version`, checks with `name` and
/// `status` or `passed`).
fn report_summary(report: &Value) -> ReportSummary {
    let verifier_version = str_at(report, &["tool", "version"])
        .or_else(|| str_at(report, &["verifier_version"]))
        .map(|v| match str_at(report, &["tool", "name"]) {
            Some(name) => format!("{name} {v}"),
            None => v.to_owned(),
        });
    let mut s =
        ReportSummary { verifier_version, overall_passed: report["passed"].as_bool(), ..Default::default() };
    for c in report["checks"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = c["id"].as_str().or_else(|| c["name"].as_str()).unwrap_or("?").to_owned();
        let status = c["status"].as_str().map(str::to_owned).or_else(|| {
            c["passed"].as_bool().map(|p| if p { "passed".to_owned() } else { "failed".to_owned() })
        });
        match status.as_deref() {
            Some("passed" | "pass" | "ok") => s.passed.push(name),
            Some("failed" | "fail" | "error") => s.failed.push(name),
            Some(st) => s.other.push(format!("{name} ({st})")),
            None => s.other.push(name),
        }
    }
    s
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

impl ReferrerSummary {
    fn status(&self) -> String {
        match &self.verified_with {
            Some(k) => format!("verified with {}", esc(k)),
            None => format!("NOT verified: {}", esc(self.why_not.as_deref().unwrap_or("?"))),
        }
    }

    fn who(&self) -> String {
        if self.keyless {
            return match &self.signer {
                Some(s) => format!("keyless {}", esc(&s.subject)),
                None => "keyless (signer unverified)".to_owned(),
            };
        }
        let hint: String =
            esc(self.key_hint.as_deref().unwrap_or("(no key hint)")).chars().take(16).collect();
        format!("key {hint}")
    }
}

impl fmt::Display for Audit {
    /// The human rendering of `ferry audit`. Every string read from the bundle is escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = String::new();
        let m = &self.model;
        let _ = writeln!(o, "model        {} {}", esc(&m.name), esc(&m.version));
        let _ = writeln!(o, "digest       {}", esc(&m.digest));
        match &self.digest_error {
            None => o.push_str("file digests ok\n"),
            Some(e) => {
                let _ = writeln!(o, "file digests MISMATCH: {}", esc(e));
            }
        }
        o.push_str("\nprovenance\n");
        if self.provenance.is_empty() {
            o.push_str("  (none recorded)\n");
        }
        for doc in &self.provenance {
            let p = match &doc.content {
                Readable::Read(p) => p,
                Readable::Unreadable { error } => {
                    let _ = writeln!(o, "  {}: unreadable: {}", esc(&doc.digest), esc(error));
                    continue;
                }
            };
            let _ = writeln!(o, "  builder      {}", esc(p.builder.as_deref().unwrap_or("?")));
            let _ = writeln!(o, "  build type   {}", esc(p.build_type.as_deref().unwrap_or("?")));
            match &p.source {
                Some(src) => {
                    let _ = writeln!(o, "  source       {} @ {}", esc(&src.uri), esc(&src.commit));
                }
                None => o.push_str(
                    "  source       (not recorded: packed outside a CI that names its repository)\n",
                ),
            }
            o.push_str("  built from\n");
            for d in &p.resolved_dependencies {
                let kind = d.kind.as_deref().map(|k| format!(" ({})", esc(k))).unwrap_or_default();
                let digests: Vec<String> = d.digests.iter().map(|d| esc(d).into_owned()).collect();
                let name = esc(d.name.as_deref().unwrap_or("(unnamed)"));
                let _ = writeln!(o, "    - {name} {}{kind}", digests.join(" "));
            }
            let _ = writeln!(o, "  describes these files: {}", yes(p.subject_matches));
        }
        o.push_str("\nsbom\n");
        if self.sbom.is_empty() {
            o.push_str("  (none recorded)\n");
        }
        for doc in &self.sbom {
            let bom = match &doc.content {
                Readable::Read(b) => b,
                Readable::Unreadable { error } => {
                    let _ = writeln!(o, "  {}: unreadable: {}", esc(&doc.digest), esc(error));
                    continue;
                }
            };
            let _ =
                writeln!(o, "  {} (describes these files: {})", esc(&bom.format), yes(bom.subject_matches));
            for c in &bom.components {
                let files = if c.files > 0 { format!(" ({} files)", c.files) } else { String::new() };
                let version = esc(c.version.as_deref().unwrap_or(""));
                let _ = writeln!(o, "  - {:<24} {} {version}{files}", esc(&c.kind), esc(&c.name));
            }
        }
        if let Some(t) = &self.transforms {
            t.render(&mut o);
        }
        o.push_str("\nsignatures\n");
        if self.signatures.is_empty() {
            o.push_str("  (none)\n");
        }
        for s in &self.signatures {
            let _ = writeln!(o, "  - {}  {}", s.who(), s.status());
        }
        if !self.source_signatures.is_empty() {
            o.push_str(
                "\nsource signatures (source-signature: the producer's files, not the manifest; never counted)\n",
            );
        }
        for s in &self.source_signatures {
            let _ = writeln!(o, "  - {}  {}", s.who(), s.status());
        }
        o.push_str("\nattestations\n");
        if self.attestations.is_empty() {
            o.push_str("  (none)\n");
        }
        for a in &self.attestations {
            let _ = writeln!(o, "  - signer {}  {}", a.who(), a.status());
            let Some(rep) = &a.report else { continue };
            let names = |v: &[String]| v.iter().map(|n| esc(n).into_owned()).collect::<Vec<_>>().join(", ");
            let failed =
                if rep.failed.is_empty() { String::new() } else { format!(" ({})", names(&rep.failed)) };
            let other =
                if rep.other.is_empty() { String::new() } else { format!("; other: {}", names(&rep.other)) };
            let _ = writeln!(
                o,
                "    report: verifier {}; {} passed, {} failed{failed}{other}",
                esc(rep.verifier_version.as_deref().unwrap_or("(unknown)")),
                rep.passed.len(),
                rep.failed.len(),
            );
            if !rep.passed.is_empty() {
                let _ = writeln!(o, "    passed: {}", names(&rep.passed));
            }
        }
        f.write_str(&o)
    }
}

impl TransformsSummary {
    fn render(&self, o: &mut String) {
        o.push_str("\ntransforms\n");
        if self.components.is_empty() {
            o.push_str("  (no component pinned)\n");
        }
        let names = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_owned()
            } else {
                v.iter().map(|n| esc(n).into_owned()).collect::<Vec<_>>().join(", ")
            }
        };
        for c in &self.components {
            let stages =
                if c.stages.is_empty() { String::new() } else { format!(" ({})", c.stages.join(", ")) };
            let _ = writeln!(o, "  - {}{stages}", esc(&c.path));
            let _ = writeln!(o, "    pinned       {} ({} bytes)", esc(&c.digest), c.size);
            let _ = writeln!(o, "    wit          {}", esc(&c.wit));
            let _ = writeln!(o, "    imports      {}", names(&c.imports));
            let _ = writeln!(o, "    matches its file entry: {}", yes(c.matches_file));
        }
        let Some(b) = &self.build else {
            o.push_str("  build        (not recorded)\n");
            return;
        };
        let toolchain =
            if b.toolchain.is_empty() { String::new() } else { format!(", {}", esc(&b.toolchain)) };
        let n = b.packages.len();
        let _ = writeln!(
            o,
            "  build        {}{toolchain}, {n} locked package{}",
            esc(&b.kind),
            if n == 1 { "" } else { "s" }
        );
        for p in &b.packages {
            let mut line = format!("    - {} {}", esc(&p.name), esc(&p.version));
            if !p.source.is_empty() {
                let _ = write!(line, " {}", esc(&p.source));
            }
            if !p.checksum.is_empty() {
                let _ = write!(line, " {}", esc(&p.checksum));
            }
            let _ = writeln!(o, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn report_summary_reads_real_and_minimal_reports_and_tolerates_junk() {
        let real = json!({"tool": {"name": "ferry", "version": "0.1.0"}, "passed": false,
            "checks": [{"id": "artifact.digest", "status": "passed"}, {"id": "golden.outputs", "status": "failed"},
                       {"id": "perf.latency", "status": "skipped"}]});
        let s = report_summary(&real);
        assert_eq!(s.verifier_version.as_deref(), Some("ferry 0.1.0"));
        assert_eq!(s.passed, ["artifact.digest"]);
        assert_eq!(s.failed, ["golden.outputs"]);
        assert_eq!(s.other, ["perf.latency (skipped)"]);
        assert_eq!(s.overall_passed, Some(false));
        let minimal = json!({"verifier_version": "x", "checks": [{"name": "a", "passed": true}]});
        assert_eq!(report_summary(&minimal).passed, ["a"]);
        for junk in [
            json!(null),
            json!([1]),
            json!("s"),
            json!({"checks": {"a": 1}, "tool": 3}),
            json!({"checks": [1, null, []]}),
        ] {
            assert!(report_summary(&junk).failed.is_empty());
        }
    }

    #[test]
    fn documents_of_the_wrong_shape_are_unreadable_not_a_failure() {
        for junk in [&b"\xff not json"[..], br#"{"predicate":[1,2],"subject":"x"}"#, br#"{"subject":"x"}"#] {
            assert!(serde_json::from_slice::<Statement<SlsaProvenance>>(junk).is_err());
        }
        for junk in [&b"\xff not json"[..], br#"{"components":{"a":1}}"#, br#"{"metadata":{"component":3}}"#]
        {
            assert!(serde_json::from_slice::<Bom>(junk).is_err());
        }
        // Unknown fields and absent lists are not errors: a later Ferry's documents still audit.
        let later: Statement<SlsaProvenance> =
            serde_json::from_str(r#"{"predicate": {"newField": 1}, "extra": true}"#).unwrap();
        assert!(later.predicate.build_definition.resolved_dependencies.is_empty());
        let s = summarize_provenance(later, "00");
        assert!(!s.subject_matches);
        assert_eq!(s.builder, None);
    }
}
