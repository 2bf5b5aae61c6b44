//! The release archive: byte-identical when built twice, its checksums and signature hold, and unpacked
//! where no checkout is known it packs, runs and verifies a fixture with no environment variable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `ferry` binary of this build (the workspace test run builds it; alone: `cargo build -p ferry-cli`).
fn ferry_binary() -> PathBuf {
    // This test runs from target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap();
    let ferry = exe.parent().and_then(Path::parent).unwrap().join("ferry");
    assert!(ferry.is_file(), "{} is missing: build it first (cargo build -p ferry-cli)", ferry.display());
    ferry
}

fn ok(o: &Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{what} failed:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn release(out: &Path, key: &Path) -> PathBuf {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["release", "--level", "1", "--binary"])
        .arg(ferry_binary())
        .arg("--out")
        .arg(out)
        .arg("--key")
        .arg(key)
        .current_dir(root())
        .output()
        .unwrap();
    PathBuf::from(ok(&o, "xtask release").trim())
}

/// `bin/ferry` of the unpacked archive with a bare environment: no ORT_DYLIB_PATH, no FERRY_HOME, a
/// fresh cache, a fresh working directory.
fn unpacked_ferry(top: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(top.join("bin/ferry"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", work)
        .env("XDG_CACHE_HOME", work.join("cache"))
        .current_dir(work);
    cmd
}

#[test]
fn the_release_archive_is_reproducible_signed_and_runs_where_it_is_unpacked() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (private, public) = (keys.join("release.key"), keys.join("release.pub"));
    let o = Command::new(ferry_binary())
        .arg("keygen")
        .arg("--private")
        .arg(&private)
        .arg("--public")
        .arg(&public)
        .output()
        .unwrap();
    ok(&o, "ferry keygen");

    let first = release(&tmp.path().join("one"), &private);
    let second = release(&tmp.path().join("two"), &private);
    assert_eq!(first.file_name(), second.file_name());
    let name = first.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("ferry-") && name.ends_with(".tar.zst"), "{name}");
    assert!(std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(), "two builds differ");
    std::fs::remove_dir_all(tmp.path().join("two")).unwrap();

    // Unpacked elsewhere: `tar` reads it as a plain ustar archive.
    let unpacked = tmp.path().join("customer");
    std::fs::create_dir(&unpacked).unwrap();
    let tar = zstd::decode_all(std::fs::File::open(&first).unwrap()).unwrap();
    std::fs::remove_dir_all(tmp.path().join("one")).unwrap();
    let mut child = Command::new("tar")
        .arg("-xf")
        .arg("-")
        .current_dir(&unpacked)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar).unwrap();
    drop(tar);
    assert!(child.wait().unwrap().success());
    let top = unpacked.join(name.trim_end_matches(".tar.zst"));
    let mut listing: Vec<String> =
        walk(&top).iter().map(|p| p.strip_prefix(&top).unwrap().display().to_string()).collect();
    listing.sort();
    assert_eq!(
        listing,
        [
            "README",
            "SHA256SUMS",
            "bin/ferry",
            "ferry.sig",
            "lib/libonnxruntime.so",
            "sbom.cdx.json",
            "share/licenses/onnxruntime/LICENSE",
            "share/licenses/onnxruntime/ThirdPartyNotices.txt"
        ]
    );

    // The checksums, with the standard tool; the signature, over every other file.
    ok(
        &Command::new("sha256sum").args(["-c", "SHA256SUMS"]).current_dir(&top).output().unwrap(),
        "sha256sum -c",
    );
    let view: Vec<(String, [u8; 32])> = listing
        .iter()
        .filter(|p| *p != "ferry.sig")
        .map(|p| (p.clone(), ferry_digest::sha256(&std::fs::read(top.join(p)).unwrap())))
        .collect();
    let key = ferry_sign::VerifyingKey::from_pem(&std::fs::read_to_string(&public).unwrap()).unwrap();
    let sig = std::fs::read(top.join("ferry.sig")).unwrap();
    ferry_sign::oms::verify(&sig, &view, &key).unwrap();
    // And with the reference tool, where it is installed (CI installs it and sets FERRY_REQUIRE_INTEROP).
    let interop = Command::new("python3")
        .args(["-c", "import model_signing"])
        .output()
        .is_ok_and(|o| o.status.success());
    if std::env::var_os("FERRY_REQUIRE_INTEROP").is_some_and(|v| v == "1") {
        assert!(interop, "FERRY_REQUIRE_INTEROP=1 but `python3 -c 'import model_signing'` fails");
    }
    if interop {
        let o = Command::new("python3")
            .args(["-m", "model_signing", "verify", "key", "--signature"])
            .arg(top.join("ferry.sig"))
            .arg("--public_key")
            .arg(&public)
            .arg(&top)
            .output()
            .unwrap();
        ok(&o, "model_signing verify");
    }

    // The SBOM names the library by its digest and the Rust packages with their lock-file checksums.
    let bom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(top.join("sbom.cdx.json")).unwrap()).unwrap();
    let components = bom["components"].as_array().unwrap();
    let lib = components.iter().find(|c| c["name"] == "libonnxruntime.so").unwrap();
    let lib_sha =
        hex::encode(ferry_digest::sha256(&std::fs::read(top.join("lib/libonnxruntime.so")).unwrap()));
    assert_eq!(lib["hashes"][0]["content"], lib_sha);
    let ort = components.iter().find(|c| c["name"] == "ort").expect("the ort crate is in the SBOM");
    assert_eq!(ort["hashes"][0]["alg"], "SHA-256");
    assert!(components.iter().all(|c| c["name"] != "proptest"), "dev-dependencies are not shipped");

    // With no checkout variable at all, the library beside bin/ is the one loaded.
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let o = unpacked_ferry(&top, &work).args(["doctor", "--json"]).output().unwrap();
    let doctor: serde_json::Value = serde_json::from_str(&ok(&o, "ferry doctor")).unwrap();
    assert_eq!(doctor["onnxruntime"]["loaded"]["place"], "lib/ beside the executable", "{doctor:#}");
    assert_eq!(doctor["onnxruntime"]["loaded"]["path"], top.join("lib/libonnxruntime.so").to_str().unwrap());

    // The quickstart's steps.
    let src = root().join("fixtures/credit-risk");
    let bundle = work.join("credit-risk.ferry");
    ok(
        &unpacked_ferry(&top, &work).arg("pack").arg(&src).arg("-o").arg(&bundle).output().unwrap(),
        "ferry pack",
    );
    let o = unpacked_ferry(&top, &work)
        .arg("run")
        .arg(&bundle)
        .arg("--input")
        .arg(src.join("golden/edge.inputs.json"))
        .output()
        .unwrap();
    assert!(ok(&o, "ferry run").contains("probability"));
    ok(&unpacked_ferry(&top, &work).arg("verify").arg(&bundle).output().unwrap(), "ferry verify");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
