//! GPU discovery and the device policy on a machine without a GPU (CI's): what is missing is named, a
//! missing GPU is not an error for `ferry devices`, and `auto` falls back to the CPU saying why.

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn packed(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("credit-risk.ferry");
    pack(&fixture("credit-risk"), &out);
    out
}

fn with_libs(dir: &Path, args: &[&str]) -> std::process::Output {
    ferry().args(args).env("LD_LIBRARY_PATH", dir).env_remove("FERRY_CUDA_LIBS").output().unwrap()
}

fn has_real_driver() -> bool {
    // The machines these tests are for have none; on one with a GPU the no-driver cases do not apply.
    [
        "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "/usr/lib64/libcuda.so.1",
        "/usr/local/nvidia/lib64/libcuda.so.1",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
}

#[test]
fn devices_without_a_driver_says_there_is_no_gpu_and_exits_0() {
    if has_real_driver() {
        return;
    }
    let t = tempdir();
    let o = with_libs(t.path(), &["devices"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("no GPU: no CUDA driver: libcuda.so"), "{out}");
    assert!(out.contains("install the NVIDIA driver"), "{out}");
    let o = with_libs(t.path(), &["devices", "--json"]);
    assert_eq!(code(&o), 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["gpus"], serde_json::json!([]));
    assert!(doc["driver"].is_null());
    assert!(doc["no_gpu"].as_str().unwrap().contains("no CUDA driver"));
}

/// An empty file where the driver belongs: a typed error naming it and the loader's reason, never a
/// panic; `--device cuda` is a usage/environment error (2), `auto` runs on the CPU and says why.
#[test]
fn an_empty_libcuda_is_named_and_refused_and_auto_falls_back() {
    if has_real_driver() {
        return;
    }
    let t = tempdir();
    let fake = t.path().join("fake");
    std::fs::create_dir(&fake).unwrap();
    std::fs::write(fake.join("libcuda.so.1"), b"").unwrap();
    std::fs::write(fake.join("libcuda.so"), b"").unwrap();
    let bundle = packed(t.path());
    let input = fixture("credit-risk").join("golden/smoke.inputs.npz");
    let (bundle, input) = (bundle.to_str().unwrap(), input.to_str().unwrap());

    let o = with_libs(&fake, &["devices"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("libcuda.so.1: ") && stdout(&o).contains("file too short"), "{}", stdout(&o));

    let o = with_libs(&fake, &["run", bundle, "--input", input, "--device", "cuda"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("device `cuda:0` cannot be used: no CUDA driver"), "{err}");
    assert!(err.contains("libcuda.so.1") && err.contains("file too short"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let o = with_libs(&fake, &["run", bundle, "--input", input, "--device", "auto"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("device: cpu (auto: no GPU used: device `cuda:0` cannot be used: no CUDA driver")
    );
    assert!(stdout(&o).contains("probability"), "{}", stdout(&o));

    let o = with_libs(&fake, &["verify", bundle, "--device", "cuda:1", "--format", "json"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot verify on this device"), "{}", stderr(&o));
    let o = with_libs(&fake, &["verify", bundle, "--device", "auto", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["device"]["id"], "cpu");
    assert!(report["device"]["fallback"].as_str().unwrap().contains("no CUDA driver"));

    let o = with_libs(&fake, &["run", bundle, "--input", input, "--device", "gpu"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("unknown device `gpu` (cpu, cuda, cuda:N or auto)"), "{}", stderr(&o));
}

/// A driver that works and sees a GPU, on a machine where the ONNX Runtime GPU build is not installed:
/// the error names the missing piece and how to fetch it. The driver is a stand-in compiled here
/// (tests/e2e/data/fake_libcuda.c), so this runs on CI's CPU machines.
#[test]
fn a_gpu_without_the_onnx_runtime_gpu_build_names_the_fetch() {
    if has_real_driver() {
        return;
    }
    let t = tempdir();
    let lib = t.path().join("libcuda.so.1");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/data/fake_libcuda.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc)
        .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .unwrap();
    assert!(built.success(), "{cc} could not build the stand-in driver");
    let o = with_libs(t.path(), &["devices"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("cuda:0  Fake GPU  compute capability 9.0  16.0 GiB memory, 8.0 GiB free"),
        "{}",
        stdout(&o)
    );

    let bundle = packed(t.path());
    let input = fixture("credit-risk").join("golden/smoke.inputs.npz");
    let gpu_build = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ort").join(ferry_runtime::GPU_DIR);
    let o = with_libs(
        t.path(),
        &["run", bundle.to_str().unwrap(), "--input", input.to_str().unwrap(), "--device", "cuda"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    if gpu_build.join("libonnxruntime.so").exists() {
        // A checkout with the GPU build fetched gets past it, to the provider that needs a real driver.
        assert!(!err.contains("panicked"), "{err}");
    } else {
        assert!(err.contains("is the CPU build") && err.contains("scripts/fetch-onnxruntime --gpu"), "{err}");
    }
}

#[test]
fn the_gpu_fetch_dry_run_lists_pinned_wheels_and_fetches_nothing() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fetch-onnxruntime");
    let t = tempdir();
    let dest = t.path().join("gpu");
    let o = Command::new("python3")
        .arg(&script)
        .args(["--gpu", "--dry-run", "--dest"])
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for package in
        ["onnxruntime-gpu==1.31.1", "nvidia-cuda-runtime==", "nvidia-cublas==", "nvidia-cudnn-cu13=="]
    {
        assert!(out.contains(package), "{package} missing: {out}");
    }
    for (name, sha) in ferry_runtime::ORT_CUDA_PROVIDERS {
        assert!(out.contains(&format!("{name}  sha256 {sha}")), "{name}: {out}");
    }
    assert!(out.contains(ferry_runtime::ORT_GPU_LIBRARY_SHA256.unwrap_or("none")), "{out}");
    for lib in ferry_runtime::ferry_device::CUDA_LIBRARIES {
        assert!(out.contains(lib.name), "{}: {out}", lib.name);
    }
    assert!(!dest.exists(), "a dry run wrote {}", dest.display());
}

/// A bundle's `[devices]`: checked at pack time naming the key, recorded in the manifest, and a runtime
/// on a device the bundle rules out refuses it (exit 1), `auto` included when no GPU is here.
#[test]
fn a_bundle_declares_its_devices_and_a_cpu_runtime_refuses_a_gpu_only_bundle() {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    let bundle = t.path().join("gpu-only.ferry");
    let (bundle_s, input) =
        (bundle.to_str().unwrap(), fixture("credit-risk").join("golden/smoke.inputs.npz"));
    let input = input.to_str().unwrap();

    std::fs::write(src.join("ferry.toml"), format!("{toml}\n[devices]\nsupported = [\"cpu\", \"tpu\"]\n"))
        .unwrap();
    let o = run(&["pack", src.to_str().unwrap(), "-o", bundle_s]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("devices.supported[1]") && stderr(&o).contains("`tpu` is not a device kind"),
        "{}",
        stderr(&o)
    );
    assert!(!bundle.exists());

    std::fs::write(
        src.join("ferry.toml"),
        format!("{toml}\n[devices]\nsupported = [\"cuda\"]\nmin_compute_capability = \"8.0\"\n"),
    )
    .unwrap();
    let o = run(&["pack", src.to_str().unwrap(), "-o", bundle_s]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["inspect", bundle_s, "--json"]);
    assert!(stdout(&o).contains("min_compute_capability"), "{}", stdout(&o));

    let o = run(&["run", bundle_s, "--input", input]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("device `cpu` is not one this bundle runs on: the bundle supports only cuda"),
        "{err}"
    );
    assert!(err.contains("--device cuda"), "{err}");
    if !has_real_driver() {
        let o = with_libs(t.path(), &["run", bundle_s, "--input", input, "--device", "auto"]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("supports only cuda") && stderr(&o).contains("no GPU here"),
            "{}",
            stderr(&o)
        );
    }
    // The verifier opens it the same way: the golden check says why it could not run here.
    let o = run(&["verify", bundle_s, "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("is not one this bundle runs on"), "{}", stdout(&o));
}
