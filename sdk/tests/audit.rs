//! `ferry::audit` end to end on a real bundle: packed from the credit-risk fixture, signed and attested
//! with the committed throwaway key (`fixtures/compat/signer.key`), audited with and without that key.
//! The human and JSON renderings are compared whole with `sdk/tests/snapshots/` (bless with
//! `FERRY_BLESS=1 cargo test -p ferry --test audit`).

#![allow(clippy::unwrap_used)]

use ferry::audit::{Audit, Readable};
use ferry::bundle::Bundle;
use ferry_testkit::{fixture, root, snapshot};
use std::path::Path;

/// What a snapshot shows for a digest that depends on the Ferry version or the CI environment.
const DIGEST: &str = "sha256:<depends on the Ferry version>";

/// Replaces what legitimately changes between releases and machines, so the snapshot changes only when
/// the audit does. The bundle's bytes record the Ferry version and, in CI, the repository and commit
/// (`ferry_packager::provenance::source_repo_from_env`), so its manifest digest, the digests of its
/// generated files and of every signature over it, the builder id and Ferry's SBOM version vary. The
/// source tree digest and the key hint do not: they are kept.
fn normalise(mut a: Audit) -> Audit {
    a.model.digest = DIGEST.into();
    for p in &mut a.provenance {
        p.digest = format!("{} ({DIGEST})", p.digest.split(' ').next().unwrap());
        if let Readable::Read(s) = &mut p.content {
            s.builder = s.builder.as_ref().map(|b| format!("{}@<version>", b.split('@').next().unwrap()));
            s.source = None;
            s.resolved_dependencies.retain(|d| !d.digests.iter().any(|d| d.starts_with("gitCommit:")));
        }
    }
    for b in &mut a.sbom {
        b.digest = format!("{} ({DIGEST})", b.digest.split(' ').next().unwrap());
        if let Readable::Read(s) = &mut b.content {
            for c in s.components.iter_mut().filter(|c| c.name == "ferry") {
                c.version = Some("<version>".into());
            }
        }
    }
    for r in a.signatures.iter_mut().chain(&mut a.attestations).chain(&mut a.source_signatures) {
        r.digest = DIGEST.into();
    }
    a
}

#[test]
fn audit_of_a_signed_and_attested_bundle_matches_its_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let packed = dir.path().join("packed.ferry");
    ferry::packager::pack(&fixture("credit-risk"), &packed).unwrap();
    let key_dir = root().join("fixtures/compat");
    let key = ferry::trust::load_signing_key(&key_dir.join("signer.key"), None).unwrap();
    let signed = dir.path().join("signed.ferry");
    ferry::trust::sign(&Bundle::open(&packed).unwrap(), &key, &signed).unwrap();
    // A minimal report: a real `ferry verify` report carries timings, which a snapshot cannot.
    let report = serde_json::json!({
        "tool": {"name": "ferry", "version": "0.0.0"},
        "passed": true,
        "checks": [
            {"id": "artifact.digest", "status": "passed"},
            {"id": "golden.outputs", "status": "passed"},
            {"id": "perf.latency", "status": "skipped"},
        ],
    });
    let attested = dir.path().join("attested.ferry");
    ferry::trust::attest(&Bundle::open(&signed).unwrap(), &key, report, &attested).unwrap();
    let bundle = Bundle::open(&attested).unwrap();

    let public = ferry::trust::load_public_key(&key_dir.join("signer.pub")).unwrap();
    let with_key =
        ferry::audit::audit(&bundle, &ferry::trust::Anchors::keys(vec![public]), &["signer.pub".into()]);
    assert!(with_key.digests_ok);
    assert!(with_key.signatures.iter().chain(&with_key.attestations).all(|r| r.verified), "{with_key}");
    let without = ferry::audit::audit(&bundle, &ferry::trust::Anchors::default(), &[]);
    assert!(without.signatures.iter().all(|r| r.why_not.as_deref() == Some("no key given")), "{without}");

    let (with_key, without) = (normalise(with_key), normalise(without));
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let failures: Vec<String> = [
        ("audit.txt", with_key.to_string()),
        ("audit.json", serde_json::to_string_pretty(&with_key).unwrap() + "\n"),
        ("audit-no-keys.txt", without.to_string()),
    ]
    .iter()
    .filter_map(|(name, text)| snapshot::check(&snapshots, name, text))
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A bundle with feature transforms (`fixtures/credit-application`, unsigned): the audit adds the
/// component pins and the build after the SBOM.
#[test]
fn audit_of_a_bundle_with_transforms_matches_its_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let packed = dir.path().join("credit-application.ferry");
    ferry::packager::pack(&fixture("credit-application"), &packed).unwrap();
    let audit = ferry::audit::audit(&Bundle::open(&packed).unwrap(), &ferry::trust::Anchors::default(), &[]);
    assert!(audit.digests_ok);
    let t = audit.transforms.as_ref().expect("the transforms are audited");
    assert!(t.components.iter().all(|c| c.matches_file), "{audit}");
    let audit = normalise(audit);
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let failures: Vec<String> = [
        ("audit-transforms.txt", audit.to_string()),
        ("audit-transforms.json", serde_json::to_string_pretty(&audit).unwrap() + "\n"),
    ]
    .iter()
    .filter_map(|(name, text)| snapshot::check(&snapshots, name, text))
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
