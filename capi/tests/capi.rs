//! The C ABI end to end: the committed header matches the code, and a C11 host (`tests/host.c`, built
//! with `cc` against `include/ferry.h` and `libferry_c.so`) runs every check: goldens, bad requests, trust
//! and tampering, 8 threads on one model, records, verify; then the same host under valgrind.
// Test code: a failed step fails the test right there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Calling the C ABI from Rust, as C would (this crate is the home of FFI unsafe).
#![allow(unsafe_code)]

use ferry::spec::GoldenSide;
use ferry::tensor::{DType, Format, TensorData};
use ferry_c::FerryStatus;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

const BLESS_HINT: &str = "run FERRY_BLESS=1 cargo test -p ferry-capi to update";

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---- the header --------------------------------------------------------------------------------------

fn generate_header() -> String {
    let config = cbindgen::Config::from_file(crate_dir().join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir().join("src/lib.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen: {e}"));
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn header_is_up_to_date() {
    let path = crate_dir().join("include/ferry.h");
    let generated = generate_header();
    if std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "{} is stale: {BLESS_HINT}", path.display());
    for needle in [
        "#ifndef FERRY_H",
        "#define FERRY_ABI_VERSION 1",
        "FERRY_STATUS_CONTRACT = 6",
        "FERRY_DTYPE_FLOAT = 1",
    ] {
        assert!(generated.contains(needle), "ferry.h lacks `{needle}`");
    }
}

// ---- the error slot, from Rust (no ONNX Runtime needed) ----------------------------------------------

#[test]
fn the_last_error_is_per_thread_and_cleared_by_success() {
    // SAFETY: NULL arguments are part of the contract.
    let model = unsafe { ferry_c::ferry_model_open(std::ptr::null(), std::ptr::null()) };
    assert!(model.is_null());
    assert_eq!(ferry_c::ferry_last_error_code(), FerryStatus::InvalidArgument as i32);
    let message = || {
        // SAFETY: the pointer is valid until the next ferry call on this thread.
        unsafe { std::ffi::CStr::from_ptr(ferry_c::ferry_last_error_message()) }.to_str().unwrap().to_owned()
    };
    assert!(message().contains("path is NULL"), "{}", message());
    std::thread::spawn(|| {
        assert_eq!(ferry_c::ferry_last_error_code(), 0, "another thread's error leaked here");
        // SAFETY: a static NUL-terminated string.
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(ferry_c::ferry_last_error_message()) }.to_bytes(), b"");
    })
    .join()
    .unwrap();
    assert_eq!(ferry_c::ferry_last_error_code(), FerryStatus::InvalidArgument as i32);
    // A call that succeeds clears it; version calls do not touch it.
    assert_eq!(ferry_c::ferry_abi_version(), ferry_c::FERRY_ABI_VERSION);
    assert_eq!(ferry_c::ferry_last_error_code(), FerryStatus::InvalidArgument as i32);
    // SAFETY: NULL outputs are part of the contract.
    assert_eq!(unsafe { ferry_c::ferry_outputs_count(std::ptr::null()) }, 0);
    assert!(message().contains("outputs is NULL"));
    // SAFETY: as above.
    let status = unsafe {
        ferry_c::ferry_verify(std::ptr::null(), std::ptr::null(), std::ptr::null(), 0, std::ptr::null_mut())
    };
    assert_eq!(status, FerryStatus::InvalidArgument as i32);
    assert!(message().contains("report_json is NULL"), "{}", message());
}

// ---- the C host -------------------------------------------------------------------------------------

