//! Runs the Python suite (python/tests/*.py) against the native module this `cargo test` built: the
//! `ferry` package is assembled in a temporary directory from python/ferry/ and `lib_native.so`, so the
//! extension is built once, by the same cargo invocation (and target directory) as every Rust test.
//!
//! Without python3, numpy or pytest the suite is skipped with a note, unless `FERRY_REQUIRE_INTEROP=1`
//! (CI), which makes that a failure. The Spark, Ray and MLflow tests skip themselves the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn native_module() -> PathBuf {
    // This test is target/<profile>/deps/pytest-<hash>; cargo builds the library it depends on, cdylib
    // included, beside it (it copies it up to target/<profile>/ only for `cargo build`).
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().join("lib_native.so")
}

#[test]
fn python_suite_passes() {
    let required = std::env::var_os("FERRY_REQUIRE_INTEROP").is_some_and(|v| v == "1");
    let probe = Command::new("python3").args(["-c", "import numpy, pytest, onnxruntime"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        let why = match &probe {
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            !required,
            "FERRY_REQUIRE_INTEROP=1 but python3 with numpy, pytest and onnxruntime is missing: {why}"
        );
        eprintln!(
            "note: skipping the Python suite: python3 with numpy, pytest and onnxruntime is missing: {why}"
        );
        return;
    }
    let so = native_module();
    assert!(so.is_file(), "{} was not built by this cargo test", so.display());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("ferry");
    std::fs::create_dir(&pkg).unwrap();
    for entry in std::fs::read_dir(root.join("ferry")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "py" || e == "typed") {
            std::fs::copy(&path, pkg.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(&so, pkg.join("_native.abi3.so")).unwrap();
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"])
        .arg(root.join("tests"))
        .env("PYTHONPATH", tmp.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "the Python suite failed:\n{text}");
}
