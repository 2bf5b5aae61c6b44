//! Integration tests of `ferry-trust` (issue 11): the `[trust]` rules `check` applies (count, distinct
//! signers, attestation), what `inspect` reports for untrusted, tampered and format 1 signatures, how
//! referrers are classified, and `anchors` errors. Bundles are packed from `fixtures/credit-risk` into a
//! temporary directory and signed through this crate's own `sign` and `attest`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::{Bundle, Referrer};
use ferry_sign::{SigningKey, VerifyingKey};
use ferry_spec::policy::Trust;
use ferry_testkit::{copy_dir, fixture, pack_to};
use ferry_trust::{Anchors, Found, KEY_HINT_ANNOTATION, KIND_ANNOTATION, Kind, SIGSTORE_BUNDLE, TrustError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// `fixtures/credit-risk` packed into `dir` (format 2, no signatures).
fn packed(dir: &Path) -> PathBuf {
    let out = dir.join("unsigned.ferry");
    pack_to(&fixture("credit-risk"), &out);
    out
}

/// A fresh key pair; the public key is written to `dir/<name>.pub` (for policies naming it).
fn keygen(dir: &Path, name: &str) -> (SigningKey, VerifyingKey) {
    let key = SigningKey::generate().unwrap();
    let public = key.verifying_key();
    std::fs::write(dir.join(format!("{name}.pub")), public.to_pem().as_str()).unwrap();
    (key, public)
}

/// `bundle` signed by `key`, written to `dir/<name>.ferry`.
fn signed(bundle: &Path, key: &SigningKey, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.ferry"));
    ferry_trust::sign(&Bundle::open(bundle).unwrap(), key, &out).unwrap();
    out
}

/// `bundle` with an attestation by `key`, written to `dir/<name>.ferry`.
fn attested(bundle: &Path, key: &SigningKey, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.ferry"));
    let report = serde_json::json!({"verifier_version": "test", "checks": [{"name": "artifact.digest", "status": "passed"}]});
    ferry_trust::attest(&Bundle::open(bundle).unwrap(), key, report, &out).unwrap();
    out
}

/// `bundle` with `referrer` added, written to `dir/<name>.ferry`.
fn with_referrer(bundle: &Path, referrer: &Referrer, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.ferry"));
    Bundle::open(bundle).unwrap().write_with_referrer(&out, referrer).unwrap();
    out
}

/// A signature referrer exactly as `ferry_trust::sign` writes one, around `blob`.
fn signature_referrer(blob: Vec<u8>, kind: &str, hint: &str) -> Referrer {
    Referrer {
        artifact_type: SIGSTORE_BUNDLE.to_owned(),
        media_type: SIGSTORE_BUNDLE.to_owned(),
        blob,
        annotations: BTreeMap::from([
            (KIND_ANNOTATION.to_owned(), kind.to_owned()),
            (KEY_HINT_ANNOTATION.to_owned(), hint.to_owned()),
        ]),
    }
}

/// The blob of the only referrer of `kind` in `bundle`.
fn referrer_blob(bundle: &Path, kind: Kind) -> Vec<u8> {
    let b = Bundle::open(bundle).unwrap();
    let mut of_kind = b
        .referrers()
        .iter()
        .filter(|r| r.annotations.get(KIND_ANNOTATION).map(String::as_str) == Some(kind.name()));
    let r = of_kind.next().unwrap();
    assert!(of_kind.next().is_none(), "more than one {} referrer", kind.name());
    b.blob(&r.blob_digest).unwrap().to_vec()
}

/// A `[trust]` table naming key files (relative to the policy directory).
fn trust(keys: &[&str], min_signatures: Option<u32>, require_attestation: bool) -> Trust {
    Trust {
        keys: keys.iter().map(|k| format!("{k}.pub")).collect(),
        min_signatures,
        require_attestation,
        ..Trust::default()
    }
}

/// Loads the table's anchors from `dir` (as a policy in `dir` would) and applies it to `bundle`.
fn check(bundle: &Path, trust: &Trust, dir: &Path) -> Result<Vec<Found>, TrustError> {
    let anchors = ferry_trust::anchors(trust, dir).unwrap();
    ferry_trust::check(&Bundle::open(bundle).unwrap(), trust, &anchors)
}

/// The rule and message of a rule failure.
fn rule_failure(result: Result<Vec<Found>, TrustError>) -> (String, String) {
    match result {
        Err(TrustError::Rule { rule, message }) => (rule, message),
        Err(other) => panic!("expected a rule failure, got {other}"),
        Ok(found) => panic!("expected a rule failure, the bundle passed: {found:?}"),
    }
}

fn inspect(bundle: &Path, keys: Vec<VerifyingKey>) -> Vec<Found> {
    ferry_trust::inspect(&Bundle::open(bundle).unwrap(), &Anchors::keys(keys))
}

#[test]
fn two_signatures_by_two_trusted_keys_meet_min_signatures_2() {
    let t = TempDir::new().unwrap();
    let (a, _) = keygen(t.path(), "a");
    let (b, _) = keygen(t.path(), "b");
    let unsigned = packed(t.path());
    let one = signed(&unsigned, &a, t.path(), "one");
    let two = signed(&one, &b, t.path(), "two");
    let policy = trust(&["a", "b"], Some(2), false);

    let found = check(&two, &policy, t.path()).unwrap();
    let mut by: Vec<Option<usize>> =
        found.iter().filter(|f| f.kind == Kind::Signature).map(|f| f.verified_by).collect();
    by.sort_unstable();
    assert_eq!(by, [Some(0), Some(1)], "{found:?}");

    // One of the two is not enough, and three are not there.
    let (rule, message) = rule_failure(check(&one, &policy, t.path()));
    assert_eq!(rule, "trust.min_signatures");
    assert!(message.contains("2 signature(s)") && message.contains("1 found valid"), "{message}");
    let (rule, message) = rule_failure(check(&two, &trust(&["a", "b"], Some(3), false), t.path()));
    assert_eq!(rule, "trust.min_signatures");
    assert!(message.contains("2 found valid"), "{message}");
}

#[test]
fn two_signatures_by_the_same_key_are_one_signer() {
    let t = TempDir::new().unwrap();
    let (a, a_pub) = keygen(t.path(), "a");
    let (b, _) = keygen(t.path(), "b");
    let unsigned = packed(t.path());
    let one = signed(&unsigned, &a, t.path(), "one");

    // Signing again with the same key is idempotent: nothing is added.
    let again = signed(&one, &a, t.path(), "again");
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&again).unwrap());

    // A second, different and valid signature by the same key (another subject name over the same
    // signed view), attached as a signature.
    let view = ferry_trust::signed_view(&Bundle::open(&unsigned).unwrap()).unwrap();
    let options = ferry_sign::SignOptions {
        model_name: "another-name".to_owned(),
        ignore_paths: vec![ferry_spec::media::REFERRERS_DIR.to_owned()],
    };
    let blob = ferry_sign::sign_with(&view, &a, &options).unwrap();
    assert_ne!(blob, referrer_blob(&one, Kind::Signature));
    let twice = with_referrer(&one, &signature_referrer(blob, "signature", &a_pub.hint()), t.path(), "twice");

    // Both signatures verify on their own, by key 0 ...
    let found = inspect(&twice, vec![a_pub]);
    let sigs: Vec<&Found> = found.iter().filter(|f| f.kind == Kind::Signature).collect();
    assert_eq!(sigs.len(), 2, "{found:?}");
    assert!(sigs.iter().all(|f| f.verified_by == Some(0) && f.error.is_none()), "{found:?}");

    // ... and count once: min_signatures = 2 fails, naming the rule.
    let policy = trust(&["a", "b"], Some(2), false);
    let result = check(&twice, &policy, t.path());
    let text = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(text.contains("trust.min_signatures"), "{text}");
    let (rule, message) = rule_failure(result);
    assert_eq!(rule, "trust.min_signatures");
    assert!(message.contains("distinct"), "{message}");
    assert!(message.contains("1 found valid among 2 signature(s)"), "{message}");

    // A second key makes two distinct signers.
    let three = signed(&twice, &b, t.path(), "three");
    check(&three, &policy, t.path()).unwrap();
}