/// Everything the host needs, prepared once per test process.
struct Setup {
    dir: tempfile::TempDir,
    host: PathBuf,
    args: Vec<String>,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let t0 = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let root = crate_dir().join("..");
        let bundle = d.join("credit-risk.ferry");
        ferry::packager::pack(&root.join("fixtures/credit-risk"), &bundle).unwrap();
        // One flipped byte inside the ONNX graph: the bundle reader refuses its digest.
        let tampered = d.join("tampered.ferry");
        let mut bytes = std::fs::read(&bundle).unwrap();
        let onnx = std::fs::read(root.join("fixtures/credit-risk/model.onnx")).unwrap();
        let at = ferry_testkit::find(&bytes, &onnx[100..132]);
        bytes[at] ^= 0x01;
        std::fs::write(&tampered, bytes).unwrap();
        let records_bundle = d.join("credit-application.ferry");
        ferry::packager::pack(&root.join("fixtures/credit-application"), &records_bundle).unwrap();
        // A release policy that requires one signature by a key that never signed anything.
        let keys = d.join("keys");
        std::fs::create_dir(&keys).unwrap();
        let (_, public) = ferry::sign::keygen(None).unwrap();
        std::fs::write(keys.join("signer.pub"), public.as_str()).unwrap();
        let policy = keys.join("release.toml");
        std::fs::write(&policy, "[trust]\nkeys = [\"signer.pub\"]\nmin_signatures = 1\n").unwrap();
        let goldens = d.join("goldens");
        write_goldens(&bundle, &goldens);
        let records = d.join("records.json");
        let lines =
            std::fs::read_to_string(root.join("fixtures/credit-application/golden/applications.jsonl"))
                .unwrap();
        let array: Vec<serde_json::Value> = lines
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        std::fs::write(&records, serde_json::to_string(&array).unwrap()).unwrap();
        let host = compile_host(d);
        let p = |p: &Path| p.display().to_string();
        let args = vec![
            format!("bundle={}", p(&bundle)),
            format!("tampered={}", p(&tampered)),
            format!("policy={}", p(&policy)),
            format!("missing={}", p(&d.join("no-such.ferry"))),
            format!("goldens={}", p(&goldens)),
            format!("records_bundle={}", p(&records_bundle)),
            format!("records={}", p(&records)),
        ];
        eprintln!("setup (pack, goldens, cc): {:.1} s", t0.elapsed().as_secs_f64());
        Setup { host, args, dir }
    })
}

/// Each golden set of the bundle as raw float32 files plus a line of `goldens.txt`: what the C host reads.
fn write_goldens(bundle: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let b = ferry::bundle::Bundle::open(bundle).unwrap();
    let m = b.manifest();
    let hints: BTreeMap<String, DType> =
        m.inputs.iter().chain(&m.outputs).map(|t| (t.name.clone(), t.dtype)).collect();
    let read = |path: &str| {
        let bytes = b.file(path).unwrap();
        ferry::tensor::read_bytes(&bytes, Format::from_path(Path::new(path)).unwrap(), "tensor", &hints)
            .unwrap()
    };
    let mut list = String::new();
    for set in &m.golden {
        let inputs = read(set.side(GoldenSide::Inputs).path);
        let expected = read(set.side(GoldenSide::Outputs).path);
        let (features, probability) = (&inputs["features"], &expected["probability"]);
        let (TensorData::F32(x), TensorData::F32(y)) = (&features.data, &probability.data) else {
            panic!("golden `{}` is not float32", set.name)
        };
        let raw = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(dir.join(format!("{}.in.f32", set.name)), raw(x)).unwrap();
        std::fs::write(dir.join(format!("{}.expected.f32", set.name)), raw(y)).unwrap();
        let (rtol, atol) = set.tolerance("probability", DType::Float32);
        list += &format!(
            "{} {} {} {} {rtol} {atol}\n",
            set.name, features.shape[0], features.shape[1], probability.shape[1]
        );
    }
    std::fs::write(dir.join("goldens.txt"), list).unwrap();
}

/// The directory holding `libferry_c.so`: cargo builds the cdylib beside the rlib this test links, in
/// the profile directory (`target/debug/`, the parent of this test's `deps/`).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps.parent().unwrap(), deps] {
        if dir.join("libferry_c.so").is_file() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "libferry_c.so is neither in {} nor in its parent: build it with `cargo build -p ferry-capi`",
        deps.display()
    )
}

fn compile_host(dir: &Path) -> PathBuf {
    let lib = library_dir();
    let host = dir.join("host");
    let out = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread", "-g", "-O1"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/host.c"))
        .arg("-o")
        .arg(&host)
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lferry_c", "-lm"])
        .output()
        .expect("cc is needed to build the C host");
    assert!(out.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&out.stderr));
    host
}

/// The compilation cache for the credit-application transform, in the target directory (shared by the
/// tests of this binary, never the user's home).
fn cache_home() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("capi-xdg-cache")
}

