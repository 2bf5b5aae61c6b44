//! Keyless verification on recorded public-good Sigstore material (see `data/README.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use ferry_keyless::{Certified, KeylessError, TrustRoot, is_keyless, verify};
use ferry_spec::policy::Identity;
use serde_json::Value;

const BUNDLE: &str = include_str!("data/conda-attestation.sigstore.json");
const SUBJECT: &str =
    "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn subject_digest() -> [u8; 32] {
    // The artifact itself, hashed here rather than read from the statement.
    let artifact = include_bytes!("data/signed-package-2.1.0-hb0f4dca_0.conda");
    use sha2::Digest as _;
    sha2::Sha256::digest(artifact).into()
}

fn edited(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(BUNDLE).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn b64_flip(text: &str, index: usize) -> String {
    use base64ct::{Base64, Encoding as _};
    let mut bytes = Base64::decode_vec(text).unwrap();
    let i = index % bytes.len();
    bytes[i] ^= 0x01;
    Base64::encode_string(&bytes)
}

fn root() -> TrustRoot {
    TrustRoot::public_good().unwrap()
}

#[test]
fn recorded_bundle_verifies_and_names_its_signer() {
    assert!(is_keyless(BUNDLE.as_bytes()));
    let signer = verify(BUNDLE.as_bytes(), &subject_digest(), &root()).unwrap();
    assert_eq!(signer.subject, SUBJECT);
    assert_eq!(signer.issuer, ISSUER);
    assert!(signer.logged_at.as_deref().unwrap().starts_with("2025-09-01T"), "{signer:?}");
}

#[test]
fn identities_are_matched_exactly() {
    let signer = verify(BUNDLE.as_bytes(), &subject_digest(), &root()).unwrap();
    let id = |issuer: &str, subject: &str| Identity { issuer: issuer.into(), subject: subject.into() };
    assert_eq!(signer.matches(&[id(ISSUER, "someone@example.com"), id(ISSUER, SUBJECT)]), Some(1));
    assert_eq!(signer.matches(&[id("https://accounts.google.com", SUBJECT)]), None);
    assert_eq!(signer.matches(&[id(ISSUER, &SUBJECT.replace("main", "dev"))]), None);
    assert_eq!(signer.matches(&[id(ISSUER, &format!("{SUBJECT}/"))]), None);
    assert_eq!(signer.matches(&[]), None);
    let shown = Certified { subject: "a".into(), issuer: "b".into(), logged_at: None }.to_string();
    assert_eq!(shown, "a (issuer b)");
}

#[test]
fn another_subject_is_refused() {
    let mut other = subject_digest();
    other[0] ^= 1;
    let err = verify(BUNDLE.as_bytes(), &other, &root()).unwrap_err();
    assert!(matches!(err, KeylessError::Verify { .. }), "{err}");
}

#[test]
fn tampering_with_any_part_is_refused() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "payload",
            edited(|v| {
                let p = v["dsseEnvelope"]["payload"].as_str().unwrap().to_owned();
                v["dsseEnvelope"]["payload"] = b64_flip(&p, 200).into();
            }),
        ),
        (
            "signature",
            edited(|v| {
                let s = v["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap().to_owned();
                v["dsseEnvelope"]["signatures"][0]["sig"] = b64_flip(&s, 40).into();
            }),
        ),
        (
            "certificate",
            edited(|v| {
                let c = v["verificationMaterial"]["certificate"]["rawBytes"].as_str().unwrap().to_owned();
                v["verificationMaterial"]["certificate"]["rawBytes"] = b64_flip(&c, 300).into();
            }),
        ),
        (
            "log time",
            edited(|v| {
                let t = &mut v["verificationMaterial"]["tlogEntries"][0]["integratedTime"];
                let n: i64 = t.as_str().unwrap().parse().unwrap();
                *t = (n + 60).to_string().into();
            }),
        ),
        (
            "log body",
            edited(|v| {
                let b = v["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                v["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = b64_flip(&b, 90).into();
            }),
        ),
        (
            "no log entry",
            edited(|v| {
                v["verificationMaterial"]["tlogEntries"] = Value::Array(Vec::new());
            }),
        ),
    ];
    let root = root();
    for (what, bundle) in cases {
        let result = verify(&bundle, &subject_digest(), &root);
        assert!(
            matches!(result, Err(KeylessError::Verify { .. } | KeylessError::Malformed { .. })),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn another_trust_root_is_refused() {
    let staging =
        TrustRoot::from_json(sigstore_verify::trust_root::SIGSTORE_STAGING_TRUSTED_ROOT, "staging").unwrap();
    let err = verify(BUNDLE.as_bytes(), &subject_digest(), &staging).unwrap_err();
    assert!(matches!(err, KeylessError::Verify { .. }), "{err}");
}

#[test]
fn bad_trust_roots_and_bundles_are_named() {
    let err = TrustRoot::from_file(std::path::Path::new("/nonexistent/trusted_root.json")).unwrap_err();
    assert!(err.to_string().starts_with("trusted root /nonexistent/trusted_root.json: "), "{err}");
    let err = TrustRoot::from_json("{}", "policy/root.json").unwrap_err();
    assert!(err.to_string().starts_with("trusted root policy/root.json: "), "{err}");
    let err = verify(b"{", &subject_digest(), &root()).unwrap_err();
    assert!(matches!(err, KeylessError::Malformed { .. }), "{err}");
    assert!(!is_keyless(b"not json"));
    let key_signed = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"ab"},"tlogEntries":[]},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AQID","keyid":""}]}}"#;
    assert!(!is_keyless(key_signed));
    let err = verify(key_signed, &subject_digest(), &root()).unwrap_err();
    assert!(matches!(err, KeylessError::Malformed { .. }), "{err}");
}

/// Signing needs Fulcio and Rekor; here (as on any offline machine) it fails with an error that says so
/// and names the services, never a panic or a hang.
#[cfg(feature = "sign")]
#[test]
fn keyless_signing_offline_is_a_clear_error() {
    use base64ct::{Base64UrlUnpadded, Encoding as _};
    let enc = |v: &str| Base64UrlUnpadded::encode_string(v.as_bytes());
    let claims = format!(
        r#"{{"iss":"https://oauth2.sigstore.dev/auth","sub":"ci@example.com","email":"ci@example.com","email_verified":true,"aud":"sigstore","exp":{},"iat":1700000000}}"#,
        4_000_000_000u64
    );
    let jwt = format!("{}.{}.{}", enc(r#"{"alg":"RS256","typ":"JWT"}"#), enc(&claims), enc("sig"));
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"54303491a8418fbed24344b513546182c29b43bf282ceb433af65e2299f9271f"}}],"predicateType":"https://model_signing/signature/v1.0","predicate":{}}"#;
    let err = ferry_keyless::sign_statement(statement, Some(&jwt)).unwrap_err();
    match &err {
        KeylessError::Offline { .. } => {
            let text = err.to_string();
            assert!(text.contains("https://fulcio.sigstore.dev"), "{text}");
            assert!(text.contains("sign with --key when offline"), "{text}");
        }
        // A machine that can reach Fulcio gets the token refused instead (it is not a real token).
        KeylessError::Sign { reason } => assert!(!reason.contains("error sending request"), "{reason}"),
        other => panic!("unexpected error: {other}"),
    }
    let err = ferry_keyless::sign_statement(statement, Some("not a jwt")).unwrap_err();
    assert!(matches!(err, KeylessError::Token { .. }), "{err}");
}
