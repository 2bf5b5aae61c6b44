//! Push and pull against a registry that misbehaves (`ferry_testkit::registry::FakeRegistry`): every
//! answer bounded, every byte checked, nothing left behind. The real registry (Debian's
//! `docker-registry`) and `skopeo` are exercised by the command line's end-to-end tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::{Bundle, BundleError, Referrer};
use ferry_registry::{Options, Reference, RegistryError, pull};
use ferry_testkit::registry::{FakeRegistry, Reply, Request};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The credit-risk fixture packed, with one referrer added, in a temporary directory.
fn bundle() -> (tempfile::TempDir, PathBuf) {
    let (dir, packed) = ferry_testkit::pack(&ferry_testkit::fixture("credit-risk"));
    let b = Bundle::open(&packed).unwrap();
    let referrer = Referrer {
        artifact_type: "application/vnd.example.note.v1".into(),
        media_type: "text/plain".into(),
        blob: b"reviewed".to_vec(),
        annotations: Default::default(),
    };
    b.write_with_referrer(&packed, &referrer).unwrap();
    (dir, packed)
}

fn reference(server: &FakeRegistry) -> Reference {
    format!("{}/models/credit:1.0.0", server.host()).parse().unwrap()
}

fn serve(bundle: &Path, hook: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static) -> FakeRegistry {
    FakeRegistry::serve(Some(bundle), "models/credit", "1.0.0", Box::new(hook))
}

fn no_docker_config(dir: &Path) -> Options {
    Options {
        docker_config: Some(dir.join("absent.json")),
        cache: ferry_cache::Location::Off,
        ..Options::default()
    }
}

#[test]
fn a_pull_gives_back_the_served_bundle_byte_for_byte() {
    let (dir, packed) = bundle();
    let server = serve(&packed, |_| None);
    let out = dir.path().join("pulled.ferry");
    let report = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&packed).unwrap());
    assert_eq!(report.referrers, 1);
    assert_eq!(report.manifest_digest, Bundle::open(&packed).unwrap().manifest_digest());
}

fn assert_nothing_left(dir: &Path, out: &Path) {
    assert!(!out.exists(), "{} was left behind", out.display());
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ferry-partial"))
        .collect();
    assert!(left.is_empty(), "partial files left: {left:?}");
}

#[test]
fn an_oversized_manifest_is_refused_before_it_is_held() {
    let (dir, packed) = bundle();
    // Declared too large: refused on the headers alone.
    let server = serve(&packed, |r| {
        r.path.ends_with("/manifests/1.0.0").then(|| Reply::Stall(200, 1 << 40, Vec::new()))
    });
    let out = dir.path().join("pulled.ferry");
    let err = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap_err();
    assert!(
        matches!(err, RegistryError::Protocol { .. })
            && err.to_string().contains("more than the 4194304 bytes"),
        "{err}"
    );
    // No length, and more bytes than a manifest may have: refused after the bound, not at the end.
    let server =
        serve(&packed, |r| r.path.ends_with("/manifests/1.0.0").then_some(Reply::Endless(64 << 20, b' ')));
    let err = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap_err();
    assert!(err.to_string().contains("longer than the 4194304 bytes"), "{err}");
    assert_nothing_left(dir.path(), &out);
}

/// The digest of the bundle's model file blob.
fn model_blob(packed: &Path) -> (String, Vec<u8>) {
    let b = Bundle::open(packed).unwrap();
    let f = b.manifest().files.iter().find(|f| f.path == "model.onnx").unwrap();
    (f.blob.clone(), b.blob(&f.blob).unwrap().to_vec())
}

#[test]
fn a_blob_of_another_digest_is_refused_and_nothing_is_left() {
    let (dir, packed) = bundle();
    let (digest, mut bytes) = model_blob(&packed);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let server = serve(&packed, move |r| {
        (r.method == "GET" && r.path.ends_with(&format!("/blobs/{digest}")))
            .then(|| Reply::Full(200, vec![], bytes.clone()))
    });
    let out = dir.path().join("pulled.ferry");
    let err = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap_err();
    assert!(matches!(err, RegistryError::Bundle(BundleError::Digest { .. })), "{err:?}");
    assert!(err.is_refusal());
    assert_nothing_left(dir.path(), &out);
}

#[test]
fn a_blob_shorter_or_longer_than_declared_is_refused() {
    let (dir, packed) = bundle();
    let (digest, bytes) = model_blob(&packed);
    let out = dir.path().join("pulled.ferry");
    for cut in [bytes[..bytes.len() - 1].to_vec(), [bytes.as_slice(), b"x"].concat()] {
        let d = digest.clone();
        let server = serve(&packed, move |r| {
            (r.method == "GET" && r.path.ends_with(&format!("/blobs/{d}")))
                .then(|| Reply::Full(200, vec![], cut.clone()))
        });
        let err = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap_err();
        assert!(err.to_string().contains("its descriptor declares"), "{err}");
        assert_nothing_left(dir.path(), &out);
    }
}

