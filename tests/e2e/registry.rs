//! `ferry push` and `ferry pull` against a real registry (Debian's `docker-registry`, started on
//! loopback; it has no referrers API, so the `sha256-<hex>` tag fallback is what is exercised), read
//! back by `skopeo`; `verify` and `run` of `oci://` references; and a pull killed midway.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `docker-registry` serving a temporary directory on a loopback port, stopped on drop.
struct Registry {
    child: Child,
    port: u16,
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// `None` (the test skips) when `docker-registry` is not installed, unless CI requires it.
    fn start(htpasswd: Option<&str>) -> Option<Registry> {
        Self::start_with(htpasswd, None)
    }

    /// With `tls`, a certificate and key (PEM) it serves HTTPS with.
    fn start_with(htpasswd: Option<&str>, tls: Option<(&Path, &Path)>) -> Option<Registry> {
        if Command::new("docker-registry").arg("--version").output().is_err() {
            if std::env::var_os("FERRY_REQUIRE_REGISTRY").is_some_and(|v| v == "1") {
                panic!("FERRY_REQUIRE_REGISTRY=1 but `docker-registry` is not installed");
            }
            eprintln!("skipping: `docker-registry` (Debian package docker-registry) is not installed");
            return None;
        }
        let dir = tempdir();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = dir.path().join("data");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some(line) = htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{line}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n",
                file.display()
            ));
        }
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry { child, port, storage, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(registry)
    }

    fn reference(&self, rest: &str) -> String {
        format!("127.0.0.1:{}/{rest}", self.port)
    }

    /// Blobs the registry stores (its own count, independent of what `ferry push` reports).
    fn stored_blobs(&self) -> usize {
        let dir = self.storage.join("docker/registry/v2/blobs/sha256");
        let Ok(prefixes) = std::fs::read_dir(dir) else { return 0 };
        prefixes.flatten().map(|p| std::fs::read_dir(p.path()).map(|d| d.count()).unwrap_or(0)).sum()
    }
}

/// `ferry` with a cache and a Docker config of the test's own.
fn ferry_in(home: &Path) -> Command {
    let mut cmd = ferry();
    cmd.env("XDG_CACHE_HOME", home.join("cache")).env("DOCKER_CONFIG", home.join("docker"));
    cmd
}

fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert_eq!(code(&o), 0, "{cmd:?}: {}", stderr(&o));
    stdout(&o)
}

/// The credit-risk fixture packed, signed and attested in `dir`, with the public key.
fn signed_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let bundle = dir.join("credit-risk.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let (sk, pk) = (dir.join("key.pem"), dir.join("key.pub"));
    ok(ferry().args(["keygen", "--private", sk.to_str().unwrap(), "--public", pk.to_str().unwrap()]));
    ok(ferry().args(["sign", bundle.to_str().unwrap(), "--key", sk.to_str().unwrap()]));
    let report = dir.join("report.json");
    ok(ferry().args([
        "verify",
        bundle.to_str().unwrap(),
        "--format",
        "json",
        "--report",
        report.to_str().unwrap(),
    ]));
    ok(ferry().args([
        "attest",
        bundle.to_str().unwrap(),
        "--key",
        sk.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]));
    (bundle, pk)
}

