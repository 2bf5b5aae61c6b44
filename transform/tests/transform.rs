//! The sandbox against components built to break it (fixtures/transforms/hostile), and the real
//! transforms against goldens computed outside Wasm (fixtures/transforms/tokenizer_reference.py,
//! fixtures/generate_credit_application.py).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_tensor::{TensorData, TensorMap};
use ferry_transform::{Limits, Runtime, Sandbox, Stage, Transform, TransformError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

/// One engine for the whole binary, with a cache shared across runs, so the 18 MB Python component is
/// compiled once per machine rather than once per test.
fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ferry-transform-cache");
        Runtime::new(Some(&cache)).unwrap()
    })
}

fn load(rel: &str, stage: Stage, limits: Limits) -> Result<Transform, TransformError> {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    Transform::load(runtime(), rel, &bytes, stage, limits, Sandbox::default())
}

fn records(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| (*s).to_owned()).collect()
}

fn jsonl(rel: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(rel))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn tensors(rel: &str) -> TensorMap {
    ferry_tensor::read_file(&fixture(rel), &BTreeMap::new()).unwrap()
}

fn quick() -> Limits {
    Limits { deadline: Duration::from_millis(300), memory_bytes: 64 << 20, ..Limits::default() }
}

#[test]
fn the_tokenizer_reproduces_the_python_reference() {
    let t = load("transforms/tokenizer.wasm", Stage::Prepare, Limits::default()).unwrap();
    let out = t.prepare(&jsonl("transforms/tokenizer.golden.jsonl"), "{}").unwrap();
    assert_eq!(out, tensors("transforms/tokenizer.golden.expected.json"));
}