#[test]
fn a_signature_by_an_untrusted_key_does_not_count() {
    let t = TempDir::new().unwrap();
    let (_, a_pub) = keygen(t.path(), "a");
    let (stranger, _) = keygen(t.path(), "stranger");
    let unsigned = packed(t.path());
    let b = signed(&unsigned, &stranger, t.path(), "by-stranger");

    let found = inspect(&b, vec![a_pub]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, Kind::Signature);
    assert_eq!(found[0].verified_by, None);
    assert!(!found[0].verified());
    assert!(found[0].error.is_some(), "{found:?}");

    // A policy requiring 1 signature (the default when keys are listed) fails.
    for min in [Some(1), None] {
        let (rule, message) = rule_failure(check(&b, &trust(&["a"], min, false), t.path()));
        assert_eq!(rule, "trust.min_signatures");
        assert!(message.contains("0 found valid among 1 signature(s)"), "{message}");
    }
    // An unsigned bundle fails the same way.
    let (rule, _) = rule_failure(check(&unsigned, &trust(&["a"], None, false), t.path()));
    assert_eq!(rule, "trust.min_signatures");
    // Trusting the stranger's key makes it count.
    check(&b, &trust(&["stranger"], None, false), t.path()).unwrap();
}

#[test]
fn a_required_attestation_must_be_present_and_trusted() {
    let t = TempDir::new().unwrap();
    let (a, _) = keygen(t.path(), "a");
    let (stranger, _) = keygen(t.path(), "stranger");
    let unsigned = packed(t.path());
    let one = signed(&unsigned, &a, t.path(), "one");
    let policy = trust(&["a"], None, true);

    // Without an attestation: fails, naming the rule.
    let (rule, message) = rule_failure(check(&one, &policy, t.path()));
    assert_eq!(rule, "trust.require_attestation");
    assert!(message.contains("attestation"), "{message}");
    // Not required: the same bundle passes.
    check(&one, &trust(&["a"], None, false), t.path()).unwrap();

    // With one by a trusted key: passes, and it verifies as an attestation.
    let att = attested(&one, &a, t.path(), "attested");
    let found = check(&att, &policy, t.path()).unwrap();
    let attestations: Vec<&Found> = found.iter().filter(|f| f.kind == Kind::Attestation).collect();
    assert_eq!(attestations.len(), 1, "{found:?}");
    assert_eq!(attestations[0].verified_by, Some(0));
    assert_eq!(
        attestations[0].statement.as_ref().unwrap()["predicateType"],
        ferry_trust::ATTESTATION_PREDICATE
    );

    // One by an untrusted key does not count.
    let by_stranger = attested(&one, &stranger, t.path(), "attested-by-stranger");
    let (rule, _) = rule_failure(check(&by_stranger, &policy, t.path()));
    assert_eq!(rule, "trust.require_attestation");

    // An attestation is not a signature: alone, it does not meet min_signatures.
    let only_attested = attested(&unsigned, &a, t.path(), "only-attested");
    let (rule, message) = rule_failure(check(&only_attested, &trust(&["a"], None, false), t.path()));
    assert_eq!(rule, "trust.min_signatures");
    assert!(message.contains("among 0 signature(s)"), "{message}");
}

