//! Sign → verify, determinism, every tamper's own error, a bundle written by model_signing 1.1.1, and
//! random input never panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64ct::{Base64, Encoding};
use ferry_sign::intoto::STATEMENT_TYPE;
use ferry_sign::oms::PREDICATE_TYPE;
use ferry_sign::{
    SignError, SignOptions, SigningKey, VerifyError, VerifyingKey, parse, sign, sign_statement, sign_with,
    verify,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The directory model_signing 1.1.1 signed to make `fixtures/python-signed.sig`.
fn python_fixture_view() -> Vec<(String, [u8; 32])> {
    [("a.b", "z\n"), ("a.txt", "hello\n"), ("sub.txt", "w\n"), ("sub/b.bin", "x\n"), ("sub/deep/c", "y\n")]
        .iter()
        .map(|(p, c)| ((*p).to_owned(), sha(c.as_bytes())))
        .collect()
}

fn view() -> Vec<(String, [u8; 32])> {
    vec![
        ("weights/model.onnx".to_owned(), sha(b"onnx")),
        ("ferry.toml".to_owned(), sha(b"toml")),
        ("golden/cases.json".to_owned(), sha(b"golden")),
    ]
}

fn payload_of(bundle: &[u8]) -> Value {
    let b: Value = serde_json::from_slice(bundle).unwrap();
    let payload = Base64::decode_vec(b["dsseEnvelope"]["payload"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn sign_then_verify() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign(&view(), &key).unwrap();
    let v = verify(&bundle, &view(), &key.verifying_key()).unwrap();
    assert_eq!(v.key_hint, key.verifying_key().hint());
    assert_eq!(v.signature.public_key_hint.as_deref(), Some(v.key_hint.as_str()));
    assert_eq!(v.signature.model_name, "model");
    let names: Vec<&str> = v.signature.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ferry.toml", "golden/cases.json", "weights/model.onnx"]);

    // The file view's order does not matter.
    let mut reversed = view();
    reversed.reverse();
    verify(&bundle, &reversed, &key.verifying_key()).unwrap();
    assert_eq!(sign(&reversed, &key).unwrap(), bundle);
}

#[test]
fn same_inputs_give_identical_bytes() {
    let (pem, _) = ferry_sign::keygen(None).unwrap();
    let a = sign(&view(), &SigningKey::from_pem(pem.as_str(), None).unwrap()).unwrap();
    let b = sign(&view(), &SigningKey::from_pem(pem.as_str(), None).unwrap()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn statement_shape_matches_model_signing() {
    let key = SigningKey::generate().unwrap();
    let options = SignOptions { model_name: "m".into(), ..SignOptions::default() };
    let bundle = sign_with(&python_fixture_view(), &key, &options).unwrap();
    let ours = payload_of(&bundle);

    let theirs = payload_of(include_bytes!("fixtures/python-signed.sig"));
    // model_signing writes ignore_paths in frozenset order; compare them as sets.
    let sorted_ignores = |v: &Value| {
        let mut p: Vec<String> = v["predicate"]["serialization"]["ignore_paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        p.sort();
        p
    };
    assert_eq!(sorted_ignores(&ours), sorted_ignores(&theirs));
    let strip = |mut v: Value| {
        v["predicate"]["serialization"]["ignore_paths"] = Value::Null;
        v
    };
    assert_eq!(strip(ours.clone()), strip(theirs));
    // Component-wise order: `sub/...` sorts before `sub.txt`.
    let names: Vec<&str> = ours["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.b", "a.txt", "sub/b.bin", "sub/deep/c", "sub.txt"]);
    assert_eq!(
        ours["subject"][0]["digest"]["sha256"],
        "e05ee471ffd4d87751556a2ace1e0b71dd0b740eb33bf3fb308d272475356854"
    );
}

#[test]
fn verifies_a_bundle_written_by_model_signing() {
    let bundle = include_bytes!("fixtures/python-signed.sig");
    let key = VerifyingKey::from_pem(include_str!("fixtures/python-signer.pub")).unwrap();
    let v = verify(bundle, &python_fixture_view(), &key).unwrap();
    assert_eq!(v.signature.model_name, "m");
    assert!(v.signature.serialization.is_ignored("model.sig"));
    assert!(v.signature.serialization.is_ignored(".git/HEAD"));
    assert!(!v.signature.serialization.is_ignored(".gitx"));

    let mut tampered = python_fixture_view();
    tampered[1].1[0] ^= 1;
    assert!(matches!(
        verify(bundle, &tampered, &key),
        Err(VerifyError::DigestMismatch { path, .. }) if path == "a.txt"
    ));
}

#[test]
fn parse_without_a_key() {
    let key = SigningKey::generate().unwrap();
    let bundle = sign(&view(), &key).unwrap();
    let p = parse(&bundle).unwrap();
    assert_eq!(p.public_key_hint, Some(key.verifying_key().hint()));
    assert_eq!(p.signature_count, 1);
    assert_eq!(p.resources.len(), 3);
    assert_eq!(p.serialization.method, "files");
    assert_eq!(
        p.serialization.ignore_paths,
        [".git", ".gitattributes", ".github", ".gitignore", "model.sig"]
    );
    assert_eq!(p.statement["predicateType"], PREDICATE_TYPE);
}

#[test]
fn file_view_tampering_each_has_its_own_error() {
    let key = SigningKey::generate().unwrap();
    let vk = key.verifying_key();
    let bundle = sign(&view(), &key).unwrap();

    let mut flipped = view();
    flipped[0].1[31] ^= 0x80;
    assert!(matches!(
        verify(&bundle, &flipped, &vk),
        Err(VerifyError::DigestMismatch { path, .. }) if path == "weights/model.onnx"
    ));

    let mut extra = view();
    extra.push(("extra.bin".into(), sha(b"extra")));
    assert!(
        matches!(verify(&bundle, &extra, &vk), Err(VerifyError::UnsignedFile { path }) if path == "extra.bin")
    );

    let missing = view()[1..].to_vec();
    assert!(matches!(
        verify(&bundle, &missing, &vk),
        Err(VerifyError::MissingFile { path }) if path == "weights/model.onnx"
    ));

    let mut dup = view();
    dup.push(dup[0].clone());
    assert!(matches!(verify(&bundle, &dup, &vk), Err(VerifyError::DuplicateFile { .. })));
}

#[test]
fn key_and_signature_tampering() {
    let key = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let bundle = sign(&view(), &key).unwrap();

    // Wrong key: the hint already tells.
    assert!(matches!(verify(&bundle, &view(), &other.verifying_key()), Err(VerifyError::KeyMismatch { .. })));

    // Wrong key and no hint to tell: the signature fails.
    let mut no_hint: Value = serde_json::from_slice(&bundle).unwrap();
    no_hint["verificationMaterial"].as_object_mut().unwrap().remove("publicKey");
    let no_hint = serde_json::to_vec(&no_hint).unwrap();
    verify(&no_hint, &view(), &key.verifying_key()).unwrap();
    assert!(matches!(verify(&no_hint, &view(), &other.verifying_key()), Err(VerifyError::BadSignature)));

    // A signature moved from another bundle by the same key.
    let mut other_view = view();
    other_view[0].1 = sha(b"other weights");
    let other_bundle = sign(&other_view, &key).unwrap();
    let mut swapped: Value = serde_json::from_slice(&bundle).unwrap();
    let theirs: Value = serde_json::from_slice(&other_bundle).unwrap();
    swapped["dsseEnvelope"]["signatures"] = theirs["dsseEnvelope"]["signatures"].clone();
    let swapped = serde_json::to_vec(&swapped).unwrap();
    assert!(matches!(verify(&swapped, &view(), &key.verifying_key()), Err(VerifyError::BadSignature)));

    // A payload edited after signing.
    let mut edited: Value = serde_json::from_slice(&bundle).unwrap();
    let mut statement = payload_of(&bundle);
    statement["predicate"]["resources"][0]["digest"] = json!(hex::encode(sha(b"evil")));
    edited["dsseEnvelope"]["payload"] =
        json!(Base64::encode_string(&serde_json::to_vec(&statement).unwrap()));
    let edited = serde_json::to_vec(&edited).unwrap();
    assert!(matches!(verify(&edited, &view(), &key.verifying_key()), Err(VerifyError::BadSignature)));
    // Without a key, parse still catches the inconsistent subject digest.
    assert!(matches!(parse(&edited), Err(VerifyError::SubjectDigestMismatch { .. })));

    // No signatures at all.
    let mut unsigned: Value = serde_json::from_slice(&bundle).unwrap();
    unsigned["dsseEnvelope"]["signatures"] = json!([]);
    let unsigned = serde_json::to_vec(&unsigned).unwrap();
    assert!(matches!(verify(&unsigned, &view(), &key.verifying_key()), Err(VerifyError::NoSignatures)));
}

/// An OMS-shaped statement over `view()`, for content tampering signed with a valid key.
fn oms_statement(view: &[(String, [u8; 32])]) -> Value {
    let mut ordered = view.to_vec();
    ordered.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
    let mut h = Sha256::new();
    for (_, d) in &ordered {
        h.update(d);
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "model", "digest": {"sha256": hex::encode(h.finalize())}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": false},
            "resources": ordered.iter().map(|(n, d)| json!({"name": n, "algorithm": "sha256", "digest": hex::encode(d)})).collect::<Vec<_>>(),
        }
    })
}

#[test]
fn content_tampering_signed_with_a_valid_key() {
    let key = SigningKey::generate().unwrap();
    let vk = key.verifying_key();
    let check = |statement: &Value| verify(&sign_statement(statement, &key).unwrap(), &view(), &vk);

    // The generic statement signer makes an equivalent signature that verifies (lenient on key order).
    check(&oms_statement(&view())).unwrap();

    let mut s = oms_statement(&view());
    s["predicateType"] = json!("https://model_signing/Digests/v0.1");
    assert!(matches!(check(&s), Err(VerifyError::PredicateType { found }) if found.contains("v0.1")));

    let mut s = oms_statement(&view());
    s["subject"][0]["digest"]["sha256"] = json!(hex::encode([0u8; 32]));
    assert!(matches!(check(&s), Err(VerifyError::SubjectDigestMismatch { .. })));

    let mut s = oms_statement(&view());
    let extra = s["subject"][0].clone();
    s["subject"].as_array_mut().unwrap().push(extra);
    assert!(matches!(check(&s), Err(VerifyError::SubjectCount { count: 2 })));

    let mut s = oms_statement(&view());
    s["predicate"]["serialization"]["method"] = json!("shards");
    assert!(matches!(check(&s), Err(VerifyError::UnsupportedSerialization { .. })));

    let mut s = oms_statement(&view());
    s["predicate"]["resources"][0]["algorithm"] = json!("blake3");
    assert!(matches!(check(&s), Err(VerifyError::BadResource { index: 0, .. })));

    let mut s = oms_statement(&view());
    s["predicate"]["resources"][1]["digest"] = json!("zz");
    assert!(matches!(check(&s), Err(VerifyError::BadResource { index: 1, .. })));

    let mut s = oms_statement(&view());
    s["predicate"].as_object_mut().unwrap().remove("resources");
    assert!(matches!(check(&s), Err(VerifyError::MalformedStatement { .. })));

    // Resources in another order than model_signing's verify fine: the subject digest follows their order.
    let mut shuffled = view();
    shuffled.swap(0, 2);
    let mut s = oms_statement(&shuffled);
    let resources = s["predicate"]["resources"].as_array_mut().unwrap();
    resources.reverse();
    let mut h = Sha256::new();
    for r in resources.iter() {
        h.update(hex::decode(r["digest"].as_str().unwrap()).unwrap());
    }
    s["subject"][0]["digest"]["sha256"] = json!(hex::encode(h.finalize()));
    check(&s).unwrap();

    // Duplicate resource names.
    let mut s = oms_statement(&view());
    let first = s["predicate"]["resources"][0].clone();
    s["predicate"]["resources"].as_array_mut().unwrap().push(first);
    let mut h = Sha256::new();
    for r in s["predicate"]["resources"].as_array().unwrap() {
        h.update(hex::decode(r["digest"].as_str().unwrap()).unwrap());
    }
    s["subject"][0]["digest"]["sha256"] = json!(hex::encode(h.finalize()));
    assert!(matches!(check(&s), Err(VerifyError::DuplicateResource { .. })));
}

#[test]
fn malformed_bundles() {
    let key = SigningKey::generate().unwrap();
    let vk = key.verifying_key();
    assert!(matches!(verify(b"not json", &view(), &vk), Err(VerifyError::MalformedBundle { .. })));
    assert!(matches!(parse(b"{}"), Err(VerifyError::MalformedBundle { .. })));

    let bundle = sign(&view(), &key).unwrap();
    let mut bad: Value = serde_json::from_slice(&bundle).unwrap();
    bad["dsseEnvelope"]["payload"] = json!("%%%not base64%%%");
    assert!(
        matches!(parse(&serde_json::to_vec(&bad).unwrap()), Err(VerifyError::Base64 { field }) if field == "dsseEnvelope.payload")
    );

    let mut bad: Value = serde_json::from_slice(&bundle).unwrap();
    bad["dsseEnvelope"]["signatures"][0]["sig"] = json!("%%");
    assert!(matches!(
        verify(&serde_json::to_vec(&bad).unwrap(), &view(), &vk),
        Err(VerifyError::Base64 { .. })
    ));

    let mut bad: Value = serde_json::from_slice(&bundle).unwrap();
    bad["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v0.1+json");
    assert!(matches!(
        parse(&serde_json::to_vec(&bad).unwrap()),
        Err(VerifyError::UnsupportedMediaType { .. })
    ));

    let mut bad: Value = serde_json::from_slice(&bundle).unwrap();
    bad["dsseEnvelope"]["payloadType"] = json!("application/json");
    assert!(matches!(parse(&serde_json::to_vec(&bad).unwrap()), Err(VerifyError::PayloadType { .. })));
    assert!(matches!(
        verify(&serde_json::to_vec(&bad).unwrap(), &view(), &vk),
        Err(VerifyError::BadSignature)
    ));

    // Lenient: keyid and tlogEntries absent.
    let mut lean: Value = serde_json::from_slice(&bundle).unwrap();
    lean["dsseEnvelope"]["signatures"][0].as_object_mut().unwrap().remove("keyid");
    lean["verificationMaterial"].as_object_mut().unwrap().remove("tlogEntries");
    lean["verificationMaterial"]["publicKey"]["rawBytes"] = json!(Base64::encode_string(b"ignored"));
    verify(&serde_json::to_vec(&lean).unwrap(), &view(), &vk).unwrap();
}

#[test]
fn sign_rejects_bad_views() {
    let key = SigningKey::generate().unwrap();
    let one = |p: &str| vec![(p.to_owned(), [0u8; 32])];
    assert!(matches!(sign(&[], &key), Err(SignError::NoFiles)));
    for bad in ["", "/abs", "a//b", "a/", "./a", "a/../b", "a\\b", "..", "a\0b"] {
        assert!(matches!(sign(&one(bad), &key), Err(SignError::InvalidPath { .. })), "{bad:?}");
    }
    for ignored in [".git/config", "model.sig", ".github/workflows/x.yml"] {
        assert!(matches!(sign(&one(ignored), &key), Err(SignError::IgnoredPath { .. })), "{ignored}");
    }
    // Only whole components match an ignore path.
    sign(&one(".gitx"), &key).unwrap();
    sign(&one("model.sig.bak"), &key).unwrap();
    // Ignore paths are the caller's to choose.
    let none = SignOptions { ignore_paths: vec![], ..SignOptions::default() };
    let bundle = sign_with(&one("model.sig"), &key, &none).unwrap();
    assert!(payload_of(&bundle)["predicate"]["serialization"].get("ignore_paths").is_none());
    let bad_ignore = SignOptions { ignore_paths: vec!["/etc".into()], ..SignOptions::default() };
    assert!(matches!(sign_with(&one("a"), &key, &bad_ignore), Err(SignError::InvalidIgnorePath { .. })));

    let mut dup = view();
    dup.push(dup[1].clone());
    assert!(matches!(sign(&dup, &key), Err(SignError::DuplicatePath { path }) if path == "ferry.toml"));
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn fixture() -> &'static (Vec<u8>, VerifyingKey) {
        static FIXTURE: std::sync::OnceLock<(Vec<u8>, VerifyingKey)> = std::sync::OnceLock::new();
        FIXTURE.get_or_init(|| {
            let key = SigningKey::generate().unwrap();
            (sign(&view(), &key).unwrap(), key.verifying_key())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let (_, vk) = fixture();
            let _ = parse(&bytes);
            let _ = verify(&bytes, &view(), vk);
            let _ = ferry_sign::verify_statement(&bytes, vk);
        }

        #[test]
        fn mutated_bundles_never_panic_nor_verify_other_content(
            pos in any::<prop::sample::Index>(), xor in 1u8..=255, cut in any::<prop::sample::Index>()
        ) {
            let (bundle, vk) = fixture();
            let mut flipped = bundle.clone();
            let bundle = bundle.as_slice();
            let i = pos.index(flipped.len());
            flipped[i] ^= xor;
            if let Ok(v) = verify(&flipped, &view(), vk) {
                // Only a change that leaves the signed content intact may pass (e.g. in `keyid`).
                prop_assert_eq!(v.signature.resources, parse(bundle).unwrap().resources);
            }
            let _ = parse(&flipped);
            let truncated = &bundle[..cut.index(bundle.len())];
            prop_assert!(verify(truncated, &view(), vk).is_err());
            let _ = parse(truncated);
        }

        #[test]
        fn random_statements_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let key = SigningKey::generate().unwrap();
            let bundle = serde_json::to_vec(&json!({
                "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "dsseEnvelope": {"payload": Base64::encode_string(&payload), "payloadType": "application/vnd.in-toto+json", "signatures": [{"sig": ""}]}
            })).unwrap();
            let _ = parse(&bundle);
            let _ = verify(&bundle, &view(), &key.verifying_key());
        }
    }
}
