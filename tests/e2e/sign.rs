//! Signing, attesting, trust policies, `ferry audit` and interop with the reference `model_signing` tool,
//! all through the command line.

use crate::common::*;
use ferry_bundle::{Bundle, Referrer};
use std::path::{Path, PathBuf};
use std::process::Command;

fn packed(name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{name}.ferry"));
    pack(&fixture(name), &out);
    out
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (sk, pk) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    let o = ferry()
        .env_remove("FERRY_KEY_PASSWORD")
        .args(["keygen", "--private", sk.to_str().unwrap(), "--public", pk.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "keygen: {}", stderr(&o));
    (sk, pk)
}

fn ok(args: &[&str]) {
    let o = ferry().env_remove("FERRY_KEY_PASSWORD").args(args).output().unwrap();
    assert_eq!(code(&o), 0, "ferry {args:?}: {}", stderr(&o));
}

fn sign(bundle: &Path, key: &Path) {
    ok(&["sign", bundle.to_str().unwrap(), "--key", key.to_str().unwrap()]);
}

/// A minimal verifier report, or the real `ferry verify --format json` output when that command exists.
fn report(dir: &Path, bundle: &Path) -> PathBuf {
    let path = dir.join("report.json");
    let o = run(&["verify", bundle.to_str().unwrap(), "--format", "json"]);
    let real = matches!(code(&o), 0 | 1)
        && serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok_and(|v| v["checks"].is_array());
    if real {
        std::fs::write(&path, &o.stdout).unwrap();
    } else {
        std::fs::write(
            &path,
            r#"{"verifier_version":"test-0.1","checks":[{"name":"artifact.digest","status":"passed"},{"name":"golden.outputs","status":"passed"}]}"#,
        )
        .unwrap();
    }
    path
}

fn attest(bundle: &Path, key: &Path, report: &Path) {
    ok(&[
        "attest",
        bundle.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
}

/// A policy in `dir` trusting `keys` (copied next to it).
fn policy(dir: &Path, name: &str, keys: &[&Path], extra: &str) -> PathBuf {
    let mut names = Vec::new();
    for k in keys {
        let file = k.file_name().unwrap().to_str().unwrap().to_owned();
        if k.parent() != Some(dir) {
            std::fs::copy(k, dir.join(&file)).unwrap();
        }
        names.push(format!("{file:?}"));
    }
    let path = dir.join(name);
    std::fs::write(&path, format!("[trust]\nkeys = [{}]\n{extra}", names.join(", "))).unwrap();
    path
}

/// `ferry verify --format json` with a key and a policy: the exit code and each check's status by ID.
fn verify_statuses(
    bundle: &Path,
    key: &Path,
    policy: &Path,
) -> (i32, std::collections::BTreeMap<String, String>, String) {
    let o = run(&[
        "verify",
        bundle.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let text = stdout(&o);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text} {}", stderr(&o)));
    let statuses = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned()))
        .collect();
    (code(&o), statuses, text)
}

/// `ferry verify` exits 1 with `check` failed (and names `needle` in the report).
fn verify_fails(what: &str, bundle: &Path, key: &Path, policy: &Path, check: &str, needle: &str) {
    let (code, statuses, text) = verify_statuses(bundle, key, policy);
    assert_eq!(code, 1, "{what}: {text}");
    assert_eq!(statuses.get(check).map(String::as_str), Some("failed"), "{what}: {statuses:?}");
    assert!(text.contains(needle), "{what}: report lacks {needle:?}: {text}");
}

fn run_with(bundle: &Path, policy: &Path) -> std::process::Output {
    run(&[
        "run",
        bundle.to_str().unwrap(),
        "--input",
        fixture("credit-risk").join("golden/smoke.inputs.npz").to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ])
}

fn accepted(bundle: &Path, policy: &Path) {
    let o = run_with(bundle, policy);
    assert_eq!(code(&o), 0, "expected {} to be accepted: {}", bundle.display(), stderr(&o));
}

fn refused(what: &str, bundle: &Path, policy: &Path, needles: &[&str]) {
    let o = run_with(bundle, policy);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{what}: expected exit 1, got {}: {err}", code(&o));
    for n in needles {
        assert!(err.contains(n), "{what}: error lacks {n:?}:\n{err}");
    }
}

#[test]
fn signed_bundle_runs_under_a_policy_and_signing_is_deterministic() {
    let t = tempdir();
    let (sk, pk) = keygen(t.path(), "release");
    let p = policy(t.path(), "release.toml", &[&pk], "");
    let a = t.path().join("a.ferry");
    let b = t.path().join("b.ferry");
    pack(&fixture("credit-risk"), &a);
    pack(&fixture("credit-risk"), &b);
    refused("unsigned", &a, &p, &["trust.min_signatures"]);
    sign(&a, &sk);
    sign(&b, &sk);
    accepted(&a, &p);
    let signed = std::fs::read(&a).unwrap();
    assert_eq!(signed, std::fs::read(&b).unwrap(), "same key and bundle must give the same signed bytes");
    sign(&a, &sk);
    assert_eq!(std::fs::read(&a).unwrap(), signed, "signing twice with one key must add nothing");

    // The signature survives unpack + pack, and the repacked bundle is the same file.
    let dir = t.path().join("unpacked");
    ok(&["unpack", a.to_str().unwrap(), dir.to_str().unwrap()]);
    assert!(dir.join("model.sig").is_file());
    let again = t.path().join("again.ferry");
    pack(&dir, &again);
    assert_eq!(std::fs::read(&again).unwrap(), signed, "repacking a signed unpacked bundle changed bytes");
}

#[test]
fn tampered_swapped_and_untrusted_bundles_are_refused() {
    let t = tempdir();
    let (sk, pk) = keygen(t.path(), "release");
    let (other_sk, _) = keygen(t.path(), "other");
    let p = policy(t.path(), "release.toml", &[&pk], "");
    let good = packed("credit-risk", t.path());
    sign(&good, &sk);
    accepted(&good, &p);
    let (code, statuses, text) = verify_statuses(&good, &pk, &p);
    assert_eq!(code, 0, "{text}");
    assert_eq!(statuses["artifact.signature"], "passed");
    assert_eq!(statuses["artifact.trust"], "passed");
    let bytes = std::fs::read(&good).unwrap();

    // A flipped byte in any blob: files, config, manifests and referrers alike.
    let entries = ferry_bundle::tar::parse(&bytes).unwrap();
    let blobs: Vec<_> =
        entries.iter().filter(|e| e.name.starts_with("blobs/sha256/") && e.size > 0).collect();
    assert!(blobs.len() >= 8, "expected file, config, manifest and referrer blobs");
    for e in blobs {
        let mut evil = bytes.clone();
        evil[(e.offset + e.size / 2) as usize] ^= 0x01;
        let path = t.path().join("flipped.ferry");
        std::fs::write(&path, &evil).unwrap();
        refused(&format!("flipped byte in {}", e.name), &path, &p, &["digest"]);
        let (code, statuses, text) = verify_statuses(&path, &pk, &p);
        assert_eq!(code, 1, "{text}");
        let caught = ["artifact.digest", "artifact.layout"].iter().any(|c| statuses[*c] == "failed");
        assert!(caught, "flipped byte in {}: {statuses:?}", e.name);
    }

    // Damaged before it was signed: the signature binds the digests the manifest records, so the
    // damaged file is still what is refused, by its own check.
    let damaged = t.path().join("damaged.ferry");
    pack(&fixture("text-embedding"), &damaged);
    let mut raw = std::fs::read(&damaged).unwrap();
    let data = Bundle::open(&damaged).unwrap().manifest().file("model.onnx.data").unwrap().blob.clone();
    let entry = ferry_bundle::tar::parse(&raw)
        .unwrap()
        .into_iter()
        .find(|e| e.name == format!("blobs/sha256/{}", &data["sha256:".len()..]))
        .unwrap();
    raw[(entry.offset + 7) as usize] ^= 0x40;
    std::fs::write(&damaged, &raw).unwrap();
    sign(&damaged, &sk);
    refused("damaged before signing", &damaged, &p, &["model.onnx.data"]);
    let (code, statuses, text) = verify_statuses(&damaged, &pk, &p);
    assert_eq!(code, 1, "{text}");
    assert_eq!(statuses["artifact.digest"], "failed", "{text}");
    assert_eq!(statuses["artifact.signature"], "passed", "{text}");

    // A signature lifted from another bundle: valid signature, wrong resources.
    let other = t.path().join("other.ferry");
    pack(&fixture("text-embedding"), &other);
    let signed = Bundle::open(&good).unwrap();
    let sig = signed
        .referrers()
        .iter()
        .find(|r| r.annotations.get(ferry_trust::KIND_ANNOTATION).map(String::as_str) == Some("signature"))
        .unwrap();
    let stolen = Referrer {
        artifact_type: sig.artifact_type.clone(),
        media_type: sig.media_type.clone(),
        blob: signed.blob(&sig.blob_digest).unwrap().to_vec(),
        annotations: sig.annotations.clone(),
    };
    let swapped = t.path().join("swapped.ferry");
    Bundle::open(&other).unwrap().write_with_referrer(&swapped, &stolen).unwrap();
    refused("swapped signature", &swapped, &p, &["trust.min_signatures"]);
    verify_fails("swapped signature", &swapped, &pk, &p, "artifact.signature", "no valid signature by");

    // Signed, but by a key the policy does not trust.
    let untrusted = t.path().join("untrusted.ferry");
    pack(&fixture("credit-risk"), &untrusted);
    sign(&untrusted, &other_sk);
    refused("untrusted key", &untrusted, &p, &["trust.min_signatures", "0 found valid"]);
    verify_fails("untrusted key", &untrusted, &pk, &p, "artifact.trust", "trust.min_signatures");
}

#[test]
fn a_required_attestation_must_be_present() {
    let t = tempdir();
    let (sk, pk) = keygen(t.path(), "ci");
    let p = policy(t.path(), "promote.toml", &[&pk], "require_attestation = true\n");
    let b = packed("credit-risk", t.path());
    sign(&b, &sk);
    refused("signed, not attested", &b, &p, &["trust.require_attestation"]);
    let r = report(t.path(), &b);
    attest(&b, &sk, &r);
    accepted(&b, &p);

    // Unpack + pack keeps both; with the attestation's file removed from the unpacked view, refused again.
    let dir = t.path().join("unpacked");
    ok(&["unpack", b.to_str().unwrap(), dir.to_str().unwrap()]);
    std::fs::remove_file(dir.join(".ferry/referrers/002.json")).unwrap();
    let stripped = t.path().join("stripped.ferry");
    pack(&dir, &stripped);
    refused("attestation removed", &stripped, &p, &["trust.require_attestation"]);
    verify_fails("attestation removed", &stripped, &pk, &p, "artifact.trust", "trust.require_attestation");
    let (code, statuses, text) = verify_statuses(&b, &pk, &p);
    assert_eq!(code, 0, "{text}");
    assert_eq!(statuses["artifact.trust"], "passed");
}

#[test]
fn audit_shows_the_whole_chain() {
    let t = tempdir();
    let (a_sk, a_pk) = keygen(t.path(), "alice");
    let (b_sk, b_pk) = keygen(t.path(), "bob");
    let b = packed("credit-risk", t.path());
    sign(&b, &a_sk);
    sign(&b, &b_sk);
    let r = report(t.path(), &b);
    attest(&b, &a_sk, &r);
    let args =
        ["audit", b.to_str().unwrap(), "--key", a_pk.to_str().unwrap(), "--key", b_pk.to_str().unwrap()];
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "credit-risk 1.0.0",
        "builder      https://ferry.dev/packager@",
        "CycloneDX 1.5",
        "machine-learning-model",
        "onnxruntime",
        "describes these files: yes",
        "(source tree digest)",
        "report: verifier",
    ] {
        assert!(out.contains(needle), "audit lacks {needle:?}:\n{out}");
    }
    assert_eq!(out.matches(&format!("verified with {}", a_pk.display())).count(), 2, "{out}");
    assert_eq!(out.matches(&format!("verified with {}", b_pk.display())).count(), 1, "{out}");
    assert!(!out.contains("NOT verified"), "{out}");

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = run(&json_args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["provenance"].as_array().unwrap().len(), 1);
    let dep = &v["provenance"][0]["resolved_dependencies"][0];
    assert_eq!(dep["kind"], "source tree digest", "{dep}");
    assert!(dep["digests"][0].as_str().unwrap().starts_with("sha256:"), "{dep}");
    assert_eq!(v["sbom"].as_array().unwrap().len(), 1);
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    assert_eq!(v["attestations"].as_array().unwrap().len(), 1);
    assert!(v["signatures"].as_array().unwrap().iter().all(|s| s["verified"] == true));
    assert_eq!(v["attestations"][0]["verified"], true);

    // Without keys it still reports (exit 0) and says why nothing verified; unreadable input is exit 2.
    let o = run(&["audit", b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("NOT verified: no key given"));
    // Hostile provenance/SBOM files (not JSON, JSON of the wrong shape) and a malformed signature
    // referrer are reported, never a crash.
    let bytes = std::fs::read(&b).unwrap();
    for (prov, sbom) in [
        (b"\xff not json".to_vec(), br#"{"components":{"a":1},"metadata":[]}"#.to_vec()),
        (br#"{"predicate":[1,2],"subject":"x"}"#.to_vec(), b"[]".to_vec()),
    ] {
        let bad = reassemble(&bytes, |m, blobs| {
            for (path, content) in [(".ferry/provenance.json", &prov), (".ferry/sbom.cdx.json", &sbom)] {
                // Declared as they are (a compressed file's frame must declare the manifest's size).
                let f = m.files.iter_mut().find(|f| f.path == path).unwrap();
                f.size = content.len() as u64;
                f.sha256 = ferry_bundle::digest::sha256(content).iter().map(|b| format!("{b:02x}")).collect();
                blobs.insert(path.into(), zstd::bulk::compress(content, 3).unwrap());
            }
        });
        let hostile = t.path().join("hostile.ferry");
        std::fs::write(&hostile, &bad).unwrap();
        let with_junk_sig = t.path().join("hostile-sig.ferry");
        let r = Referrer {
            artifact_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
            media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
            blob: b"[]".to_vec(),
            annotations: Default::default(),
        };
        Bundle::open(&hostile).unwrap().write_with_referrer(&with_junk_sig, &r).unwrap();
        for extra in [None, Some("--json")] {
            let mut a = vec!["audit", with_junk_sig.to_str().unwrap(), "--key", a_pk.to_str().unwrap()];
            a.extend(extra);
            let o = run(&a);
            assert_eq!(code(&o), 0, "{}", stderr(&o));
        }
    }

    let junk = t.path().join("junk.ferry");
    std::fs::write(&junk, b"not a bundle").unwrap();
    assert_eq!(code(&run(&["audit", junk.to_str().unwrap()])), 2);
}

#[test]
fn provenance_and_sbom_are_signed_files_of_the_view() {
    let t = tempdir();
    let a = packed("credit-risk", t.path());
    let b = Bundle::open(&a).unwrap();
    // A packed bundle is one OCI image: no referrers until someone signs it.
    assert!(b.referrers().is_empty());
    let prov: serde_json::Value = serde_json::from_slice(&b.file(".ferry/provenance.json").unwrap()).unwrap();
    assert_eq!(prov["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(prov["predicateType"], "https://slsa.dev/provenance/v1");
    // The subject lists every source file with its digest.
    let sources: Vec<_> = b.manifest().files.iter().filter(|f| !f.path.starts_with(".ferry/")).collect();
    let subject = prov["subject"].as_array().unwrap();
    assert_eq!(subject.len(), sources.len());
    for (s, f) in subject.iter().zip(&sources) {
        assert_eq!(s["name"], f.path.as_str());
        assert_eq!(s["digest"]["sha256"], f.sha256.as_str());
    }
    let sbom: serde_json::Value = serde_json::from_slice(&b.file(".ferry/sbom.cdx.json").unwrap()).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    let text = String::from_utf8_lossy(&b.file(".ferry/provenance.json").unwrap()).into_owned()
        + &String::from_utf8_lossy(&b.file(".ferry/sbom.cdx.json").unwrap());
    assert!(!text.contains(&*t.path().to_string_lossy()), "a path leaked into provenance/SBOM");
    assert!(!text.contains(&*fixture("credit-risk").to_string_lossy()));
    // A source cannot smuggle its own file into the reserved directory.
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    std::fs::write(
        src.join("ferry.toml"),
        toml.replacen("onnx = \"model.onnx\"", "onnx = \"model.onnx\"\nextra_files = [\".ferry/x.txt\"]", 1),
    )
    .unwrap();
    let o = run(&["pack", src.to_str().unwrap(), "-o", t.path().join("x.ferry").to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("reserved"), "{}", stderr(&o));
}

fn interop_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import model_signing"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("FERRY_REQUIRE_INTEROP").is_some_and(|v| v == "1") {
        panic!("FERRY_REQUIRE_INTEROP=1 but `python3 -c 'import model_signing'` fails");
    }
    if !ok {
        eprintln!("skipping: the model_signing Python package is not importable");
    }
    ok
}

fn python(args: &[&str]) -> std::process::Output {
    Command::new("python3").arg("-m").arg("model_signing").args(args).output().unwrap()
}

#[test]
fn unpacked_signed_bundles_verify_with_model_signing_and_back() {
    if !interop_available() {
        return;
    }
    let t = tempdir();
    let (sk, pk) = keygen(t.path(), "release");

    // Ferry signs; the reference tool verifies the unpacked view.
    let b = packed("credit-risk", t.path());
    sign(&b, &sk);
    let dir = t.path().join("ferry-signed");
    ok(&["unpack", b.to_str().unwrap(), dir.to_str().unwrap()]);
    let sig = dir.join("model.sig");
    let o = python(&[
        "verify",
        "key",
        "--signature",
        sig.to_str().unwrap(),
        "--public_key",
        pk.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "model_signing verify: {}{}", stdout(&o), stderr(&o));

    // The reference tool signs an unpacked view; Ferry keeps it and trusts it.
    let (py_sk, py_pk) = keygen(t.path(), "python");
    let b2 = t.path().join("plain.ferry");
    pack(&fixture("credit-risk"), &b2);
    let dir2 = t.path().join("python-signed");
    ok(&["unpack", b2.to_str().unwrap(), dir2.to_str().unwrap()]);
    let sig2 = dir2.join("model.sig");
    let o = python(&[
        "sign",
        "key",
        "--private_key",
        py_sk.to_str().unwrap(),
        "--signature",
        sig2.to_str().unwrap(),
        dir2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "model_signing sign: {}{}", stdout(&o), stderr(&o));
    let repacked = t.path().join("python-signed.ferry");
    pack(&dir2, &repacked);
    let p = policy(t.path(), "python.toml", &[&py_pk], "");
    accepted(&repacked, &p);
    refused("unsigned original", &b2, &p, &["trust.min_signatures"]);
}

/// Keyless, end to end on recorded public-good Sigstore material: a real Fulcio-certified, Rekor-logged
/// signature attached to a bundle is verified (certificate, log, signature) and its signer named, but
/// it signs another artifact, so the trust policy refuses it; a policy naming someone else refuses it for
/// that; and keyless signing without the network fails cleanly, writing nothing.
#[test]
fn keyless_signatures_are_verified_named_and_held_to_the_policy() {
    const SIGNER: &str =
        "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    let t = tempdir();
    let bundle = packed("credit-risk", t.path());
    let recorded = std::fs::read(root().join("keyless/tests/data/conda-attestation.sigstore.json")).unwrap();
    let r = Referrer {
        artifact_type: ferry_trust::SIGSTORE_BUNDLE.into(),
        media_type: ferry_trust::SIGSTORE_BUNDLE.into(),
        blob: recorded,
        annotations: [(ferry_trust::KIND_ANNOTATION.to_owned(), "signature".to_owned())].into(),
    };
    let foreign = t.path().join("foreign.ferry");
    Bundle::open(&bundle).unwrap().write_with_referrer(&foreign, &r).unwrap();

    // The policy trusts exactly that CI identity; the signature still covers something else.
    let p = t.path().join("keyless.toml");
    std::fs::write(&p, format!("[trust]\n[[trust.identities]]\nissuer = {ISSUER:?}\nsubject = {SIGNER:?}\n"))
        .unwrap();
    refused("keyless signature over another artifact", &foreign, &p, &["trust.min_signatures"]);
    let o = run(&["verify", foreign.to_str().unwrap(), "--policy", p.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let trust = v["checks"].as_array().unwrap().iter().find(|c| c["id"] == "artifact.trust").unwrap();
    assert_eq!(trust["status"], "failed", "{trust}");

    // A policy file that names a missing trusted root is a clear error, not a pass.
    let bad_root = t.path().join("bad-root.toml");
    std::fs::write(
        &bad_root,
        format!("[trust]\ntrusted_root = \"missing.json\"\n[[trust.identities]]\nissuer = {ISSUER:?}\nsubject = {SIGNER:?}\n"),
    )
    .unwrap();
    let o = run_with(&foreign, &bad_root);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.json"), "{}", stderr(&o));

    // Audit verifies the Sigstore material against the public-good root and names the signer.
    let o = run(&["audit", foreign.to_str().unwrap(), "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sig = &a["signatures"][0];
    assert_eq!(sig["keyless"], true, "{sig}");
    assert_eq!(sig["signer"]["subject"], SIGNER, "{sig}");
    assert_eq!(sig["signer"]["issuer"], ISSUER, "{sig}");
    // Named, but not verified over this bundle: it is a conda attestation, not an OMS signature.
    assert!(sig["why_not"].as_str().unwrap().contains("predicate"), "{sig}");
    let human = stdout(&run(&["audit", foreign.to_str().unwrap()]));
    assert!(human.contains("keyless"), "{human}");

    // Keyless signing: no token → exit 2 naming the ways to give one; a token but no network → exit 2
    // naming the services. The bundle is untouched either way.
    let before = std::fs::read(&bundle).unwrap();
    let o = ferry()
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .args(["sign", bundle.to_str().unwrap(), "--keyless"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("SIGSTORE_ID_TOKEN"), "{}", stderr(&o));
    let jwt = {
        use base64ct::{Base64UrlUnpadded, Encoding as _};
        let enc = |v: &str| Base64UrlUnpadded::encode_string(v.as_bytes());
        let claims = r#"{"iss":"https://oauth2.sigstore.dev/auth","sub":"ci@example.com","email":"ci@example.com","email_verified":true,"aud":"sigstore","exp":4000000000,"iat":1700000000}"#;
        format!("{}.{}.{}", enc(r#"{"alg":"RS256","typ":"JWT"}"#), enc(claims), enc("sig"))
    };
    let o = ferry()
        .env("SIGSTORE_ID_TOKEN", &jwt)
        .args(["sign", bundle.to_str().unwrap(), "--keyless"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("fulcio.sigstore.dev") || stderr(&o).contains("keyless signing failed"),
        "{}",
        stderr(&o)
    );
    eprintln!("offline keyless signing said: {}", stderr(&o));
    assert_eq!(std::fs::read(&bundle).unwrap(), before);
    assert!(
        !listing(t.path()).iter().any(|n| n.contains(".tmp") || n.starts_with(".ferry-")),
        "{:?}",
        listing(t.path())
    );

    // --key and --keyless are one or the other.
    let o = run(&["sign", bundle.to_str().unwrap(), "--keyless", "--key", "k.pem"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

/// The signature referrer of a bundle, to re-attach to a forged one (its `subject` is re-pointed by
/// `write_with_referrer`, exactly what an attacker without a key can do).
fn signature_referrer_of(bundle: &Path) -> Referrer {
    let b = Bundle::open(bundle).unwrap();
    let r = b
        .referrers()
        .iter()
        .find(|r| r.annotations.get("dev.ferry.kind").map(String::as_str) == Some("signature"))
        .unwrap();
    Referrer {
        artifact_type: r.artifact_type.clone(),
        media_type: ferry_trust::SIGSTORE_BUNDLE.to_owned(),
        blob: b.blob(&r.blob_digest).unwrap().to_vec(),
        annotations: r.annotations.clone(),
    }
}

/// Issue 10, item 1: the manifest-transplant attack and its variants. Each rewrites one field of the
/// signed Ferry manifest, recomputes every digest an attacker can (config blob, OCI manifest, index),
/// re-attaches the original signature to the forged manifest, and must be refused by `verify --key`
/// (exit 1, `artifact.signature` naming the manifest) and by `run --policy` (exit 1).
#[test]
fn a_signature_binds_every_manifest_field() {
    let t = tempdir();
    let (sk, pk) = keygen(t.path(), "release");
    let b = packed("credit-risk", t.path());
    sign(&b, &sk);
    let p = policy(t.path(), "release.toml", &[&pk], "");
    accepted(&b, &p);
    let sig = signature_referrer_of(&b);
    let bytes = std::fs::read(&b).unwrap();
    type Edit = Box<dyn Fn(&mut ferry_spec::Manifest)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "feature max",
            Box::new(|m| {
                let f = m.inputs[0].features.iter_mut().find(|f| f.max.is_some()).unwrap();
                f.max = Some(f.max.unwrap() * 10.0);
            }),
        ),
        (
            "feature nullability",
            Box::new(|m| {
                for f in &mut m.inputs[0].features {
                    f.nullable = true;
                }
            }),
        ),
        ("model version", Box::new(|m| m.model.version = "9.9.9".into())),
        ("model name", Box::new(|m| m.model.name = "other".into())),
        ("description", Box::new(|m| m.model.description = "approved".into())),
        ("golden rtol", Box::new(|m| m.golden[0].rtol = Some(1e9))),
        ("onnxruntime pin", Box::new(|m| m.pins.onnxruntime = "*".into())),
        ("ferry version pin", Box::new(|m| m.pins.ferry_version = "0.0.1".into())),
        ("output shape", Box::new(|m| m.outputs[0].dtype = ferry_spec::DType::Float64)),
    ];
    for (what, edit) in edits {
        let forged = reassemble(&bytes, |m, _| edit(m));
        let unsigned = t.path().join("unsigned.ferry");
        std::fs::write(&unsigned, &forged).unwrap();
        let out = t.path().join(format!("{}.ferry", what.replace(' ', "-")));
        Bundle::open(&unsigned).unwrap().write_with_referrer(&out, &sig).unwrap();
        verify_fails(what, &out, &pk, &p, "artifact.signature", ".ferry/manifest.json");
        refused(what, &out, &p, &["trust.min_signatures", "Ferry manifest was changed after signing"]);
    }
    // Unsigned metadata: the OCI manifest's annotations (what a registry shows), recomputed: refused on
    // open, as not the canonical manifest.
    for (what, key) in
        [("title", "org.opencontainers.image.title"), ("version", "org.opencontainers.image.version")]
    {
        let forged = reassemble_with(
            &bytes,
            |_, _| {},
            |image| {
                image.annotations.insert(key.to_owned(), "forged".to_owned());
            },
        );
        let unsigned = t.path().join("unsigned.ferry");
        std::fs::write(&unsigned, &forged).unwrap();
        assert!(Bundle::open(&unsigned).is_err(), "{what}");
        let (code, statuses, text) = verify_statuses(&unsigned, &pk, &p);
        assert_eq!(code, 1, "{what}: {text}");
        assert_eq!(statuses["artifact.layout"], "failed", "{what}: {statuses:?}");
        refused(what, &unsigned, &p, &["canonical OCI manifest"]);
    }
    // A file blob rewritten with its digests recomputed is refused the same way.
    let forged = reassemble(&bytes, |m, blobs| {
        let forged = b"PK\x05\x06".to_vec();
        m.files.iter_mut().find(|f| f.path == "golden/smoke.expected.npz").unwrap().size =
            forged.len() as u64;
        blobs.insert("golden/smoke.expected.npz".into(), forged);
    });
    let unsigned = t.path().join("unsigned.ferry");
    std::fs::write(&unsigned, &forged).unwrap();
    let out = t.path().join("file.ferry");
    Bundle::open(&unsigned).unwrap().write_with_referrer(&out, &sig).unwrap();
    verify_fails("file", &out, &pk, &p, "artifact.signature", "golden/smoke.expected.npz");
    refused("file", &out, &p, &["trust.min_signatures"]);
}

/// Issue 10, item 3: concurrent in-place signers never lose a signature: every `ferry sign` that exits
/// 0 has its signature in the result, 20 rounds of 4 signers.
#[test]
fn concurrent_signers_keep_every_signature() {
    let t = tempdir();
    let keys: Vec<(PathBuf, PathBuf)> = (0..4).map(|i| keygen(t.path(), &format!("k{i}"))).collect();
    let b0 = packed("credit-risk", t.path());
    for round in 0..20 {
        let b = t.path().join(format!("round{round}.ferry"));
        std::fs::copy(&b0, &b).unwrap();
        let children: Vec<_> = keys
            .iter()
            .map(|(sk, _)| {
                ferry()
                    .env_remove("FERRY_KEY_PASSWORD")
                    .args(["sign", b.to_str().unwrap(), "--key", sk.to_str().unwrap()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut signed = Vec::new();
        for (i, c) in children.into_iter().enumerate() {
            let o = c.wait_with_output().unwrap();
            if o.status.success() {
                signed.push(i);
            }
        }
        assert!(!signed.is_empty(), "round {round}: no signer succeeded");
        let found = ferry_trust::inspect(
            &Bundle::open(&b).unwrap(),
            &ferry_trust::Anchors::keys(
                keys.iter().map(|(_, pk)| ferry_trust::load_public_key(pk).unwrap()).collect(),
            ),
        );
        for i in &signed {
            assert!(
                found.iter().any(|f| f.verified_by == Some(*i)),
                "round {round}: signer {i} exited 0 but its signature is missing ({} found)",
                found.len()
            );
        }
    }
}

/// Issue 10, item 10 and the compatibility rule: `unpack` then `pack` keeps every signature and
/// attestation, byte for byte; a format 1 bundle stays readable but its signature never counts, and
/// repacking keeps it as a source signature.
#[test]
fn unpack_pack_keeps_every_signature_and_format_1_signatures_never_count() {
    let t = tempdir();
    let (a, a_pub) = keygen(t.path(), "a");
    let (b_key, b_pub) = keygen(t.path(), "b");
    let b = packed("credit-risk", t.path());
    sign(&b, &a);
    sign(&b, &b_key);
    let r = report(t.path(), &b);
    attest(&b, &a, &r);
    let dir = t.path().join("u");
    ok(&["unpack", b.to_str().unwrap(), dir.to_str().unwrap()]);
    assert!(dir.join(".ferry/manifest.json").is_file());
    assert_eq!(std::fs::read_dir(dir.join(".ferry/referrers")).unwrap().count(), 3);
    let again = t.path().join("again.ferry");
    pack(&dir, &again);
    assert_eq!(std::fs::read(&b).unwrap(), std::fs::read(&again).unwrap(), "repack differs");
    let p =
        policy(t.path(), "two.toml", &[&a_pub, &b_pub], "min_signatures = 2\nrequire_attestation = true\n");
    accepted(&again, &p);

    // A stale signature fails the pack, naming it.
    std::fs::write(
        dir.join("config.json"),
        b"{\"decision_threshold\": 0.9, \"intra_op_threads\": 0, \"currency\": \"USD\"}",
    )
    .unwrap();
    let o = run(&["pack", dir.to_str().unwrap(), "-o", t.path().join("x.ferry").to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains(".ferry/referrers/001.json"), "{}", stderr(&o));

    // Format 1: readable, runs, but its signature is not counted.
    let v1 = fixture("compat/credit-risk-v1.ferry");
    let v1_pub = fixture("compat/signer.pub");
    let pv1 = policy(t.path(), "v1.toml", &[&v1_pub], "");
    verify_fails(
        "format 1",
        &v1,
        &v1_pub,
        &pv1,
        "artifact.signature",
        "format version 1 signatures do not bind",
    );
    refused("format 1", &v1, &pv1, &["trust.min_signatures", "format version 1"]);
    let o = run(&[
        "run",
        v1.to_str().unwrap(),
        "--input",
        fixture("credit-risk").join("golden/smoke.inputs.npz").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "format 1 bundles stay readable: {}", stderr(&o));
    let o = run(&[
        "sign",
        v1.to_str().unwrap(),
        "--key",
        fixture("compat/signer.key").to_str().unwrap(),
        "-o",
        t.path().join("v1s.ferry").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("format version 1 bundle cannot be signed"), "{}", stderr(&o));
    let d1 = t.path().join("v1");
    ok(&["unpack", v1.to_str().unwrap(), d1.to_str().unwrap()]);
    let v2 = t.path().join("v2.ferry");
    pack(&d1, &v2);
    let o = run(&["inspect", v2.to_str().unwrap(), "--json"]);
    assert!(stdout(&o).contains("source-signature"), "{}", stdout(&o));
}

/// Issue 10, item 10: a model directory signed by `model_signing sign key` (how a producer hands a model
/// over) packs; the signature is kept as a source signature, recorded in the provenance, shown by
/// `inspect` and `audit`, and never counted by a trust policy.
#[test]
fn a_model_signing_source_signature_is_kept_and_shown() {
    if !interop_available() {
        return;
    }
    let t = tempdir();
    let (sk, pk) = keygen(t.path(), "producer");
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let o = python(&[
        "sign",
        "key",
        "--private_key",
        sk.to_str().unwrap(),
        "--signature",
        src.join("model.sig").to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "model_signing sign: {}{}", stdout(&o), stderr(&o));
    let b = t.path().join("b.ferry");
    pack(&src, &b);
    let o = run(&["verify", b.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = run(&["inspect", b.to_str().unwrap()]);
    assert!(stdout(&o).contains("source-signature"), "{}", stdout(&o));
    let o = run(&["audit", b.to_str().unwrap(), "--key", pk.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(text.contains("source-signature") && text.contains("source signature"), "{text}");
    let provenance = Bundle::open(&b).unwrap().file(".ferry/provenance.json").unwrap().to_vec();
    assert!(String::from_utf8_lossy(&provenance).contains("source signature"));
    let p = policy(t.path(), "p.toml", &[&pk], "");
    refused("a source signature is not a bundle signature", &b, &p, &["trust.min_signatures"]);
    // Tampering with a source file after the producer signed it fails the pack.
    std::fs::write(
        src.join("config.json"),
        b"{\"decision_threshold\": 0.1, \"intra_op_threads\": 0, \"currency\": \"USD\"}",
    )
    .unwrap();
    let o = run(&["pack", src.to_str().unwrap(), "-o", t.path().join("c.ferry").to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("config.json") && stderr(&o).contains("model.sig"), "{}", stderr(&o));
}