/// Runs the host (under `program` with its `pre` arguments, or alone), one run at a time: the two
/// tests would otherwise share two cores and a decisions file.
fn run_host(program: &str, pre: &[&str], extra: &[&str], records: bool) -> (Output, String) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let s = setup();
    let args = s.args.iter().filter(|a| records || !a.starts_with("records"));
    let out = Command::new(program)
        .args(pre)
        .arg(&s.host)
        .args(args)
        .args(extra)
        .env("XDG_CACHE_HOME", cache_home())
        .output()
        .unwrap();
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn assert_all_checks(stdout: &str, text: &str, threads: &str, records: bool) {
    assert!(!stdout.lines().any(|l| l.starts_with("FAIL")), "{text}");
    for line in [
        "ok abi version",
        "ok input and output names",
        "ok contract json",
        "ok golden smoke",
        "ok golden edge",
        "ok string dtype refused",
        "ok byte_len mismatch refused",
        "ok rank 33 refused",
        "ok NULL data refused",
        "ok unknown input name refused by the contract",
        "ok missing input refused by the contract",
        "ok age = -1 refused by the contract, naming age",
        "ok NULL model refused",
        "ok open missing file: IO",
        "ok open tampered bundle: BUNDLE",
        "ok open unsigned bundle under a signing policy: UNTRUSTED",
        "ok records on a bundle without transforms",
        threads,
        if records { "ok records in, decisions out" } else { "skip records" },
        "ok verify good bundle: passed",
        "ok verify tampered bundle: CHECK_FAILED",
        "all checks passed",
    ] {
        assert!(stdout.lines().any(|l| l.starts_with(line)), "no line `{line}`:\n{text}");
    }
}

/// The decisions the host wrote equal the fixture's golden decisions (numbers within the golden's
/// tolerance).
fn assert_golden_decisions(path: &Path) {
    let got: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let golden = crate_dir().join("../fixtures/credit-application/golden/applications.decisions.jsonl");
    let want: Vec<serde_json::Value> = std::fs::read_to_string(golden)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (a, b) {
            (V::Number(x), V::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
                (x - y).abs() <= 1e-5 + 1e-4 * y.abs()
            }
            (V::Array(x), V::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b)),
            (V::Object(x), V::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
            }
            _ => a == b,
        }
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(close(g, w), "decision {i}: got {g}, want {w}");
    }
}

#[test]
fn c_host_passes_every_check() {
    let t0 = Instant::now();
    let decisions = setup().dir.path().join("decisions.json");
    let decisions_arg = format!("decisions_out={}", decisions.display());
    let (out, text) =
        run_host(setup().host.to_str().unwrap(), &[], &["threads=8", "calls=1000", &decisions_arg], true);
    eprintln!("host: {:.1} s\n{text}", t0.elapsed().as_secs_f64());
    assert!(out.status.success(), "the C host failed:\n{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_all_checks(
        &stdout,
        &text,
        "ok 8 threads x 1000 calls on one model equal the single-threaded result",
        true,
    );
    assert_golden_decisions(&decisions);
}

/// The same host under valgrind, fewer calls: no definite leaks and no memory errors (`--error-exitcode`),
/// but for two reports outside Ferry's code (`tests/valgrind.supp`). Still-reachable blocks (ONNX
/// Runtime's, the process-wide runtime's) are fine. The records checks are left out: the
/// credit-application transform is a Python interpreter compiled to WebAssembly, which takes minutes
/// under valgrind's JIT emulation.
#[test]
fn c_host_is_clean_under_valgrind() {
    let Some(valgrind) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("valgrind"))
        .find(|p| p.is_file())
    else {
        eprintln!("note: valgrind is not on PATH; c_host_is_clean_under_valgrind skipped");
        return;
    };
    let suppressions = format!("--suppressions={}", crate_dir().join("tests/valgrind.supp").display());
    let t0 = Instant::now();
    let (out, text) = run_host(
        valgrind.to_str().unwrap(),
        &[
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=97",
            "--num-callers=30",
            &suppressions,
        ],
        &["threads=2", "calls=20"],
        false,
    );
    eprintln!("valgrind host: {:.1} s\n{text}", t0.elapsed().as_secs_f64());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            [
                "definitely lost:",
                "indirectly lost:",
                "possibly lost:",
                "All heap blocks were freed",
                "ERROR SUMMARY",
            ]
            .iter()
            .any(|k| l.contains(k))
        })
        .collect();
    eprintln!("leak summary:\n{}", summary.join("\n"));
    assert!(
        stderr.contains("definitely lost: 0 bytes") || stderr.contains("All heap blocks were freed"),
        "definite leaks:\n{text}"
    );
    assert!(out.status.success(), "valgrind exit {:?}:\n{text}", out.status.code());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_all_checks(
        &stdout,
        &text,
        "ok 2 threads x 20 calls on one model equal the single-threaded result",
        false,
    );
}
