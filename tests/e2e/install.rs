//! A `ferry` installed away from the checkout: where it finds ONNX Runtime, what `ferry doctor` says
//! about it, and that the digest check of the library is remembered between processes.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned library this checkout fetched (`scripts/fetch-onnxruntime`).
fn pinned_library() -> PathBuf {
    root().join(".ort").join(ferry_runtime::ORT_VERSION).join(ferry_runtime::LIBRARY_FILE)
}

/// A directory on the target's file system, so the binary and the library can be hard-linked into it
/// rather than copied (the debug binary is hundreds of megabytes).
fn install_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-install").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// For the binary only: a new link changes the file's ctime, which would make the pinned library look
/// freshly changed to the verified-digest cache (it is copied instead).
fn link_or_copy(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}

/// `ferry` copied into `dir` (as `dir/ferry`), run with no ONNX Runtime variable and a cache of its own.
fn installed_ferry(dir: &Path) -> Command {
    let exe = dir.join("ferry");
    if !exe.exists() {
        link_or_copy(Path::new(env!("CARGO_BIN_EXE_ferry")), &exe);
    }
    let mut cmd = Command::new(exe);
    cmd.env_remove(ferry_runtime::ORT_DYLIB_PATH_VAR)
        .env_remove(ferry_runtime::FERRY_HOME_VAR)
        .env("XDG_CACHE_HOME", dir.join("cache"));
    cmd
}

fn doctor_json(mut cmd: Command) -> (i32, Value) {
    let o = cmd.args(["doctor", "--json"]).output().unwrap();
    let v =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&o), stderr(&o)));
    (code(&o), v)
}

fn run_golden(mut cmd: Command, bundle: &Path) -> std::process::Output {
    let input = fixture("credit-risk").join("golden/edge.inputs.json");
    cmd.args(["run", bundle.to_str().unwrap(), "--input", input.to_str().unwrap()]).output().unwrap()
}

#[test]
fn doctor_explains_the_library_it_chose() {
    let dir = install_dir("doctor");
    // A library changed moments ago (fetched just now) is not remembered until it is older than the
    // cache's racy margin.
    use std::os::unix::fs::MetadataExt as _;
    let changed = std::fs::metadata(pinned_library()).unwrap().ctime();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if now.saturating_sub(u64::try_from(changed).unwrap_or(0)) < 3 {
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    let (c, v) = doctor_json(installed_ferry(&dir));
    assert_eq!(c, 0, "{v:#}");
    let ort = &v["onnxruntime"];
    assert_eq!(ort["loaded"]["place"], "the checkout's .ort/", "{v:#}");
    assert_eq!(ort["loaded"]["version"], ferry_runtime::ORT_VERSION);
    let loaded = Path::new(ort["loaded"]["path"].as_str().unwrap());
    assert_eq!(loaded.canonicalize().unwrap(), pinned_library().canonicalize().unwrap());
    let searched = ort["searched"].as_array().unwrap();
    let places: Vec<&str> = searched.iter().map(|p| p["place"].as_str().unwrap()).collect();
    assert_eq!(
        &places[..4],
        ["ORT_DYLIB_PATH", "lib/ beside the executable", "$FERRY_HOME/lib", "the checkout's .ort/"]
    );
    assert_eq!(searched[0]["detail"], "ORT_DYLIB_PATH not set");
    assert!(searched[1]["detail"].as_str().unwrap().contains("lib/libonnxruntime.so"), "{v:#}");
    assert_eq!(searched.iter().filter(|p| p["chosen"] == true).count(), 1, "{v:#}");

    // The 29 MB digest check is remembered: the next process does not hash the library again.
    assert_eq!(ort["loaded"]["digest_cached"], false);
    let (_, again) = doctor_json(installed_ferry(&dir));
    assert_eq!(again["onnxruntime"]["loaded"]["digest_cached"], true, "{again:#}");

    let o = installed_ferry(&dir).arg("doctor").output().unwrap();
    let text = stdout(&o);
    assert!(text.contains("CHOSEN: ") && text.contains("skipped: ORT_DYLIB_PATH not set"), "{text}");
}

#[test]
fn a_copied_ferry_uses_the_library_beside_it() {
    let dir = install_dir("beside");
    std::fs::create_dir(dir.join("lib")).unwrap();
    std::fs::copy(pinned_library(), dir.join("lib").join(ferry_runtime::LIBRARY_FILE)).unwrap();
    let (c, v) = doctor_json(installed_ferry(&dir));
    assert_eq!(
        (c, &v["onnxruntime"]["loaded"]["place"]),
        (0, &Value::from("lib/ beside the executable")),
        "{v:#}"
    );
    let t = tempdir();
    let bundle = t.path().join("credit-risk.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let o = run_golden(installed_ferry(&dir), &bundle);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn a_damaged_library_where_the_pinned_one_belongs_is_refused() {
    let dir = install_dir("damaged");
    std::fs::create_dir(dir.join("lib")).unwrap();
    let mut bytes = std::fs::read(pinned_library()).unwrap();
    bytes[4096] ^= 1;
    std::fs::write(dir.join("lib").join(ferry_runtime::LIBRARY_FILE), &bytes).unwrap();
    let t = tempdir();
    let bundle = t.path().join("credit-risk.ferry");
    pack(&fixture("credit-risk"), &bundle);
    // Not passed over for the checkout's intact copy: that would hide the damage.
    let o = run_golden(installed_ferry(&dir), &bundle);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lib/libonnxruntime.so") && stderr(&o).contains("sha256 is"),
        "{}",
        stderr(&o)
    );
    let (c, v) = doctor_json(installed_ferry(&dir));
    assert_eq!(c, 1, "{v:#}");
    assert_eq!(v["onnxruntime"]["searched"][1]["outcome"], "refused", "{v:#}");
}

#[test]
fn ferry_home_holds_the_library() {
    let dir = install_dir("home");
    let home = dir.join("home");
    std::fs::create_dir_all(home.join("lib")).unwrap();
    std::fs::copy(pinned_library(), home.join("lib").join(ferry_runtime::LIBRARY_FILE)).unwrap();
    let mut cmd = installed_ferry(&dir);
    cmd.env(ferry_runtime::FERRY_HOME_VAR, &home);
    let (c, v) = doctor_json(cmd);
    assert_eq!((c, &v["onnxruntime"]["loaded"]["place"]), (0, &Value::from("$FERRY_HOME/lib")), "{v:#}");
}