#[test]
fn a_manifest_that_is_not_a_bundle_is_refused_by_name() {
    let (dir, packed) = bundle();
    let helm = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.helm.chart.v1","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let server = serve(&packed, |r| {
        r.path.ends_with("/manifests/1.0.0").then(|| Reply::Full(200, vec![], helm.to_vec()))
    });
    let err =
        pull(&reference(&server), &dir.path().join("o.ferry"), &no_docker_config(dir.path())).unwrap_err();
    assert!(matches!(err, RegistryError::NotABundle { .. }), "{err:?}");
    assert!(err.to_string().contains("application/vnd.cncf.helm.chart.v1"), "{err}");
}

#[test]
fn referrers_that_are_not_ferrys_are_skipped_and_named() {
    let (dir, packed) = bundle();
    let b = Bundle::open(&packed).unwrap();
    let tag = b.manifest_digest().replacen(':', "-", 1);
    let real = &b.referrers()[0];
    let size = b.blob(&real.digest).unwrap().len();
    let missing = format!("sha256:{}", "ab".repeat(32));
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing, "size": 10},
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": real.digest, "size": size},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": real.digest, "size": size, "artifactType": real.artifact_type},
    ]});
    let body = serde_json::to_vec(&index).unwrap();
    let server = serve(&packed, move |r| {
        r.path.ends_with(&format!("/manifests/{tag}")).then(|| {
            Reply::Full(
                200,
                vec![("Content-Type".into(), "application/vnd.oci.image.index.v1+json".into())],
                body.clone(),
            )
        })
    });
    let out = dir.path().join("pulled.ferry");
    let report = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap();
    assert_eq!(report.referrers, 1);
    assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
    assert!(report.skipped[0].contains("listed but not in the registry"), "{:?}", report.skipped);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&packed).unwrap());
}

#[test]
fn a_bearer_token_is_fetched_from_the_realm_with_the_docker_config_credentials() {
    let (dir, packed) = bundle();
    let port: Arc<OnceLock<u16>> = Arc::new(OnceLock::new());
    let p = port.clone();
    let basic = "Basic ZmVycnk6bm90LWEtc2VjcmV0"; // ferry:not-a-secret
    let server = serve(&packed, move |r| {
        let auth = r.headers.get("authorization").map(String::as_str);
        if r.path.starts_with("/token") {
            return Some(
                if auth == Some(basic) && r.path.contains("scope=repository%3Amodels%2Fcredit%3Apull") {
                    Reply::Full(200, vec![], br#"{"token":"t0k3n"}"#.to_vec())
                } else {
                    Reply::Full(401, vec![], Vec::new())
                },
            );
        }
        (auth != Some("Bearer t0k3n")).then(|| {
            let realm = format!("http://127.0.0.1:{}/token", p.get().unwrap());
            let challenge =
                format!(r#"Bearer realm="{realm}",service="fake",scope="repository:models/credit:pull""#);
            Reply::Full(401, vec![("WWW-Authenticate".into(), challenge)], Vec::new())
        })
    });
    port.set(server.port).unwrap();
    let out = dir.path().join("pulled.ferry");

    // No credentials: a clear refusal, naming where credentials come from.
    let err = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("Docker config"), "{err}");

    let config = dir.path().join("config.json");
    let auths = serde_json::json!({"auths": {server.host(): {"auth": "ZmVycnk6bm90LWEtc2VjcmV0"}}});
    std::fs::write(&config, serde_json::to_vec(&auths).unwrap()).unwrap();
    let options = Options { docker_config: Some(config), ..no_docker_config(dir.path()) };
    pull(&reference(&server), &out, &options).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&packed).unwrap());
    // The password went to the realm only; the registry saw the token.
    let requests = server.requests.lock().unwrap();
    assert!(
        requests
            .iter()
            .filter(|r| r.path.starts_with("/v2/"))
            .all(|r| r.headers.get("authorization").is_none_or(|a| !a.starts_with("Basic")))
    );
}

#[test]
fn a_damaged_docker_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(&config, br#"{"auths": {"127.0.0.1:1": {"auth": "%%%"}}}"#).unwrap();
    let err = ferry_registry::from_docker_config(&config, "127.0.0.1:1").unwrap_err();
    assert!(err.to_string().contains("config.json") && err.to_string().contains("not base64"), "{err}");
    std::fs::write(&config, vec![b' '; 2 << 20]).unwrap();
    let err = ferry_registry::from_docker_config(&config, "127.0.0.1:1").unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    assert_eq!(ferry_registry::from_docker_config(&dir.path().join("none.json"), "x.io").unwrap(), None);
}