#[test]
fn an_attestation_of_another_bundle_does_not_count() {
    let t = TempDir::new().unwrap();
    let (a, _) = keygen(t.path(), "a");
    let unsigned = packed(t.path());
    let one = signed(&unsigned, &a, t.path(), "one");

    // Another bundle: the same source with another version.
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    std::fs::write(src.join("ferry.toml"), toml.replacen("version = \"1.0.0\"", "version = \"1.0.1\"", 1))
        .unwrap();
    let other = t.path().join("other.ferry");
    pack_to(&src, &other);
    let other_attested = attested(&other, &a, t.path(), "other-attested");
    assert_ne!(
        Bundle::open(&other).unwrap().manifest_digest(),
        Bundle::open(&unsigned).unwrap().manifest_digest()
    );

    // Its attestation, moved onto `one`, is reported unverified and does not satisfy the policy.
    let blob = referrer_blob(&other_attested, Kind::Attestation);
    let moved = with_referrer(
        &one,
        &signature_referrer(blob, "attestation", &a.verifying_key().hint()),
        t.path(),
        "moved",
    );
    let found = inspect(&moved, vec![a.verifying_key()]);
    let att = found.iter().find(|f| f.kind == Kind::Attestation).unwrap();
    assert_eq!(att.verified_by, None);
    assert!(att.error.as_deref().unwrap_or_default().contains("another bundle"), "{att:?}");
    let (rule, _) = rule_failure(check(&moved, &trust(&["a"], None, true), t.path()));
    assert_eq!(rule, "trust.require_attestation");
}