#[test]
fn an_infinite_loop_is_stopped_at_its_deadline_and_the_runtime_keeps_serving() {
    let spin = load("transforms/hostile/spin.wasm", Stage::Prepare, quick()).unwrap();
    let started = Instant::now();
    let err = spin.prepare(&records(&["{}"]), "{}").unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, TransformError::Timeout { stage: Stage::Prepare, records: 1, .. }), "{err}");
    assert!(err.to_string().contains("hostile/spin.wasm"), "{err}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(5), "stopped after {took:?}");
    // The same runtime, and the same transform, go on answering.
    let tok = load("transforms/tokenizer.wasm", Stage::Prepare, Limits::default()).unwrap();
    assert!(tok.prepare(&records(&[r#"{"text": "still here"}"#]), "{}").is_ok());
    assert!(matches!(spin.prepare(&records(&["{}"]), "{}"), Err(TransformError::Timeout { .. })));
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 1024
}

#[test]
fn a_4_gib_allocation_hits_the_memory_cap_and_host_memory_stays_bounded() {
    let hog = load("transforms/hostile/hog.wasm", Stage::Prepare, quick()).unwrap();
    let before = rss_bytes();
    for _ in 0..3 {
        let err = hog.prepare(&records(&["{}"]), "{}").unwrap_err();
        // hog answers a failed grow with a refusal naming what it got; either way it got no more
        // than the cap.
        match &err {
            TransformError::Refused { message, .. } => {
                let got: usize =
                    message.split("after ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
                assert!(got <= 64, "{err}");
            }
            TransformError::MemoryLimit { limit_bytes, .. } => assert_eq!(*limit_bytes, 64 << 20),
            other => panic!("unexpected: {other}"),
        }
    }
    let grew = rss_bytes().saturating_sub(before);
    assert!(grew < 256 << 20, "host RSS grew by {} MiB", grew >> 20);
}

#[test]
fn files_directories_environment_sockets_and_names_are_out_of_reach() {
    let snoop = load("transforms/hostile/snoop.wasm", Stage::Prepare, Limits::default()).unwrap();
    let out = snoop.prepare(&records(&["{}"]), "{}").unwrap();
    let TensorData::String(report) = &out["report"].data else { panic!("report is not text") };
    let get = |key: &str| {
        report
            .iter()
            .find_map(|e| e.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing: {report:?}"))
    };
    assert_eq!(get("preopens"), "0", "{report:?}");
    assert_eq!(get("open"), "no-preopens");
    assert_eq!(get("readdir"), "no-preopens");
    assert_eq!(get("env"), "0");
    assert_eq!(get("args"), "0");
    assert_eq!(get("cwd"), "none");
    assert!(get("socket").starts_with("error:"), "{report:?}");
    assert!(get("lookup").starts_with("error:"), "{report:?}");
}

#[test]
fn clock_and_random_are_the_same_on_every_run() {
    let clock = load("transforms/hostile/clock.wasm", Stage::Prepare, Limits::default()).unwrap();
    let a = clock.prepare(&records(&["{}"]), "{}").unwrap();
    let b = clock.prepare(&records(&["{}"]), "{}").unwrap();
    assert_eq!(a, b);
    let TensorData::I64(observed) = &a["observed"].data else { panic!("observed is not int64") };
    assert_eq!(observed[0], 946_684_800, "the wall clock is fixed at 2000-01-01");
    assert!(observed[9] > observed[2], "the monotonic clock still advances");
    // Opted in, the host's clock and randomness show through.
    let bytes = std::fs::read(fixture("transforms/hostile/clock.wasm")).unwrap();
    let open = Sandbox { host_clock: true, host_random: true, ..Sandbox::default() };
    let real = Transform::load(runtime(), "clock", &bytes, Stage::Prepare, Limits::default(), open).unwrap();
    let c = real.prepare(&records(&["{}"]), "{}").unwrap();
    let TensorData::I64(seen) = &c["observed"].data else { panic!() };
    assert!(seen[0] > 1_700_000_000);
    assert_ne!(c, real.prepare(&records(&["{}"]), "{}").unwrap());
}

#[test]
fn a_component_without_the_stage_export_is_refused_naming_it() {
    let err = load("transforms/hostile/liar.wasm", Stage::Prepare, Limits::default()).unwrap_err();
    let TransformError::MissingExport { exports, .. } = &err else { panic!("{err}") };
    assert!(exports.iter().any(|e| e == "decide"));
    let text = err.to_string();
    assert!(text.contains("does not export `prepare`") && text.contains("decide"), "{text}");
    assert!(load("transforms/hostile/liar.wasm", Stage::Decide, Limits::default()).is_ok());
}

#[test]
fn a_tensor_whose_data_does_not_fill_its_shape_is_a_typed_error() {
    let bad = load("transforms/hostile/bad-tensor.wasm", Stage::Prepare, Limits::default()).unwrap();
    let err = bad.prepare(&records(&["{}"]), "{}").unwrap_err();
    assert!(matches!(err, TransformError::BadOutput { stage: Stage::Prepare, .. }), "{err}");
    assert!(err.to_string().contains("features"), "{err}");
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    for (bytes, what) in [
        (b"not wasm at all".to_vec(), "garbage"),
        (b"\0asm\x01\0\0\0".to_vec(), "a core module"),
        (
            std::fs::read(fixture("transforms/tokenizer.wasm")).unwrap()[..4000].to_vec(),
            "a truncated component",
        ),
    ] {
        let err = Transform::load(
            runtime(),
            "x.wasm",
            &bytes,
            Stage::Prepare,
            Limits::default(),
            Sandbox::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, TransformError::Invalid { .. } | TransformError::NotAComponent { .. }),
            "{what}: {err}"
        );
        assert!(err.to_string().contains("x.wasm"), "{what}: {err}");
    }
}

#[test]
fn the_credit_prepare_matches_cpython_and_refuses_naming_the_record() {
    let credit =
        load("credit-application/transforms/credit.wasm", Stage::Prepare, Limits::default()).unwrap();
    let config = std::fs::read_to_string(fixture("credit-application/config.json")).unwrap();
    let out = credit.prepare(&jsonl("credit-application/golden/applications.jsonl"), &config).unwrap();
    let expected = tensors("credit-application/golden/applications.features.json");
    let (TensorData::F32(a), TensorData::F32(e)) = (&out["features"].data, &expected["features"].data) else {
        panic!("features are not float32")
    };
    assert_eq!(out["features"].shape, expected["features"].shape);
    // Bit for bit: the same Python code in CPython and in the component; NaN where the record is null.
    assert!(a.iter().zip(e).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())));
    let mut batch = jsonl("credit-application/golden/applications.jsonl");
    batch[2] = r#"{"applicant_age": "old"}"#.to_owned();
    let err = credit.prepare(&batch, &config).unwrap_err();
    assert_eq!(err.record(), Some(2), "{err}");
    assert!(err.to_string().contains("record 2"), "{err}");
    // The pooled instance that refused serves the next batch, with the same answer as a fresh one.
    let again = credit.prepare(&jsonl("credit-application/golden/applications.jsonl"), &config).unwrap();
    assert_eq!(format!("{again:?}"), format!("{out:?}"));
}

#[test]
fn fresh_instances_and_pooled_ones_answer_alike() {
    let bytes = std::fs::read(fixture("transforms/hostile/clock.wasm")).unwrap();
    let fresh = Sandbox { fresh_instances: true, ..Sandbox::default() };
    let a = Transform::load(runtime(), "clock", &bytes, Stage::Prepare, Limits::default(), fresh).unwrap();
    let b = load("transforms/hostile/clock.wasm", Stage::Prepare, Limits::default()).unwrap();
    let first = a.prepare(&records(&["{}"]), "{}").unwrap();
    for _ in 0..3 {
        assert_eq!(a.prepare(&records(&["{}"]), "{}").unwrap(), first);
        assert_eq!(
            b.prepare(&records(&["{}"]), "{}").unwrap(),
            first,
            "a reused instance sees a rewound host"
        );
    }
}

#[test]
fn a_second_runtime_loads_compiled_code_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("transforms/tokenizer.wasm")).unwrap();
    let first = Runtime::new(Some(dir.path())).unwrap();
    let t =
        Transform::load(&first, "t", &bytes, Stage::Prepare, Limits::default(), Sandbox::default()).unwrap();
    assert!(!t.was_cached());
    let second = Runtime::new(Some(dir.path())).unwrap();
    let t2 =
        Transform::load(&second, "t", &bytes, Stage::Prepare, Limits::default(), Sandbox::default()).unwrap();
    assert!(t2.was_cached());
    assert!(t2.prepare(&records(&[r#"{"text": "a"}"#]), "{}").is_ok());
    // A damaged cache file is recompiled, never loaded.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let mut b = std::fs::read(&path).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0xff;
        std::fs::write(&path, b).unwrap();
    }
    let third = Runtime::new(Some(dir.path())).unwrap();
    let t3 =
        Transform::load(&third, "t", &bytes, Stage::Prepare, Limits::default(), Sandbox::default()).unwrap();
    assert!(!t3.was_cached());
    assert!(t3.prepare(&records(&[r#"{"text": "a"}"#]), "{}").is_ok());
}

#[test]
fn concurrent_callers_each_get_their_own_instance() {
    let tok = Arc::new(load("transforms/tokenizer.wasm", Stage::Prepare, Limits::default()).unwrap());
    let spin = Arc::new(load("transforms/hostile/spin.wasm", Stage::Prepare, quick()).unwrap());
    let golden = jsonl("transforms/tokenizer.golden.jsonl");
    let expected = tensors("transforms/tokenizer.golden.expected.json");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (tok, spin, golden, expected) = (tok.clone(), spin.clone(), golden.clone(), expected.clone());
            std::thread::spawn(move || {
                if i % 4 == 0 {
                    assert!(spin.prepare(&records(&["{}"]), "{}").is_err());
                } else {
                    for _ in 0..5 {
                        assert_eq!(tok.prepare(&golden, "{}").unwrap(), expected);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
            ".{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just(format!("\"{}\"", "x".repeat(100_000))),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("text".to_owned()),
                            Just("annual_income".to_owned()),
                            "[a-z_]{1,12}"
                        ],
                        inner
                    ),
                    0..8
                )
                .prop_map(|kv| {
                    let fields: Vec<String> = kv
                        .into_iter()
                        .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the records, a transform answers or refuses with a typed error; it never panics
        /// the host, and a refusal's record is inside the batch.
        #[test]
        fn random_records_are_answered_or_refused(batch in prop::collection::vec(json_value(), 0..5), garbage in ".{0,20}") {
            let tok = load("transforms/tokenizer.wasm", Stage::Prepare, Limits::default()).unwrap();
            let credit = load("credit-application/transforms/credit.wasm", Stage::Prepare, Limits::default()).unwrap();
            let mut batch = batch;
            batch.push(garbage);
            for t in [&tok, &credit] {
                match t.prepare(&batch, "{}") {
                    Ok(_) => {}
                    Err(TransformError::Refused { record, .. }) => {
                        prop_assert!(record.is_none_or(|r| (r as usize) < batch.len()));
                    }
                    Err(e) => prop_assert!(false, "{}: {e}", t.name()),
                }
            }
        }
    }
}