#[test]
fn a_signed_attested_bundle_goes_through_a_registry_byte_for_byte() {
    let Some(registry) = Registry::start(None) else { return };
    let t = tempdir();
    let (bundle, pk) = signed_bundle(t.path());
    let tagged = registry.reference("models/credit-risk:1.0.0");

    let pushed: Value = serde_json::from_str(&ok(ferry_in(t.path()).args([
        "push",
        bundle.to_str().unwrap(),
        &registry.reference("models/credit-risk"),
        "--json",
    ])))
    .unwrap();
    assert_eq!(pushed["referrers"], 2, "{pushed}");
    assert_eq!(pushed["referrers_mode"], "tag-schema", "{pushed}");
    assert_eq!(pushed["byte_identical_on_pull"], true);
    // The registry's own count: the blobs uploaded, plus what it stores of the manifests (the bundle's,
    // two referrers', and the referrers index under the fallback tag).
    assert_eq!(pushed["uploaded"].as_u64().unwrap() as usize + 4, registry.stored_blobs(), "{pushed}");

    let pulled = t.path().join("pulled.ferry");
    ok(ferry_in(t.path()).args(["pull", &tagged, "-o", pulled.to_str().unwrap()]));
    assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&bundle).unwrap(), "the pulled bundle differs");

    // The same bundle by digest, and pushing it again sends nothing.
    let digest = pushed["manifest_digest"].as_str().unwrap();
    let by_digest = t.path().join("by-digest.ferry");
    ok(ferry_in(t.path()).args([
        "pull",
        &registry.reference(&format!("models/credit-risk@{digest}")),
        "-o",
        by_digest.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read(&by_digest).unwrap(), std::fs::read(&bundle).unwrap());
    let again: Value = serde_json::from_str(&ok(ferry_in(t.path()).args([
        "push",
        bundle.to_str().unwrap(),
        &tagged,
        "--json",
    ])))
    .unwrap();
    assert_eq!(again["uploaded"], 0, "{again}");

    // Verify and run straight from the registry, with the signature checked.
    let oci = format!("oci://{tagged}");
    let verified = ok(ferry_in(t.path()).args(["verify", &oci, "--key", pk.to_str().unwrap()]));
    assert!(verified.contains("PASSED"), "{verified}");
    let input = fixture("credit-risk").join("golden/smoke.inputs.npz");
    let out = t.path().join("out.npz");
    ok(ferry_in(t.path()).args([
        "run",
        &oci,
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]));
    assert!(out.exists());

    // An independent client reads what push wrote.
    if let Ok(o) =
        Command::new("skopeo").args(["inspect", "--tls-verify=false", &format!("docker://{tagged}")]).output()
    {
        assert!(o.status.success(), "skopeo inspect: {}", String::from_utf8_lossy(&o.stderr));
        let seen: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(seen["Digest"], digest);
        let tags: Vec<&str> = seen["RepoTags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(tags.contains(&"1.0.0") && tags.contains(&digest.replacen(':', "-", 1).as_str()), "{tags:?}");
    } else if std::env::var_os("FERRY_REQUIRE_REGISTRY").is_some_and(|v| v == "1") {
        panic!("FERRY_REQUIRE_REGISTRY=1 but skopeo is not installed");
    }
}

#[test]
fn a_second_version_that_shares_the_weights_uploads_only_what_changed() {
    let Some(registry) = Registry::start(None) else { return };
    let t = tempdir();
    let v1 = t.path().join("v1.ferry");
    pack(&fixture("credit-risk"), &v1);
    let src = t.path().join("v2-src");
    copy_dir(&fixture("credit-risk"), &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    let changed = toml.replacen("version = \"1.0.0\"", "version = \"1.1.0\"", 1);
    assert_ne!(toml, changed, "the fixture's version line moved");
    std::fs::write(src.join("ferry.toml"), changed).unwrap();
    let v2 = t.path().join("v2.ferry");
    pack(&src, &v2);

    let repo = registry.reference("models/credit-risk");
    ok(ferry_in(t.path()).args(["push", v1.to_str().unwrap(), &repo]));
    let before = registry.stored_blobs();
    let second: Value =
        serde_json::from_str(&ok(ferry_in(t.path()).args(["push", v2.to_str().unwrap(), &repo, "--json"])))
            .unwrap();
    let uploaded = second["uploaded"].as_u64().unwrap() as usize;
    // The registry's own count agrees: every blob sent was new to it, every other was already there.
    assert_eq!(registry.stored_blobs() - before, uploaded + 1, "{second}"); // and the new bundle manifest
    // The model weights were not sent again: only the Ferry manifest and the generated provenance and
    // SBOM (which name the version) changed.
    let blobs = |b: &Path| ferry_bundle::Bundle::open(b).unwrap().stored_blob_order();
    let old = blobs(&v1);
    let new_blobs = blobs(&v2).into_iter().filter(|d| !old.contains(d)).count();
    assert_eq!(uploaded, new_blobs - 1, "{second}"); // less the bundle manifest, which is not a blob upload
    assert!(second["present"].as_u64().unwrap() >= 1, "{second}");
    eprintln!("second version: {uploaded} blobs uploaded, {} already present", second["present"]);
    assert_eq!(second["reference"].as_str().unwrap().split('@').next().unwrap(), format!("{repo}:1.1.0"));
}

#[test]
fn an_unchanged_bundle_is_pushed_without_hashing_it_again_and_a_changed_byte_is_refused() {
    let Some(registry) = Registry::start(None) else { return };
    let t = tempdir();
    let bundle = t.path().join("b.ferry");
    pack(&fixture("credit-risk"), &bundle);
    // Past the verified-digest cache's racy margin, so the first push's full check is remembered.
    std::thread::sleep(Duration::from_millis(2200));
    let tagged = registry.reference("models/credit-risk:1.0.0");
    let push = || -> Value {
        serde_json::from_str(&ok(ferry_in(t.path()).args([
            "push",
            bundle.to_str().unwrap(),
            &tagged,
            "--json",
        ])))
        .unwrap()
    };
    assert_eq!(push()["digests_cached"], false);
    assert_eq!(push()["digests_cached"], true);
    // A byte of the model's weights flipped in place: the file's identity changed, so it is hashed
    // again, and refused before anything is sent.
    let data = std::fs::read(&bundle).unwrap();
    let model = std::fs::read(fixture("credit-risk").join("model.onnx")).unwrap();
    let at = ferry_testkit::find(&data, &model[model.len() - 64..]);
    ferry_testkit::flip_byte_at(&bundle, at);
    let o = ferry_in(t.path()).args(["push", bundle.to_str().unwrap(), &tagged]).output().unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("digest"), "{}", stderr(&o));
}

#[test]
fn credentials_come_from_the_docker_config() {
    // ferry:not-a-secret, bcrypt (what docker-registry's htpasswd auth reads); made with Python's
    // bcrypt.hashpw(b"not-a-secret", bcrypt.gensalt(rounds=4)).
    let line = "ferry:$2b$04$avukv3E7oV1JLx.OuefRZOXw19R4Nco1zNcplULtJPFxR65ImvqY2";
    let Some(registry) = Registry::start(Some(line)) else { return };
    let t = tempdir();
    let bundle = t.path().join("b.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let tagged = registry.reference("models/credit-risk:1.0.0");

    let o = ferry_in(t.path()).args(["push", bundle.to_str().unwrap(), &tagged]).output().unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("not authorized") && stderr(&o).contains("docker login"), "{}", stderr(&o));

    let docker = t.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let host = registry.reference("");
    let config =
        serde_json::json!({"auths": {host.trim_end_matches('/'): {"auth": "ZmVycnk6bm90LWEtc2VjcmV0"}}});
    std::fs::write(docker.join("config.json"), config.to_string()).unwrap();
    ok(ferry_in(t.path()).args(["push", bundle.to_str().unwrap(), &tagged]));
    let pulled = t.path().join("pulled.ferry");
    ok(ferry_in(t.path()).args(["pull", &tagged, "-o", pulled.to_str().unwrap()]));
    assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&bundle).unwrap());

    let wrong = serde_json::json!({"auths": {host.trim_end_matches('/'): {"username": "ferry", "password": "wrong"}}});
    std::fs::write(docker.join("config.json"), wrong.to_string()).unwrap();
    let o = ferry_in(t.path())
        .args(["pull", &tagged, "-o", t.path().join("x.ferry").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("refused the credentials"), "{}", stderr(&o));
}

#[test]
fn a_pull_killed_midway_leaves_nothing() {
    use ferry_testkit::registry::{FakeRegistry, Reply};
    let t = tempdir();
    let bundle = t.path().join("b.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let b = ferry_bundle::Bundle::open(&bundle).unwrap();
    let model = b.manifest().files.iter().find(|f| f.path == "model.onnx").unwrap().blob.clone();
    let size = b.blob(&model).unwrap().len() as u64;
    let half = b.blob(&model).unwrap()[..(size / 2) as usize].to_vec();
    // The model's blob stalls halfway: the pull is mid-write when it is killed.
    let server = FakeRegistry::serve(
        Some(&bundle),
        "m",
        "1.0.0",
        Box::new(move |r| {
            (r.method == "GET" && r.path.ends_with(&format!("/blobs/{model}")))
                .then(|| Reply::Stall(200, size, half.clone()))
        }),
    );
    let out_dir = t.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("pulled.ferry");
    let mut child = ferry_in(t.path())
        .args(["pull", &format!("{}/m:1.0.0", server.host()), "-o", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let model = b.manifest().files.iter().find(|f| f.path == "model.onnx").unwrap().blob.clone();
    while !server.requests.lock().unwrap().iter().any(|r| r.method == "GET" && r.path.ends_with(&model)) {
        assert!(Instant::now() < deadline, "the pull never asked for the model blob");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "a killed pull left {left:?}");
}

#[test]
fn skopeo_and_oras_read_and_copy_what_push_writes() {
    let Some(registry) = Registry::start(None) else { return };
    let require = std::env::var_os("FERRY_REQUIRE_REGISTRY").is_some_and(|v| v == "1");
    let t = tempdir();
    let bundle = t.path().join("b.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let tagged = registry.reference("models/credit-risk:1.0.0");
    ok(ferry_in(t.path()).args(["push", bundle.to_str().unwrap(), &tagged]));

    let skopeo = |args: &[&str]| Command::new("skopeo").args(args).output();
    match skopeo(&["--version"]) {
        Ok(_) => {
            // Registry to registry: the copy pulls back as the same bundle.
            let copy = registry.reference("mirror/credit-risk:1.0.0");
            let o = skopeo(&[
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                &format!("docker://{tagged}"),
                &format!("docker://{copy}"),
            ])
            .unwrap();
            assert!(o.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&o.stderr));
            let pulled = t.path().join("mirror.ferry");
            ok(ferry_in(t.path()).args(["pull", &copy, "-o", pulled.to_str().unwrap()]));
            assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&bundle).unwrap());
            // A bundle file pushed by skopeo as an oci-archive pulls back byte for byte too.
            let by_skopeo = registry.reference("skopeo/credit-risk:1.0.0");
            let o = skopeo(&[
                "copy",
                "--dest-tls-verify=false",
                &format!("oci-archive:{}", bundle.display()),
                &format!("docker://{by_skopeo}"),
            ])
            .unwrap();
            assert!(o.status.success(), "skopeo copy oci-archive: {}", String::from_utf8_lossy(&o.stderr));
            let pulled = t.path().join("by-skopeo.ferry");
            ok(ferry_in(t.path()).args(["pull", &by_skopeo, "-o", pulled.to_str().unwrap()]));
            assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&bundle).unwrap());
        }
        Err(_) if require => panic!("FERRY_REQUIRE_REGISTRY=1 but skopeo is not installed"),
        Err(_) => eprintln!("skipping skopeo: not installed"),
    }

    // ORAS's Python client pulls the file view: each layer under its title, the weights as they are.
    let out = t.path().join("oras");
    let script = format!(
        "import oras.client; oras.client.OrasClient(hostname='{h}', insecure=True).pull(target='{tagged}', outdir='{o}')",
        h = registry.reference("").trim_end_matches('/'),
        o = out.display()
    );
    let o = Command::new("python3").args(["-c", &script]).output().unwrap();
    let missing = String::from_utf8_lossy(&o.stderr).contains("No module named 'oras'");
    if missing && require {
        panic!("FERRY_REQUIRE_REGISTRY=1 but the oras Python package is not importable");
    } else if missing {
        eprintln!("skipping oras: the oras Python package is not installed");
        return;
    }
    assert!(o.status.success(), "oras pull: {}", String::from_utf8_lossy(&o.stderr));
    for file in ["model.onnx", "golden/smoke.inputs.npz", "golden/smoke.expected.npz"] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(fixture("credit-risk").join(file)).unwrap(),
            "{file}"
        );
    }
}

