//! `ferry audit`: the chain of custody of a bundle, for an auditor. It reports; it does not judge: any
//! readable bundle exits 0, whatever its signatures say (`ferry verify` and `ferry run --policy` judge).

use super::{CliResult, open_bundle, usage};
use ferry_bundle::Bundle;
use ferry_packager::provenance::{PROVENANCE_PATH, SBOM_PATH, tree_digest};
use ferry_spec::display::escape as esc;
use ferry_trust::Kind;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ferry audit`.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// The bundle to audit.
    pub bundle: PathBuf,
    /// A PEM public key to check signatures and attestations against (repeatable).
    #[arg(long = "key")]
    pub keys: Vec<PathBuf>,
    /// The Sigstore trusted root for keyless signatures (default: the public-good root built in).
    #[arg(long)]
    pub trusted_root: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn audit(args: &AuditArgs) -> CliResult {
    let b = open_bundle(&args.bundle)?;
    let keys = args
        .keys
        .iter()
        .map(|k| ferry_trust::load_public_key(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let root = match &args.trusted_root {
        Some(path) => ferry_trust::TrustRoot::from_file(path),
        None => ferry_trust::TrustRoot::public_good(),
    }
    .map_err(usage)?;
    let anchors = ferry_trust::Anchors { keys, identities: Vec::new(), root: Some(root) };
    let report = report(&b, &args.keys, &anchors);
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(usage)?;
        println!("{text}");
    } else {
        print!("{}", human(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// A generated file of the bundle (provenance, SBOM), parsed as JSON; empty when the bundle has none.
fn json_file(b: &Bundle, path: &str) -> Vec<(String, Result<Value, String>)> {
    let Some(entry) = b.manifest().file(path) else { return Vec::new() };
    let parsed = b
        .file(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()));
    vec![(format!("{path} (sha256:{})", entry.sha256), parsed)]
}

fn provenance(b: &Bundle, subject: &str) -> Vec<Value> {
    json_file(b, PROVENANCE_PATH)
        .into_iter()
        .map(|(digest, parsed)| match parsed {
            Err(e) => json!({"digest": digest, "error": e}),
            Ok(st) => {
                let pred = &st["predicate"];
                let deps =
                    pred["buildDefinition"]["resolvedDependencies"].as_array().cloned().unwrap_or_default();
                let source = deps.iter().find_map(|d| {
                    let commit = str_at(d, &["digest", "gitCommit"])?;
                    let uri = d["uri"].as_str().unwrap_or_default();
                    Some(json!({"uri": uri, "commit": commit}))
                });
                json!({
                    "digest": digest,
                    "predicate_type": st["predicateType"],
                    "subject_matches": st["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"].as_str() == Some(subject),
                    "builder": str_at(pred, &["runDetails", "builder", "id"]),
                    "build_type": str_at(pred, &["buildDefinition", "buildType"]),
                    "source": source,
                    "resolved_dependencies": deps.iter().map(dependency).collect::<Vec<_>>(),
                })
            }
        })
        .collect()
}

/// One SLSA resource descriptor, as the audit shows it: name or URI, its digests as `alg:value`, and the
/// kind Ferry annotated it with. Fields of the wrong shape are left out, never a failure.
fn dependency(d: &Value) -> Value {
    let digests: Vec<String> = d["digest"]
        .as_object()
        .map(|m| m.iter().filter_map(|(alg, v)| v.as_str().map(|v| format!("{alg}:{v}"))).collect())
        .unwrap_or_default();
    json!({
        "name": d["name"].as_str().or(d["uri"].as_str()),
        "digests": digests,
        "kind": str_at(d, &["annotations", "kind"]),
    })
}

fn sbom(b: &Bundle, subject: &str) -> Vec<Value> {
    json_file(b, SBOM_PATH)
        .into_iter()
        .map(|(digest, parsed)| match parsed {
            Err(e) => json!({"digest": digest, "error": e}),
            Ok(bom) => {
                let components: Vec<Value> = bom["components"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        let range = c["properties"].as_array().and_then(|ps| {
                            ps.iter()
                                .find(|p| p["name"] == "ferry:version_range")
                                .and_then(|p| p["value"].as_str())
                        });
                        json!({
                            "type": c["type"],
                            "name": c["name"],
                            "version": c["version"].as_str().or(range),
                            "files": c["components"].as_array().map_or(0, Vec::len),
                        })
                    })
                    .collect();
                json!({
                    "digest": digest,
                    "format": format!(
                        "{} {}",
                        bom["bomFormat"].as_str().unwrap_or("?"),
                        bom["specVersion"].as_str().unwrap_or("?")
                    ),
                    "subject_matches": bom["metadata"]["component"]["hashes"][0]["content"].as_str() == Some(subject),
                    "components": components,
                })
            }
        })
        .collect()
}

/// What a verifier report says, for both `ferry verify --format json` reports (`tool.version`, checks
/// with `id` and `status`) and minimal hand-written ones (`verifier_version`, checks with `name` and
/// `status` or `passed`).
fn report_summary(report: &Value) -> Value {
    let version =
        str_at(report, &["tool", "version"]).or_else(|| str_at(report, &["verifier_version"])).map(|v| {
            match str_at(report, &["tool", "name"]) {
                Some(name) => format!("{name} {v}"),
                None => v.to_owned(),
            }
        });
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut other = Vec::new();
    for c in report["checks"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = c["id"].as_str().or_else(|| c["name"].as_str()).unwrap_or("?").to_owned();
        let status = c["status"].as_str().map(str::to_owned).or_else(|| {
            c["passed"].as_bool().map(|p| if p { "passed".to_owned() } else { "failed".to_owned() })
        });
        match status.as_deref() {
            Some("passed" | "pass" | "ok") => passed.push(name),
            Some("failed" | "fail" | "error") => failed.push(name),
            Some(s) => other.push(format!("{name} ({s})")),
            None => other.push(name),
        }
    }
    json!({
        "verifier_version": version,
        "passed": passed,
        "failed": failed,
        "other": other,
        "overall_passed": report["passed"].as_bool(),
    })
}

fn report(b: &Bundle, key_paths: &[PathBuf], anchors: &ferry_trust::Anchors) -> Value {
    let m = b.manifest();
    // Provenance and SBOM describe the source files (everything but themselves), by tree digest.
    let sources: Vec<ferry_spec::FileEntry> =
        m.files.iter().filter(|f| !f.path.starts_with(".ferry/")).cloned().collect();
    let tree = tree_digest(&sources);
    let subject = ferry_bundle::digest::strip_prefix(&tree).unwrap_or_default().to_owned();
    let found = ferry_trust::inspect(b, anchors);
    let describe = |f: &ferry_trust::Found| {
        // Audit names a keyless signer whose Sigstore material verified, trusted or not: it reports, the
        // policy judges.
        let verified_with = match (&f.verified_by, &f.signer) {
            (Some(i), _) => key_paths.get(*i).map(|p| p.display().to_string()),
            (None, Some(signer)) if f.error.is_none() => Some(format!("Sigstore certificate for {signer}")),
            _ => None,
        };
        let why_not = match (&verified_with, &f.error) {
            (Some(_), _) => None,
            (None, Some(e)) => Some(e.clone()),
            (None, None) => Some("no key given".to_owned()),
        };
        let mut v = json!({
            "digest": f.digest,
            "keyless": f.is_keyless(),
            "key_hint": f.key_hint,
            "signer": f.signer.as_ref().map(|c| json!({"subject": c.subject, "issuer": c.issuer, "logged_at": c.logged_at})),
            "verified": verified_with.is_some(),
            "verified_with": verified_with,
            "why_not": why_not,
        });
        if f.kind != Kind::Attestation {
            v["files"] = json!(
                f.statement.as_ref().and_then(|s| s["predicate"]["resources"].as_array()).map(Vec::len)
            );
        } else if let Some(st) = &f.statement {
            v["predicate_type"] = st["predicateType"].clone();
            v["report"] = report_summary(&st["predicate"]);
        }
        v
    };
    let signatures: Vec<Value> = found.iter().filter(|f| f.kind == Kind::Signature).map(describe).collect();
    let attestations: Vec<Value> =
        found.iter().filter(|f| f.kind == Kind::Attestation).map(describe).collect();
    let source_signatures: Vec<Value> =
        found.iter().filter(|f| f.kind == Kind::SourceSignature).map(describe).collect();
    json!({
        "model": {"name": m.model.name, "version": m.model.version, "digest": b.manifest_digest()},
        "digests_ok": b.verify_digests().is_ok(),
        "digest_error": b.verify_digests().err().map(|e| e.to_string()),
        "provenance": provenance(b, &subject),
        "sbom": sbom(b, &subject),
        "signatures": signatures,
        "attestations": attestations,
        "source_signatures": source_signatures,
    })
}

/// A string of the report for a person: read from the bundle, so escaped (`ferry_spec::display`).
fn s(v: &Value) -> Cow<'_, str> {
    esc(v.as_str().unwrap_or("?"))
}

/// [`s`], with `default` for a missing value.
fn s_or<'a>(v: &'a Value, default: &'a str) -> Cow<'a, str> {
    esc(v.as_str().unwrap_or(default))
}

fn yes(v: &Value) -> &'static str {
    if v.as_bool() == Some(true) { "yes" } else { "NO" }
}

fn human(r: &Value) -> String {
    let mut o = String::new();
    let m = &r["model"];
    let _ = writeln!(o, "model        {} {}", s(&m["name"]), s(&m["version"]));
    let _ = writeln!(o, "digest       {}", s(&m["digest"]));
    match r["digest_error"].as_str() {
        None => {
            let _ = writeln!(o, "file digests ok");
        }
        Some(e) => {
            let _ = writeln!(o, "file digests MISMATCH: {}", esc(e));
        }
    }
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "\nprovenance");
    let prov = list(&r["provenance"]);
    if prov.is_empty() {
        let _ = writeln!(o, "  (none recorded)");
    }
    for p in &prov {
        if let Some(e) = p["error"].as_str() {
            let _ = writeln!(o, "  {}: unreadable: {}", s(&p["digest"]), esc(e));
            continue;
        }
        let _ = writeln!(o, "  builder      {}", s(&p["builder"]));
        let _ = writeln!(o, "  build type   {}", s(&p["build_type"]));
        match p["source"].as_object() {
            Some(src) => {
                let _ = writeln!(
                    o,
                    "  source       {} @ {}",
                    esc(src.get("uri").and_then(Value::as_str).unwrap_or("?")),
                    esc(src.get("commit").and_then(Value::as_str).unwrap_or("?"))
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "  source       (not recorded: packed outside a CI that names its repository)"
                );
            }
        }
        let _ = writeln!(o, "  built from");
        for d in list(&p["resolved_dependencies"]) {
            let kind = d["kind"].as_str().map(|k| format!(" ({})", esc(k))).unwrap_or_default();
            let digests = list(&d["digests"])
                .iter()
                .filter_map(|v| v.as_str().map(|d| esc(d).into_owned()))
                .collect::<Vec<_>>();
            let _ = writeln!(o, "    - {} {}{kind}", s_or(&d["name"], "(unnamed)"), digests.join(" "));
        }
        let _ = writeln!(o, "  describes these files: {}", yes(&p["subject_matches"]));
    }
    let _ = writeln!(o, "\nsbom");
    let boms = list(&r["sbom"]);
    if boms.is_empty() {
        let _ = writeln!(o, "  (none recorded)");
    }
    for bom in &boms {
        if let Some(e) = bom["error"].as_str() {
            let _ = writeln!(o, "  {}: unreadable: {}", s(&bom["digest"]), esc(e));
            continue;
        }
        let _ =
            writeln!(o, "  {} (describes these files: {})", s(&bom["format"]), yes(&bom["subject_matches"]));
        for c in list(&bom["components"]) {
            let files = c["files"].as_u64().unwrap_or(0);
            let files = if files > 0 { format!(" ({files} files)") } else { String::new() };
            let _ =
                writeln!(o, "  - {:<24} {} {}{files}", s(&c["type"]), s(&c["name"]), s_or(&c["version"], ""));
        }
    }
    let status = |v: &Value| match v["verified_with"].as_str() {
        Some(k) => format!("verified with {}", esc(k)),
        None => format!("NOT verified: {}", s(&v["why_not"])),
    };
    let hint = |v: &Value| {
        if v["keyless"].as_bool() == Some(true) {
            return match v["signer"]["subject"].as_str() {
                Some(who) => format!("keyless {}", esc(who)),
                None => "keyless (signer unverified)".to_owned(),
            };
        }
        let h: String = s_or(&v["key_hint"], "(no key hint)").chars().take(16).collect();
        format!("key {h}")
    };
    let _ = writeln!(o, "\nsignatures");
    let sigs = list(&r["signatures"]);
    if sigs.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for v in &sigs {
        let _ = writeln!(o, "  - {}  {}", hint(v), status(v));
    }
    let srcs = list(&r["source_signatures"]);
    if !srcs.is_empty() {
        let _ = writeln!(
            o,
            "\nsource signatures (source-signature: the producer's files, not the manifest; never counted)"
        );
    }
    for v in &srcs {
        let _ = writeln!(o, "  - {}  {}", hint(v), status(v));
    }
    let _ = writeln!(o, "\nattestations");
    let atts = list(&r["attestations"]);
    if atts.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for v in &atts {
        let _ = writeln!(o, "  - signer {}  {}", hint(v), status(v));
        let rep = &v["report"];
        let names = |k: &str| list(&rep[k]).iter().map(|n| s(n).into_owned()).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            o,
            "    report: verifier {}; {} passed, {} failed{}{}",
            s_or(&rep["verifier_version"], "(unknown)"),
            list(&rep["passed"]).len(),
            list(&rep["failed"]).len(),
            if list(&rep["failed"]).is_empty() { String::new() } else { format!(" ({})", names("failed")) },
            if list(&rep["other"]).is_empty() {
                String::new()
            } else {
                format!("; other: {}", names("other"))
            },
        );
        if !list(&rep["passed"]).is_empty() {
            let _ = writeln!(o, "    passed: {}", names("passed"));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn report_summary_reads_real_and_minimal_reports_and_tolerates_junk() {
        let real = json!({"tool": {"name": "ferry", "version": "0.1.0"}, "passed": false,
            "checks": [{"id": "artifact.digest", "status": "passed"}, {"id": "golden.outputs", "status": "failed"},
                       {"id": "perf.latency", "status": "skipped"}]});
        let s = report_summary(&real);
        assert_eq!(s["verifier_version"], "ferry 0.1.0");
        assert_eq!(s["passed"], json!(["artifact.digest"]));
        assert_eq!(s["failed"], json!(["golden.outputs"]));
        assert_eq!(s["other"], json!(["perf.latency (skipped)"]));
        let minimal = json!({"verifier_version": "x", "checks": [{"name": "a", "passed": true}]});
        assert_eq!(report_summary(&minimal)["passed"], json!(["a"]));
        for junk in [
            json!(null),
            json!([1]),
            json!("s"),
            json!({"checks": {"a": 1}, "tool": 3}),
            json!({"checks": [1, null, []]}),
        ] {
            let s = report_summary(&junk);
            assert!(s["failed"].as_array().unwrap().is_empty());
        }
    }
}
