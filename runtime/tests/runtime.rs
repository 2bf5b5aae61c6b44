//! End-to-end tests of the runtime on the fixture bundles. They need the pinned ONNX Runtime library:
//! run `scripts/fetch-onnxruntime` first (the README's test command does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_runtime::compare::compare;
use ferry_runtime::{
    BundleCheck, ContractErrorKind, Device, LibrarySource, Model, OpenOptions, Runtime, RuntimeError,
    RuntimeOptions, TrustPolicy,
};
use ferry_spec::{DType, GoldenSide, Manifest};
use ferry_tensor::{Format, Tensor, TensorData, TensorMap};
use ferry_testkit::{find, fixture, tempdir};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The shared runtime; fails the test run with instructions when ONNX Runtime is not installed.
fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| match Runtime::new(RuntimeOptions::default()) {
        Ok(rt) => rt,
        Err(e) => panic!(
            "ONNX Runtime is not available: {e}\n\
             run `scripts/fetch-onnxruntime` from the repository root (or set ORT_DYLIB_PATH), then rerun the tests"
        ),
    })
}

/// Packs a fixture source with the real packager, after letting the test alter its manifest.
fn pack_with(name: &str, out: &Path, tweak: impl FnOnce(&mut Manifest)) {
    let loaded = ferry_packager::load(&fixture(name)).expect("fixture source loads");
    let mut manifest = ferry_packager::manifest_for(&loaded);
    tweak(&mut manifest);
    let files = loaded
        .files
        .iter()
        .map(|(path, disk)| ferry_bundle::FileSource {
            path: path.clone(),
            data: ferry_bundle::FileData::Disk(disk.clone()),
        })
        .collect();
    ferry_bundle::write_bundle(out, files, manifest, &[]).expect("bundle written");
}

/// A packed fixture, built once per test process.
fn bundle(fixture: &'static str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static BUILT: std::sync::Mutex<BTreeMap<&'static str, PathBuf>> = std::sync::Mutex::new(BTreeMap::new());
    let dir = DIR.get_or_init(tempdir);
    let mut built = BUILT.lock().unwrap();
    built
        .entry(fixture)
        .or_insert_with(|| {
            let out = dir.path().join(format!("{fixture}.ferry"));
            pack_with(fixture, &out, |_| {});
            out
        })
        .clone()
}

fn no_env() -> OpenOptions {
    OpenOptions { env: Some(Vec::new()), ..OpenOptions::default() }
}

fn open(fixture: &'static str) -> Model {
    runtime().open(&bundle(fixture), &no_env()).expect("fixture bundle opens")
}

fn credit_risk() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| open("credit-risk"))
}

fn text_embedding() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| open("text-embedding"))
}

fn read_tensors(model: &Model, path: &str) -> TensorMap {
    let bytes = model.bundle().unwrap().file(path).unwrap();
    let format = Format::from_path(Path::new(path)).unwrap();
    let hints: BTreeMap<String, DType> = model
        .manifest()
        .inputs
        .iter()
        .chain(&model.manifest().outputs)
        .map(|t| (t.name.clone(), t.dtype))
        .collect();
    ferry_tensor::read_bytes(&bytes, format, "tensor", &hints).unwrap()
}

fn check_goldens(model: &Model) -> usize {
    let mut checked = 0;
    for set in &model.manifest().golden {
        let inputs = read_tensors(model, set.side(GoldenSide::Inputs).path);
        let expected = read_tensors(model, set.side(GoldenSide::Outputs).path);
        let actual = model.infer(&inputs).unwrap_or_else(|e| panic!("golden `{}`: {e}", set.name));
        for (name, want) in &expected {
            let got = &actual[name];
            let (rtol, atol) = set.tolerance(name, want.dtype());
            let c = compare(want, got, rtol, atol);
            assert!(c.pass, "golden `{}` output `{name}`: {c:?}", set.name);
            checked += 1;
        }
    }
    checked
}

fn features(rows: &[[f32; 14]]) -> TensorMap {
    let data: Vec<f32> = rows.iter().flatten().copied().collect();
    TensorMap::from([(
        "features".to_owned(),
        Tensor { shape: vec![rows.len(), 14], data: TensorData::F32(data) },
    )])
}

const APPLICANT: [f32; 14] =
    [34.0, 72000.0, 0.18, 0.22, 7.0, 0.0, f32::NAN, 12000.0, 36.0, 6.0, 2.0, 1.0, 0.0, 8400.0];

fn contract_error(r: Result<TensorMap, RuntimeError>) -> ferry_runtime::ContractError {
    match r {
        Err(RuntimeError::Contract(e)) => *e,
        other => panic!("expected a contract error, got {other:?}"),
    }
}

// ---- library -------------------------------------------------------------------------------------

#[test]
fn pinned_library_is_loaded_and_versioned() {
    let lib = runtime().library();
    assert_eq!(lib.version.as_ref().map(ToString::to_string).as_deref(), Some("1.31.1"), "{lib:?}");
    if lib.source != LibrarySource::Env {
        assert!(lib.sha256.is_some());
        // The ELF version marker agrees with the digest-pinned version.
        let bytes = std::fs::read(&lib.path).unwrap();
        assert!(bytes.windows(12).any(|w| w == b"VERS_1.31.1\0"));
    }
}