#[test]
fn references_parse_as_docker_does() {
    let r: Reference = "registry.example.com:5000/team/model:1.2.0".parse().unwrap();
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
        ("registry.example.com:5000", "team/model", Some("1.2.0"))
    );
    let r: Reference = format!("oci://localhost/m@sha256:{}", "0".repeat(64)).parse().unwrap();
    assert!(r.is_loopback() && r.tag.is_none() && r.digest.is_some());
    let r: Reference = "team/model:1".parse().unwrap();
    assert_eq!((r.registry.as_str(), r.api_host()), ("docker.io", "registry-1.docker.io"));
    assert!(!r.is_loopback());
    let r: Reference = "[::1]:5000/m:t".parse().unwrap();
    assert!(r.is_loopback());
    for bad in
        ["", "Host.io/UPPER:1", "h.io/m:-bad", "h.io/m@sha256:short", "h.io/a//b:1", "h.io/m:t:u", "h io/m"]
    {
        assert!(bad.parse::<Reference>().is_err(), "{bad} parsed");
    }
}

proptest! {
    #[test]
    fn parsing_never_panics_and_display_round_trips(text in "\\PC{0,80}") {
        if let Ok(r) = text.parse::<Reference>() {
            let again: Reference = r.to_string().parse().unwrap();
            prop_assert_eq!(again, r);
        }
    }

    #[test]
    fn generated_references_round_trip(
        host in "[a-z]{1,8}\\.[a-z]{2,3}(:[0-9]{1,5})?",
        repo in "[a-z0-9]{1,6}((\\.|_|__|-+)[a-z0-9]{1,6}){0,2}(/[a-z0-9]{1,6}){0,2}",
        tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
    ) {
        let text = format!("{host}/{repo}:{tag}");
        let r: Reference = text.parse().unwrap();
        prop_assert_eq!(r.to_string(), text);
        prop_assert_eq!(r.repository, repo);
    }
}

#[test]
fn referrers_come_from_the_referrers_api_when_the_registry_has_one() {
    let (dir, packed) = bundle();
    let b = Bundle::open(&packed).unwrap();
    let digest = b.manifest_digest().to_owned();
    let tag = digest.replacen(':', "-", 1);
    let real = &b.referrers()[0];
    let size = b.blob(&real.digest).unwrap().len();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": real.digest, "size": size, "artifactType": real.artifact_type},
    ]});
    let body = serde_json::to_vec(&index).unwrap();
    let server = serve(&packed, move |r| {
        if r.path.ends_with(&format!("/referrers/{digest}")) {
            let json = "application/vnd.oci.image.index.v1+json".to_owned();
            return Some(Reply::Full(200, vec![("Content-Type".into(), json)], body.clone()));
        }
        // No fallback tag: the API is the only place the referrer is listed.
        r.path.ends_with(&format!("/manifests/{tag}")).then(|| Reply::Full(404, vec![], Vec::new()))
    });
    let out = dir.path().join("pulled.ferry");
    let report = pull(&reference(&server), &out, &no_docker_config(dir.path())).unwrap();
    assert_eq!(report.referrers_mode, ferry_registry::ReferrersMode::Api);
    assert_eq!(report.referrers, 1);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&packed).unwrap());
}

#[test]
fn a_push_to_a_registry_with_the_referrers_api_writes_no_fallback_tag() {
    let (dir, packed) = bundle();
    let b = Bundle::open(&packed).unwrap();
    let tag = b.manifest_digest().replacen(':', "-", 1);
    // A registry that accepts every upload and manifest and answers the referrers API.
    let server = FakeRegistry::serve(
        None,
        "models/credit",
        "1.0.0",
        Box::new(|r| {
            let json = |ct: &str, body: &[u8]| {
                Reply::Full(200, vec![("Content-Type".into(), ct.to_owned())], body.to_vec())
            };
            Some(match (r.method.as_str(), r.path.as_str()) {
                ("HEAD", _) => Reply::Full(404, vec![], Vec::new()),
                ("POST", p) if p.ends_with("/blobs/uploads/") => Reply::Full(
                    202,
                    vec![("Location".into(), "/v2/models/credit/blobs/uploads/u1".into())],
                    Vec::new(),
                ),
                ("PUT", _) => Reply::Full(201, vec![], Vec::new()),
                ("GET", p) if p.contains("/referrers/") => {
                    json("application/vnd.oci.image.index.v1+json", br#"{"schemaVersion":2,"manifests":[]}"#)
                }
                _ => Reply::Full(404, vec![], Vec::new()),
            })
        }),
    );
    let report = ferry_registry::push(&packed, &reference(&server), &no_docker_config(dir.path())).unwrap();
    assert_eq!(report.referrers_mode, ferry_registry::ReferrersMode::Api);
    assert_eq!(report.uploaded, b.stored_blob_order().len() - 2); // every blob but the two manifests
    let requests = server.requests.lock().unwrap();
    assert!(!requests.iter().any(|r| r.path.contains(&tag)), "a fallback tag was written: {requests:?}");
    let manifests: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    assert!(manifests[0].ends_with("/manifests/1.0.0"), "{manifests:?}");
}