#[test]
fn a_tampered_signature_does_not_count() {
    let t = TempDir::new().unwrap();
    let (a, a_pub) = keygen(t.path(), "a");
    let unsigned = packed(t.path());
    let one = signed(&unsigned, &a, t.path(), "one");
    let blob = referrer_blob(&one, Kind::Signature);
    let decoded = ferry_sign::bundle::decode(&blob).unwrap();
    let hint = decoded.public_key_hint.clone().unwrap();
    assert_eq!(hint, a_pub.hint());

    // Control: the signature re-encoded unchanged, re-attached, still verifies.
    let same = ferry_sign::bundle::encode(&decoded.envelope, &hint).unwrap();
    let control =
        with_referrer(&unsigned, &signature_referrer(same, "signature", &hint), t.path(), "control");
    let found = inspect(&control, vec![a_pub]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].verified_by, Some(0), "{found:?}");

    // One byte of the DSSE signature flipped (the last byte of the DER: still a well-formed signature).
    let mut envelope = decoded.envelope.clone();
    let sig = &mut envelope.signatures[0].sig;
    let last = sig.len() - 1;
    sig[last] ^= 0x01;
    let flipped = ferry_sign::bundle::encode(&envelope, &hint).unwrap();
    assert_ne!(flipped, blob);
    let tampered =
        with_referrer(&unsigned, &signature_referrer(flipped, "signature", &hint), t.path(), "tampered");

    let found = inspect(&tampered, vec![a_pub]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, Kind::Signature);
    assert_eq!(found[0].verified_by, None, "{found:?}");
    assert!(!found[0].verified());
    let error = found[0].error.as_deref().expect("a tampered signature is reported with an error");
    assert!(error.contains("no DSSE signature verifies"), "{error}");

    let (rule, message) = rule_failure(check(&tampered, &trust(&["a"], Some(1), false), t.path()));
    assert_eq!(rule, "trust.min_signatures");
    assert!(message.contains("0 found valid") && message.contains(error), "{message}");
}

#[test]
fn format_1_signatures_never_count() {
    let t = TempDir::new().unwrap();
    let v1 = fixture("compat/credit-risk-v1.ferry");
    let key = ferry_trust::load_public_key(&fixture("compat/signer.pub")).unwrap();
    let bundle = Bundle::open(&v1).unwrap();
    assert_eq!(bundle.manifest().format_version, 1);
    assert!(ferry_trust::signed_view(&bundle).is_none());

    // `inspect` reports the signature, by the fixture's key, unverified, saying why.
    let found = ferry_trust::inspect(&bundle, &Anchors::keys(vec![key]));
    let sigs: Vec<&Found> = found.iter().filter(|f| f.kind == Kind::Signature).collect();
    assert_eq!(sigs.len(), 1, "{found:?}");
    assert_eq!(sigs[0].key_hint.as_deref(), Some(key.hint().as_str()));
    assert_eq!(sigs[0].verified_by, None);
    assert!(!sigs[0].verified());
    assert_eq!(sigs[0].error.as_deref(), Some(ferry_trust::V1_SIGNATURE));

    // `check` fails with the trusted key, naming the rule and the reason.
    let policy = Trust { keys: vec![fixture("compat/signer.pub").display().to_string()], ..Trust::default() };
    let anchors = ferry_trust::anchors(&policy, t.path()).unwrap();
    let (rule, message) = rule_failure(ferry_trust::check(&bundle, &policy, &anchors));
    assert_eq!(rule, "trust.min_signatures");
    assert!(message.contains(ferry_trust::V1_SIGNATURE), "{message}");

    // It cannot be signed again.
    let signer = ferry_trust::load_signing_key(&fixture("compat/signer.key"), None).unwrap();
    match ferry_trust::sign(&bundle, &signer, &t.path().join("v1-signed.ferry")) {
        Err(TrustError::Rule { rule, message }) => {
            assert_eq!(rule, "format_version");
            assert!(message.contains("format version 1 bundle cannot be signed"), "{message}");
        }
        other => panic!("signing a format 1 bundle: {other:?}"),
    }
    assert!(!t.path().join("v1-signed.ferry").exists());
}