/// Re-runs this test binary with one test selected and a prepared environment: ONNX Runtime can be loaded
/// only once per process, so a broken library must be tried in a fresh one.
fn child(test: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--include-ignored"]).env("FERRY_RUNTIME_TEST_CHILD", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
#[ignore = "run in a child process by wrong_library_is_a_typed_error"]
fn child_wrong_library() {
    if std::env::var_os("FERRY_RUNTIME_TEST_CHILD").is_none() {
        return;
    }
    let err = Runtime::new(RuntimeOptions::default()).unwrap_err();
    assert!(matches!(err, RuntimeError::OrtLibrary { .. }), "{err:?}");
    println!("CHILD-ERROR: {err}");
}

#[test]
fn wrong_library_is_a_typed_error() {
    let dir = tempdir();
    let garbage = dir.path().join("libonnxruntime.so");
    std::fs::write(&garbage, b"\x7fELF but not really").unwrap();
    for path in [garbage.to_str().unwrap(), "/nonexistent/libonnxruntime.so"] {
        let out = child("child_wrong_library", &[("ORT_DYLIB_PATH", path)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("CHILD-ERROR: onnx runtime library"), "{stdout}");
        assert!(stdout.contains(path), "{stdout}");
    }
}

#[test]
#[ignore = "run in a child process by env_library_is_used_as_is"]
fn child_env_library() {
    if std::env::var_os("FERRY_RUNTIME_TEST_CHILD").is_none() {
        return;
    }
    let rt = Runtime::new(RuntimeOptions::default()).unwrap();
    assert_eq!(rt.library().source, LibrarySource::Env);
    println!("CHILD-VERSION: {:?}", rt.library().version.as_ref().map(ToString::to_string));
}

#[test]
fn env_library_is_used_as_is() {
    let lib = runtime().library().path.clone();
    let out = child("child_env_library", &[("ORT_DYLIB_PATH", lib.to_str().unwrap())]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("CHILD-VERSION: Some(\"1.31.1\")"), "{stdout}");
}

#[test]
fn a_second_library_is_refused() {
    let loaded = runtime().library().path.clone();
    let same = Runtime::new(RuntimeOptions { library_path: Some(loaded), ..Default::default() });
    assert!(same.is_ok());
    let other = Runtime::new(RuntimeOptions {
        library_path: Some("/elsewhere/libonnxruntime.so".into()),
        ..Default::default()
    });
    assert!(
        matches!(&other, Err(RuntimeError::OrtLibrary { reason, .. }) if reason.contains("already loaded")),
        "{other:?}"
    );
}

/// On a machine without a GPU (CI's): a typed error whose source names what is missing, and `auto`
/// runs on the CPU, keeping the reason.
#[test]
fn cuda_without_a_gpu_is_refused_clearly_and_auto_falls_back() {
    let Err(err) =
        Runtime::new(RuntimeOptions { device: Device::Cuda { device_id: 0 }, ..RuntimeOptions::default() })
    else {
        return; // a machine with a usable GPU
    };
    let RuntimeError::Gpu { device, source } = &err else { panic!("{err:?}") };
    assert_eq!(device, "cuda:0");
    assert!(matches!(source, ferry_runtime::DeviceError::NoDriver { .. }), "{source:?}");
    assert!(source.to_string().contains("no CUDA driver"), "{source}");
    let auto = Runtime::new(RuntimeOptions { device: Device::Auto, ..RuntimeOptions::default() }).unwrap();
    assert_eq!(auto.device().id(), "cpu");
    assert!(auto.device().fallback.as_deref().unwrap().contains("no CUDA driver"));
    let model = auto.open(&bundle("credit-risk"), &no_env()).unwrap();
    assert_eq!(model.device().kind(), "cpu");
}

// ---- goldens ----------------------------------------------------------------------------------------

#[test]
fn credit_risk_goldens_reproduce() {
    assert_eq!(check_goldens(credit_risk()), 2);
}

#[test]
fn text_embedding_goldens_reproduce() {
    let m = text_embedding();
    assert_eq!(check_goldens(m), 1);
    // token_embedding [1000, 64] and proj_weight [64, 64] live in external data and are shared, used in
    // place from the bundle's memory map.
    assert_eq!(m.shared_initializers(), 2);
    assert_eq!(m.weights_in_place(), 2);
    assert_eq!(m.prewarm(2).unwrap(), 2.min(m.max_sessions()));
    assert_eq!(check_goldens(m), 1);
}

#[test]
fn open_bytes_matches_open() {
    let bytes = std::fs::read(bundle("credit-risk")).unwrap();
    let m = runtime().open_bytes(bytes, &no_env()).unwrap();
    assert_eq!(check_goldens(&m), 2);
}

#[test]
fn manifest_config_and_threads_are_exposed() {
    let m = credit_risk();
    assert_eq!(m.manifest().model.name, "credit-risk");
    assert_eq!(m.config()["currency"], "USD");
    // The fixture's config says 0 ("let the runtime decide"): a small model runs single-threaded.
    assert_eq!(m.intra_op_threads(), 1);
    assert!(m.max_sessions() >= 1);
}

// ---- refusing bundles ---------------------------------------------------------------------------------

/// The bytes of the bundle at `path` with the first byte of `needle` flipped, in memory (the bundle is
/// shared by every test of this process, so it is not flipped in place with `flip_byte_at`).
fn flip_byte_in(path: &Path, needle: &[u8]) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let at = find(&bytes, needle);
    bytes[at] ^= 0x01;
    bytes
}

#[test]
fn flipped_weight_byte_is_refused() {
    // A byte inside the text-embedding external weights (stored uncompressed, so it is in the tar as is).
    let data = std::fs::read(fixture("text-embedding/model.onnx.data")).unwrap();
    let bytes = flip_byte_in(&bundle("text-embedding"), &data[1000..1032]);
    let err = runtime().open_bytes(bytes, &no_env()).unwrap_err();
    assert!(matches!(err, RuntimeError::Bundle(ferry_bundle::BundleError::Digest { .. })), "{err:?}");
    assert!(err.to_string().contains("model.onnx.data"), "{err}");
}

#[test]
fn flipped_graph_byte_is_refused() {
    let onnx = std::fs::read(fixture("credit-risk/model.onnx")).unwrap();
    let bytes = flip_byte_in(&bundle("credit-risk"), &onnx[100..132]);
    let err = runtime().open_bytes(bytes, &no_env()).unwrap_err();
    assert!(matches!(err, RuntimeError::Bundle(_)), "{err:?}");
}

/// The verified-digest cache: an unchanged bundle is not hashed again, a changed byte is still found,
/// and a policy that asks for it gets a full hash on every open.
#[test]
fn an_unchanged_bundle_is_hashed_once_and_a_changed_byte_still_fails() {
    let dir = tempdir();
    let path = dir.path().join("credit-risk.ferry");
    std::fs::copy(bundle("credit-risk"), &path).unwrap();
    let with = |cache: ferry_runtime::CacheLocation, always_rehash| {
        Runtime::new(RuntimeOptions { cache, always_rehash, ..RuntimeOptions::default() }).unwrap()
    };
    let rt = with(ferry_runtime::CacheLocation::Dir(dir.path().join("cache")), false);
    // A file written moments ago is not remembered (a write in the same clock tick could go unseen).
    assert!(!rt.open(&path, &no_env()).unwrap().digests_cached());
    assert!(!rt.open(&path, &no_env()).unwrap().digests_cached());
    std::thread::sleep(ferry_cache::RACY_MARGIN + std::time::Duration::from_millis(100));
    assert!(!rt.open(&path, &no_env()).unwrap().digests_cached(), "hashed, then remembered");
    let model = rt.open(&path, &no_env()).unwrap();
    assert!(model.digests_cached());
    assert!(check_goldens(&model) > 0);
    let strict = with(ferry_runtime::CacheLocation::Dir(dir.path().join("cache")), true);
    assert!(!strict.open(&path, &no_env()).unwrap().digests_cached());
    // One flipped byte of the graph, in place: same size, same inode.
    let onnx = std::fs::read(fixture("credit-risk/model.onnx")).unwrap();
    let at = find(&std::fs::read(&path).unwrap(), &onnx[100..132]);
    ferry_testkit::flip_byte_at(&path, at);
    let err = rt.open(&path, &no_env()).unwrap_err();
    assert!(matches!(err, RuntimeError::Bundle(_)), "{err:?}");
}

#[test]
fn truncated_bundles_are_refused() {
    let bytes = std::fs::read(bundle("credit-risk")).unwrap();
    for cut in [0, 1, 511, 512, 1024, bytes.len() / 2, bytes.len() - 1024, bytes.len() - 1] {
        let err = runtime().open_bytes(bytes[..cut].to_vec(), &no_env()).unwrap_err();
        assert!(matches!(err, RuntimeError::Bundle(_)), "cut at {cut}: {err:?}");
    }
}

#[test]
fn pins_excluding_this_runtime_are_refused() {
    let dir = tempdir();
    for (req, ok) in
        [(">=1.32.0, <1.33.0", false), ("<1.31.0", false), ("=1.31.1", true), ("not a req", false)]
    {
        let out = dir.path().join("pinned.ferry");
        pack_with("credit-risk", &out, |m| m.pins.onnxruntime = req.to_owned());
        let r = runtime().open(&out, &no_env());
        if ok {
            r.unwrap();
        } else {
            let err = r.unwrap_err();
            assert!(
                matches!(&err, RuntimeError::Pin { pin, required, found } if pin == "onnxruntime" && required == req && found.contains("1.31.1") || req == "not a req"),
                "{req}: {err:?}"
            );
            assert!(matches!(err, RuntimeError::Pin { .. }), "{err:?}");
        }
    }
}

#[test]
fn format_version_is_checked() {
    let dir = tempdir();
    let out = dir.path().join("v2.ferry");
    pack_with("credit-risk", &out, |m| m.format_version = ferry_spec::FORMAT_VERSION + 1);
    let err = runtime().open(&out, &no_env()).unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Format { found: 2, .. }
                | RuntimeError::Bundle(ferry_bundle::BundleError::FormatVersion { .. })
        ),
        "{err:?}"
    );
}

