//! Feature transforms end to end, on `fixtures/credit-application` (a Python component made by
//! componentize-py; goldens from the same Python in CPython and ONNX Runtime's Python package): raw
//! records in, decisions out, through the CLI and the library; `verify` on record goldens; hostile
//! records and components refused with exit 1 while the rest keeps working.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// The CLI with the compilation cache in the target directory, shared by the tests of this binary, so
/// the 18 MB component is compiled once per machine and never into the user's home.
fn ferry_cached(args: &[&str]) -> Output {
    ferry().args(args).env("XDG_CACHE_HOME", cache_home()).output().unwrap()
}

/// The `XDG_CACHE_HOME` of this test binary, in the target directory.
fn cache_home() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-xdg-cache")
}

/// A runtime for the library tests, with the same compilation cache as [`ferry_cached`].
fn library_runtime() -> ferry_runtime::Runtime {
    let cache = ferry_runtime::CacheLocation::Dir(cache_home().join("ferry"));
    ferry_runtime::Runtime::new(ferry_runtime::RuntimeOptions { cache, ..Default::default() }).unwrap()
}

/// The fixture packed once.
fn credit_bundle() -> &'static Path {
    static B: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &B.get_or_init(|| {
        let t = tempdir();
        let b = t.path().join("credit.ferry");
        pack(&fixture("credit-application"), &b);
        (t, b)
    })
    .1
}

/// The same fixture with the Rust port of its transforms (`fixtures/transforms/credit/`), packed once.
fn credit_rust_bundle() -> &'static Path {
    static B: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &B.get_or_init(|| {
        let t = tempdir();
        let src = ferry_testkit::credit_application_rust(&t.path().join("src"));
        let b = t.path().join("credit-rust.ferry");
        pack(&src, &b);
        (t, b)
    })
    .1
}

fn golden(rel: &str) -> PathBuf {
    fixture("credit-application").join("golden").join(rel)
}