#[test]
fn referrers_are_classified_by_kind() {
    assert_eq!(Kind::Signature.name(), "signature");
    assert_eq!(Kind::Attestation.name(), "attestation");
    assert_eq!(Kind::SourceSignature.name(), "source-signature");

    let t = TempDir::new().unwrap();
    let (a, a_pub) = keygen(t.path(), "a");
    let unsigned = packed(t.path());
    let one = signed(&unsigned, &a, t.path(), "one");
    let both = attested(&one, &a, t.path(), "both");

    // What `sign` and `attest` write is annotated with its kind and the key hint.
    let b = Bundle::open(&both).unwrap();
    let mut kinds: Vec<&str> =
        b.referrers().iter().map(|r| r.annotations[KIND_ANNOTATION].as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["attestation", "signature"]);
    assert!(b.referrers().iter().all(|r| r.artifact_type == SIGSTORE_BUNDLE
        && r.annotations.get(KEY_HINT_ANNOTATION) == Some(&a_pub.hint())));

    // `inspect` classifies them, each verified by the key.
    let found = inspect(&both, vec![a_pub]);
    let mut seen: Vec<(&str, Option<usize>)> = found.iter().map(|f| (f.kind.name(), f.verified_by)).collect();
    seen.sort_unstable();
    assert_eq!(seen, [("attestation", Some(0)), ("signature", Some(0))], "{found:?}");
    let sig = found.iter().find(|f| f.kind == Kind::Signature).unwrap();
    assert_eq!(sig.key_hint.as_deref(), Some(a_pub.hint().as_str()));
    assert!(!sig.is_keyless());
    assert_eq!(sig.statement.as_ref().unwrap()["predicateType"], "https://model_signing/signature/v1.0");
    let parsed = ferry_trust::parse_signature(&referrer_blob(&both, Kind::Signature)).unwrap();
    assert!(!ferry_trust::is_source_signature(&parsed));
    assert!(ferry_trust::parse_signature(&referrer_blob(&both, Kind::Attestation)).is_none());

    // A signature relabelled as an attestation is not a verified attestation, and no longer a signature.
    let relabelled = with_referrer(
        &unsigned,
        &signature_referrer(referrer_blob(&one, Kind::Signature), "attestation", &a_pub.hint()),
        t.path(),
        "relabelled",
    );
    let found = inspect(&relabelled, vec![a_pub]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, Kind::Attestation);
    assert!(!found[0].verified(), "{found:?}");
    let (rule, _) = rule_failure(check(&relabelled, &trust(&["a"], None, false), t.path()));
    assert_eq!(rule, "trust.min_signatures");

    // A source signature (over the bundled source files only, as `model_signing sign` makes one)
    // verifies with its key but is never counted.
    let view = ferry_trust::file_view(&Bundle::open(&unsigned).unwrap());
    let sources: Vec<(String, [u8; 32])> =
        view.into_iter().filter(|(p, _)| !p.starts_with(".ferry/")).collect();
    let blob = ferry_sign::sign(&sources, &a).unwrap();
    assert!(ferry_trust::is_source_signature(&ferry_trust::parse_signature(&blob).unwrap()));
    let source_signed = with_referrer(
        &unsigned,
        &signature_referrer(blob, "source-signature", &a_pub.hint()),
        t.path(),
        "source",
    );
    let found = inspect(&source_signed, vec![a_pub]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, Kind::SourceSignature);
    assert_eq!(found[0].verified_by, Some(0), "{found:?}");
    let (rule, message) = rule_failure(check(&source_signed, &trust(&["a"], None, false), t.path()));
    assert_eq!(rule, "trust.min_signatures");
    assert!(message.contains("among 0 signature(s)"), "{message}");

    // A referrer of another artifact type is not a signature or attestation at all.
    let other = Referrer {
        artifact_type: "application/vnd.example.other".to_owned(),
        media_type: "application/octet-stream".to_owned(),
        blob: b"not a signature".to_vec(),
        annotations: BTreeMap::from([(KIND_ANNOTATION.to_owned(), "signature".to_owned())]),
    };
    let foreign = with_referrer(&one, &other, t.path(), "foreign");
    assert_eq!(Bundle::open(&foreign).unwrap().referrers().len(), 2);
    let found = inspect(&foreign, vec![a_pub]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, Kind::Signature);
}