/// A CA and a certificate for 127.0.0.1 it issued, made with `openssl`: (CA, leaf certificate, leaf key).
fn test_ca(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let openssl = |args: &[&str]| Command::new("openssl").args(args).current_dir(dir).output();
    if openssl(&["version"]).is_err() {
        eprintln!("skipping: openssl is not installed");
        return None;
    }
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let run = |args: Vec<&str>| {
        let o = openssl(&args).unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    run([
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ferry test CA"],
    ]
    .concat());
    run([&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(vec![
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    Some((dir.join("ca.pem"), dir.join("leaf.pem"), dir.join("leaf.key")))
}

#[test]
fn https_with_a_private_ca() {
    let t = tempdir();
    let Some((ca, cert, key)) = test_ca(t.path()) else { return };
    let Some(registry) = Registry::start_with(None, Some((&cert, &key))) else { return };
    let bundle = t.path().join("b.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let tagged = registry.reference("models/credit-risk:1.0.0");

    // The registry's CA is not one the system trusts: refused, naming the certificate problem.
    let o = ferry_in(t.path()).args(["push", bundle.to_str().unwrap(), &tagged, "--https"]).output().unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).to_lowercase().contains("certificate"), "{}", stderr(&o));

    ok(ferry_in(t.path()).args([
        "push",
        bundle.to_str().unwrap(),
        &tagged,
        "--https",
        "--ca-file",
        ca.to_str().unwrap(),
    ]));
    let pulled = t.path().join("pulled.ferry");
    ok(ferry_in(t.path()).args([
        "pull",
        &tagged,
        "-o",
        pulled.to_str().unwrap(),
        "--https",
        "--ca-file",
        ca.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&bundle).unwrap());
}
