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
use serde_json::{Value, json};

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
    manifest_digest: &str,
    manifest: &Manifest,
    source: Option<&SourceRepo>,
    source_signatures: &[SourceSignature],
) -> Value {
    let subject: Vec<Value> =
        manifest.files.iter().map(|f| json!({"name": f.path, "digest": {"sha256": f.sha256}})).collect();
    let mut deps = vec![json!({
        "name": format!("{}:{}", manifest.model.name, manifest.model.version),
        "digest": {"sha256": hex_of(manifest_digest)},
        "annotations": {"kind": "source tree digest"},
    })];
    if let Some(s) = source {
        deps.push(json!({"uri": format!("git+{}", s.url), "digest": {"gitCommit": s.commit}}));
    }
    for s in source_signatures {
        deps.push(json!({
            "name": s.file,
            "digest": {"sha256": s.sha256},
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "annotations": {"kind": "source signature", "signer": s.signer, "resources": s.resources},
        }));
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "model": {"name": manifest.model.name, "version": manifest.model.version},
                },
                "internalParameters": {
                    "ferry_version": FERRY_VERSION,
                    "format_version": FORMAT_VERSION,
                    "zstd_level": ferry_bundle::ZSTD_LEVEL,
                },
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": builder_id()},
                "metadata": {},
            },
        },
    })
}

/// A serial number derived from the bundle digest (an RFC 4122 name-based layout), so the SBOM needs no
/// randomness and still has a stable, unique URN.
fn serial_number(manifest_digest: &str) -> String {
    let h = ferry_bundle::digest::sha256(format!("ferry-sbom:{manifest_digest}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("urn:uuid:{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

/// The CycloneDX 1.5 SBOM of a bundle: the model (with every file's hash and its ONNX pins), the ONNX
/// Runtime version range it may run on, and the Ferry version that packed it.
pub fn sbom(manifest_digest: &str, manifest: &Manifest) -> Value {
    let m = &manifest.model;
    let onnx = &manifest.pins.onnx;
    let files: Vec<Value> = manifest
        .files
        .iter()
        .map(|f| {
            json!({
                "type": "file",
                "bom-ref": format!("file:{}", f.path),
                "name": f.path,
                "hashes": [{"alg": "SHA-256", "content": f.sha256}],
            })
        })
        .collect();
    let mut props = vec![
        json!({"name": "ferry:entrypoint", "value": manifest.entrypoint}),
        json!({"name": "onnx:ir_version", "value": onnx.ir_version.to_string()}),
    ];
    for (domain, version) in &onnx.opsets {
        let domain = if domain.is_empty() { "ai.onnx" } else { domain };
        props.push(json!({"name": format!("onnx:opset:{domain}"), "value": version.to_string()}));
    }
    if !onnx.producer_name.is_empty() {
        props.push(json!({"name": "onnx:producer_name", "value": onnx.producer_name}));
    }
    if !onnx.producer_version.is_empty() {
        props.push(json!({"name": "onnx:producer_version", "value": onnx.producer_version}));
    }
    let entry_hash: Vec<Value> = manifest
        .files
        .iter()
        .filter(|f| f.path == manifest.entrypoint)
        .map(|f| json!({"alg": "SHA-256", "content": f.sha256}))
        .collect();
    let mut model = json!({
        "type": "machine-learning-model",
        "bom-ref": "model",
        "name": m.name,
        "version": m.version,
        "hashes": entry_hash,
        "properties": props,
        "components": files,
    });
    if !m.description.is_empty() {
        model["description"] = json!(m.description);
    }
    if !m.license.is_empty() {
        model["licenses"] = json!([{"license": {"name": m.license}}]);
    }
    let ferry = json!({
        "type": "application",
        "bom-ref": "ferry",
        "name": "ferry",
        "version": manifest.pins.ferry_version,
        "properties": [{"name": "ferry:format_version", "value": manifest.format_version.to_string()}],
    });
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial_number(manifest_digest),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "ferry", "version": FERRY_VERSION}]},
            "component": {
                "type": "file",
                "bom-ref": "bundle",
                "name": format!("{}:{}", m.name, m.version),
                "version": m.version,
                "hashes": [{"alg": "SHA-256", "content": hex_of(manifest_digest)}],
            },
        },
        "components": [
            model,
            {
                "type": "library",
                "bom-ref": "onnxruntime",
                "name": "onnxruntime",
                "description": "ONNX Runtime, any version in the range (semver requirement)",
                "properties": [{"name": "ferry:version_range", "value": manifest.pins.onnxruntime}],
            },
            ferry,
        ],
        "dependencies": [
            {"ref": "bundle", "dependsOn": ["model", "onnxruntime"]},
            {"ref": "model", "dependsOn": []},
            {"ref": "onnxruntime", "dependsOn": []},
        ],
    })
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