#[test]
fn anchors_name_a_missing_or_bad_key_file() {
    let t = TempDir::new().unwrap();
    let policy = Trust { keys: vec!["keys/missing.pub".to_owned()], ..Trust::default() };
    let err = ferry_trust::anchors(&policy, t.path()).unwrap_err();
    let path = t.path().join("keys/missing.pub").display().to_string();
    match &err {
        TrustError::Key { path: p, .. } => assert_eq!(p, &path),
        other => panic!("expected a key error, got {other}"),
    }
    assert!(err.to_string().starts_with(&format!("{path}: ")), "{err}");

    std::fs::write(t.path().join("bad.pub"), "not a key").unwrap();
    let policy = Trust { keys: vec!["bad.pub".to_owned()], ..Trust::default() };
    let err = ferry_trust::anchors(&policy, t.path()).unwrap_err();
    assert!(matches!(err, TrustError::Key { .. }), "{err}");
    assert!(err.to_string().contains(&t.path().join("bad.pub").display().to_string()), "{err}");

    // The keys load in order; no identities means no Sigstore root.
    keygen(t.path(), "a");
    keygen(t.path(), "b");
    let anchors = ferry_trust::anchors(&trust(&["b", "a"], None, false), t.path()).unwrap();
    assert_eq!(anchors.keys.len(), 2);
    assert_eq!(anchors.keys[0], ferry_trust::load_public_key(&t.path().join("b.pub")).unwrap());
    assert!(anchors.identities.is_empty() && anchors.root.is_none());
}

/// With several trusted keys, a tampered signature is reported with the error of the key that made it
/// (its hint names it), not with whatever the last key tried said: otherwise a policy listing `[a, b]`
/// reports an `a` signature whose bytes were flipped as "key mismatch ... b", as though `a` had not
/// signed it.
#[test]
fn a_tampered_signature_is_reported_against_the_key_that_made_it() {
    let t = TempDir::new().unwrap();
    let (a, a_pub) = keygen(t.path(), "a");
    let (_, b_pub) = keygen(t.path(), "b");
    let unsigned = packed(t.path());
    let one = signed(&unsigned, &a, t.path(), "one");
    let decoded = ferry_sign::bundle::decode(&referrer_blob(&one, Kind::Signature)).unwrap();
    let mut envelope = decoded.envelope;
    let sig = &mut envelope.signatures[0].sig;
    let last = sig.len() - 1;
    sig[last] ^= 0x01;
    let flipped = ferry_sign::bundle::encode(&envelope, &a_pub.hint()).unwrap();
    let tampered = with_referrer(
        &unsigned,
        &signature_referrer(flipped, "signature", &a_pub.hint()),
        t.path(),
        "tampered",
    );
    for keys in [vec![a_pub, b_pub], vec![b_pub, a_pub]] {
        let found = inspect(&tampered, keys);
        assert_eq!(found[0].verified_by, None);
        let error = found[0].error.as_deref().unwrap_or_default();
        assert!(error.contains("no DSSE signature verifies"), "{error}");
    }
}