struct Refuse;
impl BundleCheck for Refuse {
    fn name(&self) -> &str {
        "signature"
    }
    fn check(&self, _: &ferry_bundle::Bundle) -> Result<(), String> {
        Err("no signature by a trusted key".into())
    }
}

#[test]
fn trust_policy_checks_run() {
    let rt = Runtime::new(RuntimeOptions {
        trust: TrustPolicy::default().require(Arc::new(Refuse)),
        ..RuntimeOptions::default()
    })
    .unwrap();
    let err = rt.open(&bundle("credit-risk"), &no_env()).unwrap_err();
    assert!(matches!(&err, RuntimeError::Untrusted { check, .. } if check == "signature"), "{err}");
}

// ---- configuration --------------------------------------------------------------------------------

#[test]
fn config_layers_and_validation() {
    let dir = tempdir();
    let file = dir.path().join("host.json");
    std::fs::write(&file, r#"{"decision_threshold": 0.3, "currency": "GBP"}"#).unwrap();
    let opts = OpenOptions {
        overrides: vec![("decision_threshold".into(), "0.7".into())],
        config_file: Some(file.clone()),
        env: Some(vec![
            ("FERRY_CONFIG__CURRENCY".into(), "EUR".into()),
            ("FERRY_CONFIG__INTRA_OP_THREADS".into(), "2".into()),
        ]),
    };
    let m = runtime().open(&bundle("credit-risk"), &opts).unwrap();
    assert_eq!(m.config()["decision_threshold"], 0.7);
    assert_eq!(m.config()["currency"], "EUR");
    assert_eq!(m.intra_op_threads(), 2);
    assert_eq!(check_goldens(&m), 2);

    let bad = OpenOptions { overrides: vec![("decision_threshold".into(), "1.5".into())], ..no_env() };
    let err = runtime().open(&bundle("credit-risk"), &bad).unwrap_err();
    match &err {
        RuntimeError::Config { pointer, rule, .. } => {
            assert_eq!(pointer, "/decision_threshold");
            assert!(rule.starts_with("maximum"), "{rule}");
        }
        other => panic!("{other:?}"),
    }
    let bad = OpenOptions { env: Some(vec![("FERRY_CONFIG__CURRENCY".into(), "JPY".into())]), ..no_env() };
    let err = runtime().open(&bundle("credit-risk"), &bad).unwrap_err();
    assert!(matches!(&err, RuntimeError::Config { pointer, .. } if pointer == "/currency"), "{err}");
    let bad = OpenOptions { overrides: vec![("unknown_key".into(), "1".into())], ..no_env() };
    assert!(matches!(runtime().open(&bundle("credit-risk"), &bad), Err(RuntimeError::Config { .. })));
}

#[test]
fn runtime_options_override_config_threads() {
    let rt = Runtime::new(RuntimeOptions {
        intra_op_threads: Some(3),
        max_sessions: Some(2),
        ..Default::default()
    })
    .unwrap();
    let m = rt.open(&bundle("text-embedding"), &no_env()).unwrap();
    assert_eq!(m.intra_op_threads(), 3);
    assert_eq!(m.max_sessions(), 2);
    assert_eq!(check_goldens(&m), 1);
}

// ---- the contract at the door ------------------------------------------------------------------

#[test]
fn valid_requests_run() {
    let out = credit_risk().infer(&features(&[APPLICANT, APPLICANT])).unwrap();
    let p = &out["probability"];
    assert_eq!(p.shape, vec![2, 1]);
    let TensorData::F32(v) = &p.data else { panic!() };
    assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
    // An empty batch is valid.
    let out = credit_risk().infer(&features(&[])).unwrap();
    assert_eq!(out["probability"].shape, vec![0, 1]);
}

#[test]
fn wrong_dtype_is_refused() {
    let mut m = features(&[APPLICANT]);
    let t = m.get_mut("features").unwrap();
    t.data = TensorData::F64(APPLICANT.iter().map(|&x| f64::from(x)).collect());
    let e = contract_error(credit_risk().infer(&m));
    assert_eq!(e.kind, ContractErrorKind::DType { expected: DType::Float32, found: DType::Float64 });
}

#[test]
fn wrong_rank_is_refused() {
    let mut m = features(&[APPLICANT]);
    m.get_mut("features").unwrap().shape = vec![14];
    let e = contract_error(credit_risk().infer(&m));
    assert!(matches!(e.kind, ContractErrorKind::Rank { expected: 2, found: 1, .. }), "{e}");
}

#[test]
fn wrong_fixed_dim_is_refused() {
    let mut m = features(&[APPLICANT]);
    m.get_mut("features").unwrap().shape = vec![2, 7];
    let e = contract_error(credit_risk().infer(&m));
    assert_eq!(e.kind, ContractErrorKind::Dim { axis: 1, expected: 14, found: 7 });
}

#[test]
fn inconsistent_symbolic_dims_are_refused() {
    let ids = Tensor { shape: vec![2, 3], data: TensorData::I64(vec![1, 2, 3, 4, 5, 6]) };
    let mask = Tensor { shape: vec![3, 3], data: TensorData::I64(vec![1; 9]) };
    let m = TensorMap::from([("input_ids".into(), ids), ("attention_mask".into(), mask)]);
    let e = contract_error(text_embedding().infer(&m));
    assert_eq!(e.input, "attention_mask");
    assert!(
        matches!(&e.kind, ContractErrorKind::Symbol { symbol, found: 3, other_input, other_value: 2, .. } if symbol == "batch" && other_input == "input_ids"),
        "{e}"
    );
}

#[test]
fn out_of_range_feature_is_refused() {
    let mut row = APPLICANT;
    row[0] = 12.0;
    let e = contract_error(credit_risk().infer(&features(&[APPLICANT, row])));
    assert_eq!(e.feature.as_deref(), Some("age"));
    assert_eq!(e.index, Some(vec![1, 0]));
    assert_eq!(e.value.as_deref(), Some("12.0"));
    assert!(e.to_string().contains("below the minimum 18"), "{e}");

    let mut row = APPLICANT;
    row[8] = 48.0;
    let e = contract_error(credit_risk().infer(&features(&[row])));
    assert_eq!(e.feature.as_deref(), Some("loan_term_months"));
    assert!(matches!(e.kind, ContractErrorKind::NotAllowed { .. }));

    let mut row = APPLICANT;
    row[1] = f32::NAN;
    let e = contract_error(credit_risk().infer(&features(&[row])));
    assert_eq!((e.feature.as_deref(), e.kind), (Some("annual_income"), ContractErrorKind::Null));
}

#[test]
fn missing_and_unknown_inputs_are_refused() {
    let e = contract_error(credit_risk().infer(&TensorMap::new()));
    assert_eq!((e.input.as_str(), e.kind), ("features", ContractErrorKind::MissingInput));
    let mut m = features(&[APPLICANT]);
    m.insert("bonus".into(), Tensor { shape: vec![1], data: TensorData::F32(vec![1.0]) });
    let e = contract_error(credit_risk().infer(&m));
    assert_eq!(e.input, "bonus");
}

#[test]
fn out_of_vocabulary_ids_are_refused_by_the_contract_and_fail_in_onnx_runtime_without_it() {
    let ids = Tensor { shape: vec![1, 2], data: TensorData::I64(vec![5, 5000]) };
    let mask = Tensor { shape: vec![1, 2], data: TensorData::I64(vec![1, 1]) };
    let m = TensorMap::from([("input_ids".into(), ids), ("attention_mask".into(), mask)]);
    // The fixture bounds its ids to the vocabulary: refused at the door, naming the element.
    match text_embedding().infer(&m) {
        Err(RuntimeError::Contract(e)) => {
            assert_eq!((e.input.as_str(), e.index.clone()), ("input_ids", Some(vec![0, 1])), "{e}");
        }
        other => panic!("expected a contract error, got {other:?}"),
    }
    // Without the bound, ONNX Runtime's own Gather error comes back as an error, never a panic.
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    ferry_testkit::copy_dir(&fixture("text-embedding"), &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    let unbounded: String =
        toml.lines().filter(|l| !l.starts_with("values")).map(|l| format!("{l}\n")).collect();
    std::fs::write(src.join("ferry.toml"), unbounded).unwrap();
    let b = t.path().join("unbounded.ferry");
    ferry_packager::pack(&src, &b).unwrap();
    let rt = Runtime::new(RuntimeOptions::default()).unwrap();
    let err = rt.open(&b, &no_env()).unwrap().infer(&m).unwrap_err();
    assert!(matches!(err, RuntimeError::Inference { .. }), "{err:?}");
}

fn any_tensor() -> impl Strategy<Value = Tensor> {
    let shape = proptest::collection::vec(0usize..6, 0..4);
    (shape, 0usize..4).prop_flat_map(|(shape, kind)| {
        let n: usize = shape.iter().product();
        let data = match kind {
            0 => proptest::collection::vec(
                prop_oneof![any::<f32>(), 0.0f32..100.0, Just(f32::NAN), Just(36.0f32)],
                n,
            )
            .prop_map(TensorData::F32)
            .boxed(),
            1 => proptest::collection::vec(prop_oneof![any::<i64>(), 0i64..1000], n)
                .prop_map(TensorData::I64)
                .boxed(),
            2 => proptest::collection::vec(any::<f64>(), n).prop_map(TensorData::F64).boxed(),
            _ => proptest::collection::vec(any::<bool>(), n).prop_map(TensorData::Bool).boxed(),
        };
        data.prop_map(move |data| Tensor { shape: shape.clone(), data })
    })
}

/// A valid-shaped credit-risk batch with values mostly inside the contract.
fn near_valid_batch() -> impl Strategy<Value = Tensor> {
    (0usize..5).prop_flat_map(|rows| {
        proptest::collection::vec(
            prop_oneof![8 => 0.0f32..100.0, 1 => Just(f32::NAN), 1 => Just(36.0f32)],
            rows * 14,
        )
        .prop_map(move |v| Tensor { shape: vec![rows, 14], data: TensorData::F32(v) })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_never_panic(
        a in any_tensor(),
        b in any_tensor(),
        near in near_valid_batch(),
        names in proptest::collection::vec(prop_oneof![Just("features"), Just("input_ids"), Just("attention_mask"), Just("x")], 0..3),
    ) {
        let mut m = TensorMap::new();
        for (i, n) in names.iter().enumerate() {
            m.insert((*n).to_owned(), if i % 2 == 0 { a.clone() } else { b.clone() });
        }
        for model in [credit_risk(), text_embedding()] {
            match model.infer(&m) {
                Ok(_) | Err(RuntimeError::Contract(_) | RuntimeError::Inference { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
        let m = TensorMap::from([("features".to_owned(), near)]);
        match credit_risk().infer(&m) {
            Ok(out) => prop_assert_eq!(out["probability"].shape[0], m["features"].shape[0]),
            Err(RuntimeError::Contract(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }
}

// ---- concurrency ----------------------------------------------------------------------------------

/// A deterministic pseudo-random valid applicant.
fn applicant(seed: u64) -> [f32; 14] {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = |lo: f32, hi: f32| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let u = (s >> 40) as f32 / (1u64 << 24) as f32;
        lo + u * (hi - lo)
    };
    let months = if seed.is_multiple_of(3) { f32::NAN } else { next(0.0, 600.0) };
    [
        next(18.0, 100.0),
        next(0.0, 300000.0),
        next(0.0, 2.0),
        next(0.0, 2.0),
        next(0.0, 30.0).floor(),
        next(0.0, 10.0).floor(),
        months,
        next(500.0, 100000.0),
        if seed.is_multiple_of(2) { 36.0 } else { 60.0 },
        next(0.0, 40.0).floor(),
        (seed % 3) as f32,
        (seed % 2) as f32,
        next(0.0, 10.0).floor(),
        next(0.0, 50000.0),
    ]
}

#[test]
fn concurrent_callers_get_correct_results() {
    const THREADS: usize = 8;
    const CALLS: usize = 1000;
    let rt = Runtime::new(RuntimeOptions { max_sessions: Some(THREADS), ..Default::default() }).unwrap();
    let model = Arc::new(rt.open(&bundle("credit-risk"), &no_env()).unwrap());
    let requests: Vec<TensorMap> = (0..64u64)
        .map(|i| features(&(0..1 + i % 4).map(|j| applicant(i * 7 + j)).collect::<Vec<_>>()))
        .collect();
    let reference: Vec<TensorMap> = requests.iter().map(|r| model.infer(r).unwrap()).collect();
    let requests = Arc::new(requests);
    let reference = Arc::new(reference);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (model, requests, reference) =
                (Arc::clone(&model), Arc::clone(&requests), Arc::clone(&reference));
            std::thread::spawn(move || {
                for i in 0..CALLS {
                    let k = (t * 31 + i * 7) % requests.len();
                    let out = model.infer(&requests[k]).unwrap();
                    assert_eq!(out, reference[k], "thread {t} call {i} request {k}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(model.sessions_created() <= THREADS);
}

// ---- memory ---------------------------------------------------------------------------------------

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
#[ignore = "run in a child process by weights_are_held_once"]
fn child_weights() {
    use ferry_onnx::OnnxDim;
    use ferry_onnx::encode::ModelBuilder;
    use ferry_spec::{Dim, TensorSpec};
    if std::env::var_os("FERRY_RUNTIME_TEST_CHILD").is_none() {
        return;
    }
    // y = MatMul(x, w) with a 64 MiB weight in external data: ONNX Runtime pre-packs MatMul weights, so
    // both the weight and its packed form must be shared.
    let (k, n) = (1024u64, 16384u64);
    let w: Vec<u8> = (0..k * n).flat_map(|i| ((i % 7) as f32 * 0.01).to_le_bytes()).collect();
    let batch = OnnxDim::Param("batch".into());
    let onnx = ModelBuilder::new(17)
        .input("x", DType::Float32, &[batch.clone(), OnnxDim::Value(k as i64)])
        .output("y", DType::Float32, &[batch, OnnxDim::Value(n as i64)])
        .external_initializer("w", DType::Float32, &[k as i64, n as i64], "w.bin", 0, k * n * 4)
        .node("MatMul", &["x", "w"], &["y"])
        .build();
    let spec = |name: &str, d: u64| TensorSpec {
        value_type: Default::default(),
        name: name.into(),
        dtype: DType::Float32,
        shape: vec![Dim::Symbolic("batch".into()), Dim::Fixed(d)],
        features: vec![],
        values: None,
    };
    let rt = Runtime::new(RuntimeOptions { max_sessions: Some(8), ..Default::default() }).unwrap();
    let model = rt
        .model_from_onnx_bytes(
            onnx,
            vec![("w.bin".into(), w)],
            vec![spec("x", k)],
            vec![spec("y", n)],
            serde_json::json!({}),
        )
        .unwrap();
    assert_eq!(model.shared_initializers(), 1);
    let x = TensorMap::from([(
        "x".into(),
        Tensor { shape: vec![2, k as usize], data: TensorData::F32(vec![1.0; 2 * k as usize]) },
    )]);
    let first = model.infer(&x).unwrap();
    let opened = rss_mib();
    assert_eq!(model.prewarm(8).unwrap(), 8);
    // Run on every session so that lazily built state is counted too.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..20 {
                    assert_eq!(model.infer(&x).unwrap(), first);
                }
            });
        }
    });
    let warmed = rss_mib();
    println!("CHILD-RSS: opened {opened} MiB, 8 sessions {warmed} MiB");
    // Without sharing each session would hold its own 64 MiB copy (and packed copy): 7 x 64 MiB more.
    assert!(warmed.saturating_sub(opened) < 48, "7 more sessions added {} MiB", warmed - opened);
}

#[test]
fn weights_are_held_once() {
    let out = child("child_weights", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("CHILD-RSS"), "{stdout}");
}

/// The skl2onnx classifier's ZipMap output comes back as a sequence of maps through `infer_values`, equal
/// to the golden maps ONNX Runtime's Python package wrote; `infer`, which returns tensors only, refuses the
/// model naming the output and the call to make; a request of values is checked like a tensor request.
#[test]
fn a_zipmap_classifier_answers_with_values() {
    use ferry_tensor::{Typed, Value};
    let model = open("iris-classifier");
    let golden = fixture("iris-classifier").join("golden/iris.json");
    let bytes = std::fs::read(&golden).unwrap();
    let types = |specs: &[ferry_spec::TensorSpec]| -> BTreeMap<String, Typed> {
        specs.iter().map(|s| (s.name.clone(), Typed { ty: s.value_type.clone(), dtype: s.dtype })).collect()
    };
    let read = |side, specs| {
        let part = ferry_tensor::Part::Side(side);
        ferry_tensor::read_json_values(&bytes, &types(specs), part, &mut |_| Ok(()), 1 << 20).unwrap()
    };
    let inputs = read(GoldenSide::Inputs, &model.manifest().inputs);
    let expected = read(GoldenSide::Outputs, &model.manifest().outputs);
    let outputs = model.infer_values(&inputs).unwrap();
    let Value::Sequence(rows) = &outputs["output_probability"] else { panic!("{outputs:?}") };
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| matches!(r, Value::Map(m) if m.len() == 3)), "{rows:?}");
    for name in ["output_label", "output_probability"] {
        let c = ferry_runtime::compare::compare_values(&expected[name], &outputs[name], 0.0, 0.0);
        assert!(c.pass, "{name}: {c:?}");
    }

    let tensors = ferry_tensor::tensors_from_values(inputs.clone()).unwrap();
    let e = model.infer(&tensors).unwrap_err();
    assert!(matches!(e, RuntimeError::NeedsValues { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "`output_probability` is a sequence<map<int64, tensor>>: call infer_values, which takes and gives values of every kind"
    );

    let mut wrong = inputs;
    wrong.insert("X".into(), Value::Sequence(vec![]));
    let e = model.infer_values(&wrong).unwrap_err();
    assert_eq!(e.to_string(), "input `X`: is a sequence of 0, expected tensor");
}

/// A sequence input is built over buffers the runtime owns, and ONNX Runtime may hand them back inside an
/// output (SequenceInsert keeps the input's tensors): the output must be read before they are freed, not
/// after (it read freed memory once: 94513065415452 where 1 was expected).
#[test]
fn a_sequence_output_that_aliases_its_input_reads_back_whole() {
    use ferry_onnx::OnnxDim;
    use ferry_onnx::encode::{ModelBuilder, sequence_value_info};
    use ferry_tensor::{Value, ValueMap};
    let n = [OnnxDim::Param("n".into())];
    let onnx = ModelBuilder::new(17)
        .raw_input(sequence_value_info("seq", DType::Int64, &n))
        .input("t", DType::Int64, &n)
        .raw_output(sequence_value_info("out", DType::Int64, &n))
        .node("SequenceInsert", &["seq", "t"], &["out"])
        .build();
    let spec = |name: &str, ty: &str| ferry_spec::TensorSpec {
        value_type: ty.parse().unwrap(),
        name: name.into(),
        dtype: DType::Int64,
        shape: vec![ferry_spec::Dim::Symbolic("n".into())],
        features: vec![],
        values: None,
    };
    let model = runtime()
        .model_from_onnx_bytes(
            onnx,
            Vec::new(),
            vec![spec("seq", "sequence<tensor>"), spec("t", "tensor")],
            vec![spec("out", "sequence<tensor>")],
            serde_json::json!({}),
        )
        .unwrap();
    let t = |v: Vec<i64>| Value::Tensor(Tensor::new(vec![v.len()], TensorData::I64(v)).unwrap());
    let parts = vec![t(vec![1, 2, 3, 4]), t(vec![5, 6, 7]), t(vec![8, 9])];
    let inputs = ValueMap::from([
        ("seq".to_owned(), Value::Sequence(parts.clone())),
        ("t".to_owned(), t(vec![10, 11, 12])),
    ]);
    for _ in 0..3 {
        let out = model.infer_values(&inputs).unwrap();
        let mut want = parts.clone();
        want.push(t(vec![10, 11, 12]));
        assert_eq!(out["out"], Value::Sequence(want));
    }
}

/// An empty sequence input, which ONNX Runtime's C API cannot build from elements, reaches the model:
/// ONNX Runtime makes it (`SequenceEmpty` of the declared dtype) and SequenceLength counts 0.
#[test]
fn an_empty_sequence_input_reaches_the_model() {
    use ferry_onnx::OnnxDim;
    use ferry_onnx::encode::{ModelBuilder, sequence_value_info};
    use ferry_tensor::{Value, ValueMap};
    let onnx = ModelBuilder::new(17)
        .raw_input(sequence_value_info("seq", DType::Float32, &[OnnxDim::Param("n".into())]))
        .output("len", DType::Int64, &[])
        .node("SequenceLength", &["seq"], &["len"])
        .build();
    let spec = |name: &str, ty: &str, dtype, shape: Vec<ferry_spec::Dim>| ferry_spec::TensorSpec {
        value_type: ty.parse().unwrap(),
        name: name.into(),
        dtype,
        shape,
        features: vec![],
        values: None,
    };
    let model = runtime()
        .model_from_onnx_bytes(
            onnx,
            Vec::new(),
            vec![spec(
                "seq",
                "sequence<tensor>",
                DType::Float32,
                vec![ferry_spec::Dim::Symbolic("n".into())],
            )],
            vec![spec("len", "tensor", DType::Int64, vec![])],
            serde_json::json!({}),
        )
        .unwrap();
    for n in [0usize, 2] {
        let items = (0..n)
            .map(|_| Value::Tensor(Tensor::new(vec![1], TensorData::F32(vec![1.0])).unwrap()))
            .collect();
        let out = model.infer_values(&ValueMap::from([("seq".to_owned(), Value::Sequence(items))])).unwrap();
        assert_eq!(
            out["len"],
            Value::Tensor(Tensor::new(vec![], TensorData::I64(vec![n as i64])).unwrap()),
            "{n}"
        );
    }
}

/// Weights used in place from the memory map stay valid for the model's whole life: with the bundle file
/// deleted (the map keeps it), across sessions created later on other threads, and after the runtime that
/// opened it is dropped.
#[test]
fn weights_in_place_outlive_the_file_and_serve_every_session() {
    let t = tempdir();
    let copy = t.path().join("te.ferry");
    std::fs::copy(bundle("text-embedding"), &copy).unwrap();
    let model = {
        let rt = Runtime::new(RuntimeOptions { max_sessions: Some(4), ..Default::default() }).unwrap();
        rt.open(&copy, &no_env()).unwrap()
    };
    assert_eq!(model.weights_in_place(), 2);
    std::fs::remove_file(&copy).unwrap();
    assert_eq!(model.prewarm(4).unwrap(), 4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10 {
                    assert_eq!(check_goldens(&model), 1);
                }
            });
        }
    });
    drop(model);
}

/// A bundle whose external-data file holds only large weights: ONNX Runtime gets them in place from the
/// memory map and is not handed the file at all (an empty stand-in passes its existence check). The
/// answers are the weights' own (y = x + w with x = 0), the model keeps answering after the bundle file
/// is deleted, and the stand-in directory goes with the model.
#[test]
fn a_bundle_of_large_weights_opens_without_copying_them() {
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    ferry_packager::synthetic::source(&src, 1 << 20).unwrap();
    let packed = t.path().join("w.ferry");
    ferry_testkit::pack_to(&src, &packed);
    let rt = Runtime::new(RuntimeOptions { max_sessions: Some(2), ..Default::default() }).unwrap();
    let model = rt.open(&packed, &no_env()).unwrap();
    assert_eq!(model.weights_in_place(), 1);
    let stand_ins = model.stand_in_dir().expect("the weights file is not handed to ONNX Runtime");
    assert_eq!(std::fs::metadata(stand_ins.join("weights.bin")).unwrap().len(), 0);
    std::fs::remove_file(&packed).unwrap();

    let w: Vec<f32> = std::fs::read(src.join("weights.bin"))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let x = TensorMap::from([(
        "x".into(),
        Tensor { shape: vec![w.len()], data: TensorData::F32(vec![0.0; w.len()]) },
    )]);
    assert_eq!(model.prewarm(2).unwrap(), 2);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let out = model.infer(&x).unwrap();
                let TensorData::F32(y) = &out["y"].data else { panic!("not f32") };
                assert_eq!(y.len(), w.len());
                let same = |a: f32, b: f32| a == b || (a.is_nan() && b.is_nan());
                assert!(y.iter().zip(&w).all(|(&a, &b)| same(a, b)), "y is not the weights");
            });
        }
    });
    drop(model);
    assert!(!stand_ins.exists(), "{} was left behind", stand_ins.display());
}