#[test]
fn raw_applications_go_in_and_the_golden_decisions_come_out() {
    let b = credit_bundle().to_str().unwrap();
    let records = golden("applications.jsonl");
    let o = ferry_cached(&["run", b, "--records", records.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let want = std::fs::read_to_string(golden("applications.decisions.jsonl")).unwrap();
    // Bit for bit here: this runtime's ONNX Runtime gives the Python package's float32s.
    assert_eq!(stdout(&o), want);

    let t = tempdir();
    let out = t.path().join("out.jsonl");
    let o =
        ferry_cached(&["run", b, "--records", records.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
    assert!(stderr(&o).contains("wrote 16 results"), "{}", stderr(&o));
}

/// The compiled path of the same transforms: the Rust port packed in place of the Python component
/// reproduces the goldens CPython made (features and decisions, byte for byte) through `verify` and
/// `run`, and its `Cargo.lock` is pinned.
#[test]
fn the_rust_port_reproduces_the_cpython_goldens() {
    let b = credit_rust_bundle().to_str().unwrap();
    let o = ferry_cached(&["verify", b]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("16 records give their decisions and tensors"), "{}", stdout(&o));
    let records = golden("applications.jsonl");
    let o = ferry_cached(&["run", b, "--records", records.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), std::fs::read_to_string(golden("applications.decisions.jsonl")).unwrap());
    let o = ferry_cached(&["audit", b]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("    - serde_json 1."),
        "the crate's locked packages are pinned: {}",
        stdout(&o)
    );
}

/// `RuntimeOptions::cache`: a directory the host names receives the compiled code in `transforms/`
/// (owner-only), and `Off` answers the same.
#[test]
fn a_host_chooses_where_compiled_transforms_are_cached() {
    use ferry_runtime::{CacheLocation, Runtime, RuntimeOptions};
    use std::os::unix::fs::PermissionsExt;
    let t = tempdir();
    let records = vec![
        std::fs::read_to_string(golden("applications.jsonl")).unwrap().lines().next().unwrap().to_owned(),
    ];
    let want = std::fs::read_to_string(golden("applications.decisions.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let dir = t.path().join("scorer-cache");
    for cache in [CacheLocation::Dir(dir.clone()), CacheLocation::Off] {
        let runtime = Runtime::new(RuntimeOptions { cache, ..Default::default() }).unwrap();
        let model = runtime.open(credit_rust_bundle(), &ferry_runtime::OpenOptions::default()).unwrap();
        assert_eq!(model.infer_records(&records).unwrap(), std::slice::from_ref(&want));
    }
    let transforms = dir.join("transforms");
    let files: Vec<_> = std::fs::read_dir(&transforms).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "one compiled component: {files:?}");
    assert_eq!(std::fs::metadata(&transforms).unwrap().permissions().mode() & 0o077, 0, "owner-only");
}

#[test]
fn the_library_gives_the_same_decisions() {
    let runtime = library_runtime();
    let model = runtime.open(credit_bundle(), &ferry_runtime::OpenOptions::default()).unwrap();
    assert!(model.takes_records());
    let text = std::fs::read_to_string(golden("applications.jsonl")).unwrap();
    let records: Vec<String> = text.lines().map(str::to_owned).collect();
    let decisions = model.infer_records(&records).unwrap();
    let want: Vec<String> = std::fs::read_to_string(golden("applications.decisions.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(decisions, want);
    // One at a time, as a server would call it, the same answers.
    for (r, w) in records.iter().zip(&want) {
        assert_eq!(&model.infer_records(std::slice::from_ref(r)).unwrap()[0], w);
    }
}

#[test]
fn verify_runs_the_record_goldens_and_catches_a_changed_decision() {
    let b = credit_bundle().to_str().unwrap();
    let o = ferry_cached(&["verify", b]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for line in
        ["PASS  artifact.transform", "PASS  contract.records", "16 records give their decisions and tensors"]
    {
        assert!(out.contains(line), "{line}: {out}");
    }

    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-application"), &src);
    let path = src.join("golden/applications.decisions.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 2 { l.replace("\"decline\"", "\"approve\"") } else { l.to_owned() })
        .collect();
    assert_ne!(changed.join("\n") + "\n", text, "line 3 is a decline");
    std::fs::write(&path, changed.join("\n") + "\n").unwrap();
    let tampered = t.path().join("t.ferry");
    pack(&src, &tampered);
    let o = ferry_cached(&["verify", tampered.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("line 3 (record 2) /decision"), "{}", stdout(&o));
}

#[test]
fn bad_records_are_refused_naming_the_line_and_the_rule() {
    let b = credit_bundle().to_str().unwrap();
    let t = tempdir();
    let good = std::fs::read_to_string(golden("applications.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    let cases: [(&str, String, &str); 5] = [
        ("not json", format!("{first}\n\n{{\"truncated\": \n"), "line 3: record 1"),
        ("not an object", format!("{first}\n[1, 2]\n"), "line 2: record 1"),
        ("schema", format!("{first}\n{{\"applicant_age\": 40}}\n"), "line 2: record 1"),
        (
            "deep nesting",
            format!("{first}\n{}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
            "line 2: record 1",
        ),
        ("huge string", format!("{first}\n{{\"x\": \"{}\"}}\n", "a".repeat(2 << 20)), "line 2: record 1"),
    ];
    for (what, text, names) in cases {
        let f = t.path().join("in.jsonl");
        std::fs::write(&f, text).unwrap();
        let o = ferry_cached(&["run", b, "--records", f.to_str().unwrap()]);
        assert_eq!(code(&o), 1, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains(names), "{what}: {}", stderr(&o));
    }
    // A record the schema lets through but prepare refuses: the component names it.
    let mut rec: serde_json::Value = serde_json::from_str(first).unwrap();
    rec["home_ownership"] = "CASTLE".into();
    let f = t.path().join("refused.jsonl");
    std::fs::write(&f, format!("{first}\n{rec}\n")).unwrap();
    let o = ferry_cached(&["run", b, "--records", f.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    // A missing file is a usage error.
    let o = ferry_cached(&["run", b, "--records", t.path().join("nope.jsonl").to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // A bundle without transforms takes tensors, not records.
    let plain = t.path().join("plain.ferry");
    pack(&fixture("credit-risk"), &plain);
    let o = ferry_cached(&[
        "run",
        plain.to_str().unwrap(),
        "--records",
        golden("applications.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("no `prepare` transform"), "{}", stderr(&o));
}

/// A bundle whose `prepare` is one of the hostile components, with a short deadline and a small memory
/// cap.
fn hostile_bundle(dir: &Path, component: &str) -> PathBuf {
    let src = dir.join(component);
    copy_dir(&fixture("credit-application"), &src);
    std::fs::copy(
        fixture(&format!("transforms/hostile/{component}.wasm")),
        src.join("transforms/hostile.wasm"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    let toml = toml.replace(
        "prepare = \"transforms/credit.wasm\"",
        "prepare = \"transforms/hostile.wasm\"\nlimits = { deadline_ms = 300, memory_mib = 64 }",
    );
    // Its goldens would fail; the test is about running it.
    let toml = toml.split("[[golden]]").next().unwrap().to_owned();
    std::fs::write(src.join("ferry.toml"), toml).unwrap();
    let b = dir.join(format!("{component}.ferry"));
    pack(&src, &b);
    b
}

#[test]
fn hostile_prepare_components_are_stopped_with_exit_1() {
    let t = tempdir();
    let records = golden("applications.jsonl");
    for (component, says) in
        [("spin", "ran past its deadline of 300 ms"), ("hog", "hog"), ("bad-tensor", "malformed answer")]
    {
        let b = hostile_bundle(t.path(), component);
        let started = std::time::Instant::now();
        let o = ferry_cached(&["run", b.to_str().unwrap(), "--records", records.to_str().unwrap()]);
        assert_eq!(code(&o), 1, "{component}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(says) && stderr(&o).contains("transforms/hostile.wasm"),
            "{component}: {}",
            stderr(&o)
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{component} took {:?}",
            started.elapsed()
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            ".{0,24}".prop_map(Value::String),
            prop_oneof![Just("RENT"), Just("OWN"), Just("10+ years"), Just("36 months"), Just("85,000")]
                .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,10}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A golden record with keys dropped, retyped or replaced: through records schema → prepare →
    /// model → decide, every outcome is decisions or a typed refusal, never a panic or a hang.
    fn record() -> impl Strategy<Value = String> {
        let base: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(golden("applications.jsonl")).unwrap().lines().next().unwrap(),
        )
        .unwrap();
        let keys: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
        (prop::collection::vec((prop::sample::select(keys), prop::option::of(value())), 0..4), value())
            .prop_map(move |(edits, extra)| {
                let mut r = base.clone();
                for (k, v) in edits {
                    match v {
                        Some(v) => r[&k] = v,
                        None => {
                            r.as_object_mut().unwrap().remove(&k);
                        }
                    }
                }
                r["extra"] = extra;
                r.to_string()
            })
    }

    fn open(bundle: &Path) -> ferry_runtime::Model {
        let runtime = library_runtime();
        runtime.open(bundle, &ferry_runtime::OpenOptions::default()).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The Python component and its Rust port are the same preprocessing: on any batch they give
        /// the same decisions, or the same refusal (record and message).
        #[test]
        fn the_python_component_and_the_rust_port_agree(batch in prop::collection::vec(record(), 1..4)) {
            static MODELS: OnceLock<(ferry_runtime::Model, ferry_runtime::Model)> = OnceLock::new();
            let (python, rust) = MODELS.get_or_init(|| (open(credit_bundle()), open(credit_rust_bundle())));
            let outcome = |m: &ferry_runtime::Model| m.infer_records(&batch).map_err(|e| e.to_string());
            prop_assert_eq!(outcome(python), outcome(rust));
        }

        #[test]
        fn random_records_give_decisions_or_typed_refusals(batch in prop::collection::vec(record(), 1..4)) {
            static MODEL: OnceLock<ferry_runtime::Model> = OnceLock::new();
            let model = MODEL.get_or_init(|| open(credit_bundle()));
            use ferry_runtime::RuntimeError as E;
            match model.infer_records(&batch) {
                Ok(d) => prop_assert_eq!(d.len(), batch.len()),
                Err(E::Record { index, .. }) => prop_assert!(index < batch.len()),
                Err(E::Transform(t)) => {
                    let known = matches!(*t, ferry_runtime::TransformError::Refused { .. });
                    prop_assert!(known, "{}", t);
                    prop_assert!(t.record().is_none_or(|r| (r as usize) < batch.len()));
                }
                Err(E::Contract(_)) => {}
                Err(e) => prop_assert!(false, "untyped: {e}"),
            }
        }
    }
}

/// The compiled path: the text-embedding model with the Rust tokenizer (`fixtures/transforms/`, a
/// 26 KB `no_std` component) as `prepare`, its crate as `source`. The bundle pins the crate's locked
/// dependencies, `verify` checks the tokenizer's tensors against the Python reference's, and raw text
/// goes in.
#[test]
fn a_rust_tokenizer_feeds_the_embedding_model_and_its_lock_file_is_pinned() {
    let t = tempdir();
    let src = t.path().join("embed");
    copy_dir(&fixture("text-embedding"), &src);
    std::fs::create_dir_all(src.join("transforms/src")).unwrap();
    std::fs::copy(fixture("transforms/tokenizer.wasm"), src.join("transforms/tokenizer.wasm")).unwrap();
    copy_dir(&fixture("transforms/tokenizer"), &src.join("transforms/src/tokenizer"));
    std::fs::create_dir_all(src.join("golden")).unwrap();
    std::fs::copy(fixture("transforms/tokenizer.golden.jsonl"), src.join("golden/texts.jsonl")).unwrap();
    std::fs::copy(fixture("transforms/tokenizer.golden.expected.json"), src.join("golden/texts.tokens.json"))
        .unwrap();
    let mut toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    toml.push_str(
        "\n[transform]\nprepare = \"transforms/tokenizer.wasm\"\nsource = \"transforms/src\"\n\n\
         [[golden]]\nname = \"texts\"\nrecords = \"golden/texts.jsonl\"\ninputs = \"golden/texts.tokens.json\"\n",
    );
    std::fs::write(src.join("ferry.toml"), toml).unwrap();
    let b = t.path().join("embed.ferry");
    pack(&src, &b);

    let o = ferry_cached(&["inspect", b.to_str().unwrap(), "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let transform = j
        .pointer("/manifest/transform")
        .or_else(|| j.pointer("/transform"))
        .expect("transform in inspect --json");
    assert_eq!(transform["build"]["kind"], "cargo", "{transform}");
    let packages = transform["build"]["packages"].as_array().unwrap();
    assert!(
        packages
            .iter()
            .any(|p| p["name"] == "wit-bindgen" && p["checksum"].as_str().is_some_and(|c| !c.is_empty())),
        "{transform}"
    );
    assert!(packages.iter().any(|p| p["name"] == "dlmalloc"), "{transform}");

    let o = ferry_cached(&["verify", b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("records give their decisions and tensors"), "{}", stdout(&o));

    let f = t.path().join("in.jsonl");
    std::fs::write(&f, "{\"text\": \"ferry carries the tokenizer\"}\n{\"text\": \"\"}\n").unwrap();
    let o = ferry_cached(&["run", b.to_str().unwrap(), "--records", f.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(out["embedding"]["shape"], serde_json::json!([2, 64]), "{out}");
}

/// `inspect` shows each stage's component, its pin, the schemas, limits, sandbox and build; `--json`
/// carries the manifest's `transform` as is; `audit` lists the component pins and the build.
#[test]
fn inspect_and_audit_show_the_transforms() {
    let b = credit_bundle().to_str().unwrap();
    let o = run(&["inspect", b]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let m = ferry_bundle::Bundle::open(credit_bundle()).unwrap().manifest().clone();
    let pin = &m.transform.as_ref().unwrap().components[0];
    for needle in [
        "\ntransforms\n".to_owned(),
        "  prepare        transforms/credit.wasm\n".to_owned(),
        "  decide         transforms/credit.wasm\n".to_owned(),
        "  component      transforms/credit.wasm\n".to_owned(),
        format!("    digest       sha256:{}  {} bytes\n", &pin.sha256[..16], pin.size),
        "    wit          ferry:transform@0.1.0\n".to_owned(),
        "  records        records.schema.json\n".to_owned(),
        "  results        results.schema.json\n".to_owned(),
        "  source         transforms/src\n".to_owned(),
        "  limits         deadline default, memory default, concurrency default\n".to_owned(),
        "  sandbox        no opt-ins (fixed clock, seeded random)\n".to_owned(),
        "  build          componentize-py".to_owned(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    // Between the contract and the golden sets, once.
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no {s:?} in:\n{text}"));
    assert!(at("\ncontract\n") < at("\ntransforms\n") && at("\ntransforms\n") < at("\ngolden sets\n"));
    assert_eq!(text.matches("\ntransforms\n").count(), 1);

    let o = run(&["inspect", b, "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["manifest"]["transform"], serde_json::to_value(&m.transform).unwrap());

    let o = run(&["audit", b]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    for needle in [
        "\ntransforms\n  - transforms/credit.wasm (prepare, decide)\n".to_owned(),
        format!("    pinned       sha256:{} ({} bytes)\n", pin.sha256, pin.size),
        "    matches its file entry: yes\n".to_owned(),
        "  build        componentize-py".to_owned(),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    let o = run(&["audit", b, "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = &j["transforms"]["components"][0];
    assert_eq!(c["digest"], format!("sha256:{}", pin.sha256), "{j}");
    assert_eq!(c["stages"], serde_json::json!(["prepare", "decide"]));
    assert_eq!(c["matches_file"], true);
    assert_eq!(j["transforms"]["build"]["kind"], "componentize-py");
}

/// A Cargo-built component with limits and sandbox opt-ins: `inspect` shows them and counts the locked
/// packages, `audit` lists each package with its source and checksum. Nothing is compiled.
#[test]
fn inspect_and_audit_show_limits_sandbox_and_locked_packages() {
    let t = tempdir();
    let src = t.path().join("embed");
    copy_dir(&fixture("text-embedding"), &src);
    std::fs::create_dir_all(src.join("transforms/src")).unwrap();
    std::fs::copy(fixture("transforms/tokenizer.wasm"), src.join("transforms/tokenizer.wasm")).unwrap();
    copy_dir(&fixture("transforms/tokenizer"), &src.join("transforms/src/tokenizer"));
    let mut toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    toml.push_str(
        "\n[transform]\nprepare = \"transforms/tokenizer.wasm\"\nsource = \"transforms/src\"\n\
         limits = { deadline_ms = 300, memory_mib = 64, concurrency = 2 }\n\
         sandbox = { host_clock = true, host_random = true }\n",
    );
    std::fs::write(src.join("ferry.toml"), toml).unwrap();
    let b = t.path().join("embed.ferry");
    pack(&src, &b);
    let m = ferry_bundle::Bundle::open(&b).unwrap().manifest().clone();
    let build = m.transform.as_ref().unwrap().build.clone().unwrap();
    assert!(build.packages.len() > 1, "{build:?}");

    let b = b.to_str().unwrap();
    let text = stdout(&run(&["inspect", b]));
    for needle in [
        "  prepare        transforms/tokenizer.wasm\n".to_owned(),
        "  limits         deadline 300 ms, memory 64 MiB, concurrency 2\n".to_owned(),
        "  sandbox        opts in to host clock, host random\n".to_owned(),
        format!("  build          cargo, {} locked packages (--json lists them)\n", build.packages.len()),
    ] {
        assert!(text.contains(&needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains("  decide "), "{text}");

    let text = stdout(&run(&["audit", b]));
    assert!(text.contains("  - transforms/tokenizer.wasm (prepare)\n"), "{text}");
    assert!(
        text.contains(&format!("  build        cargo, {} locked packages\n", build.packages.len())),
        "{text}"
    );
    let wit_bindgen = build.packages.iter().find(|p| p.name == "wit-bindgen").unwrap();
    let line = format!(
        "    - wit-bindgen {} {} {}\n",
        wit_bindgen.version, wit_bindgen.source, wit_bindgen.checksum
    );
    assert!(text.contains(&line), "missing {line:?} in:\n{text}");
}

/// A bundle without transforms shows no `transforms` section and no `transforms` key.
#[test]
fn bundles_without_transforms_show_none() {
    let t = tempdir();
    let b = t.path().join("cr.ferry");
    pack(&fixture("credit-risk"), &b);
    let b = b.to_str().unwrap();
    assert!(!stdout(&run(&["inspect", b])).contains("transforms"));
    assert!(!stdout(&run(&["audit", b])).contains("transforms"));
    let j: serde_json::Value = serde_json::from_slice(&run(&["audit", b, "--json"]).stdout).unwrap();
    assert!(j.get("transforms").is_none(), "{j}");
    let j: serde_json::Value = serde_json::from_slice(&run(&["inspect", b, "--json"]).stdout).unwrap();
    assert!(j["manifest"].get("transform").is_none(), "{j}");
}
