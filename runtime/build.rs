//! Records where `scripts/fetch-onnxruntime` installs the pinned ONNX Runtime library, so a build from a
//! checkout finds it without configuration (not in a release build: `FERRY_RELEASE=1`).

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir);
    // Keep the version in step with ORT_VERSION in src/ort_lib.rs (a unit test checks both).
    let lib = root.join(".ort").join("1.31.1").join("libonnxruntime.so");
    // A release build (`scripts/release` sets FERRY_RELEASE=1) runs on machines that never saw this
    // checkout: it gets no checkout place, and its bytes do not depend on where it was built.
    let release = std::env::var_os("FERRY_RELEASE").is_some_and(|v| v == "1");
    let default = if release { String::new() } else { lib.display().to_string() };
    println!("cargo:rustc-env=FERRY_ORT_DEFAULT={default}");
    println!("cargo:rerun-if-env-changed=FERRY_RELEASE");
    println!("cargo:rerun-if-changed=build.rs");
    // The path above is absolute, and a target dir can be shared by several checkouts (worktrees, a moved
    // tree): watching the library's directory by that absolute path makes a build from another checkout,
    // where it differs or is missing, run this script again instead of keeping the other checkout's path.
    println!("cargo:rerun-if-changed={}", root.join(".ort").display());
}
