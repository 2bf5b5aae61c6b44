//! `cargo bench -p ferry-runtime --features transforms --bench records [-- ITERATIONS]`
//!
//! Records in, decisions out, on fixtures/credit-application (an 18 MB componentize-py Python component
//! exporting `prepare` and `decide` around the credit-risk model), at batch 1 (record `i % 16` at
//! iteration `i`) and batch 64 (the 16 golden records cycled), one intra-op thread, twice: with the
//! fixture's Python component ("ferry-py") and with the same transforms ported to Rust
//! (`fixtures/transforms/credit.wasm`, "ferry-rs"; same bundle otherwise):
//!
//! - hot path: `Model::infer_records` end to end (median, p99), and, interleaved with it, `prepare`
//!   alone and `decide` alone (through `ferry_transform` directly, same component bytes, same engine
//!   settings, same configuration) and `Model::infer` alone, as shares of the end-to-end median;
//! - cold start: a fresh process (this binary re-executed with `--cold-start`) that creates the runtime,
//!   opens the bundle and answers the first record, with an empty compilation cache
//!   (`$XDG_CACHE_HOME/ferry/transforms`) and with a warm one; the parent times the whole process;
//! - the alternative: the same Python preprocessing and decision modules in CPython around an
//!   `onnxruntime` InferenceSession (one intra-op thread), runtime/benches/records_cpython.py, run as a
//!   subprocess in the same run, hot and cold.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_runtime::{CacheLocation, Model, OpenOptions, Runtime, RuntimeOptions};
use ferry_tensor::TensorMap;
use ferry_testkit::{credit_application_rust, fixture, pack_to, tempdir};
use ferry_transform::{Limits, Sandbox, Stage, Transform};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FIXTURE: &str = "credit-application";
const WASM: &str = "transforms/credit.wasm";
/// The Rust port of the same transforms, relative to `fixtures/`.
const WASM_RS: &str = "transforms/credit.wasm";

struct Stats {
    median: Duration,
    p99: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Stats { median: at(0.5), p99: at(0.99) }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One intra-op thread; caches in `cache` (`None`: the user's cache, which the cold-start children point
/// at the parent's directory through `XDG_CACHE_HOME`).
fn runtime(cache: Option<&Path>) -> Runtime {
    let cache = cache.map_or(CacheLocation::User, |c| CacheLocation::Dir(c.to_path_buf()));
    Runtime::new(RuntimeOptions { intra_op_threads: Some(1), cache, ..RuntimeOptions::default() })
        .expect("run scripts/fetch-onnxruntime first")
}

fn open(rt: &Runtime, bundle: &Path) -> Model {
    rt.open(bundle, &OpenOptions { env: Some(Vec::new()), ..OpenOptions::default() }).unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// `--cold-start BUNDLE RECORDS`: what a fresh serving process does, timed step by step; the parent
/// times the whole process.
fn cold_child(bundle: &Path, records: &Path) {
    let t = Instant::now();
    let rt = runtime(None);
    let runtime_new = t.elapsed();
    let t = Instant::now();
    let model = open(&rt, bundle);
    let opened = t.elapsed();
    let first = vec![lines(records).swap_remove(0)];
    let t = Instant::now();
    let decision = model.infer_records(&first).unwrap();
    let answered = t.elapsed();
    println!(
        "{{\"runtime_new_ms\": {:.3}, \"open_ms\": {:.3}, \"first_record_ms\": {:.3}, \"decision\": {}}}",
        ms(runtime_new),
        ms(opened),
        ms(answered),
        serde_json::to_string(&decision[0]).unwrap()
    );
}

/// Runs a child process to the end and returns its wall time (including process start) and its last
/// line of stdout, parsed as JSON.
fn timed_child(cmd: &mut Command) -> (Duration, Value) {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let wall = t.elapsed();
    assert!(out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap_or_default();
    (wall, serde_json::from_str(last).unwrap_or_else(|e| panic!("{cmd:?}: {e}: {stdout}")))
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() { dir_bytes(&e.path()) } else { m.len() }
        })
        .sum()
}

struct Hot {
    e2e: Stats,
    prepare: Stats,
    model: Stats,
    decide: Stats,
}

/// `iterations` calls of each, interleaved (alternating which goes first), on batches `batches[i % n]`.
fn hot(
    model: &Model,
    prepare: &Transform,
    decide: &Transform,
    batches: &[Vec<String>],
    iterations: usize,
) -> Hot {
    let config = model.config().to_string();
    // What each step makes of each batch, computed once and checked against the end-to-end path.
    let steps: Vec<(TensorMap, TensorMap, Vec<String>)> = batches
        .iter()
        .map(|b| {
            let run = model.run_records(b).unwrap();
            let inputs = prepare.prepare(b, &config).unwrap();
            // Debug text, not `==`: the features hold NaN (a missing value).
            assert_eq!(
                format!("{inputs:?}"),
                format!("{:?}", run.inputs),
                "prepare alone and run_records disagree"
            );
            let decisions = decide.decide(&run.outputs, b, &config).unwrap();
            assert_eq!(Some(&decisions), run.decisions.as_ref(), "decide alone and run_records disagree");
            assert_eq!(decisions, model.infer_records(b).unwrap());
            (run.inputs, run.outputs, decisions)
        })
        .collect();
    let (mut e, mut p, mut m, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let warm_up = (iterations / 10).max(batches.len());
    for i in 0..warm_up + iterations {
        let k = i % batches.len();
        let (batch, (inputs, outputs, _)) = (&batches[k], &steps[k]);
        let end_to_end = || {
            let t = Instant::now();
            std::hint::black_box(model.infer_records(batch).unwrap());
            t.elapsed()
        };
        let parts = || {
            let t = Instant::now();
            std::hint::black_box(prepare.prepare(batch, &config).unwrap());
            let tp = t.elapsed();
            let t = Instant::now();
            std::hint::black_box(model.infer(inputs).unwrap());
            let tm = t.elapsed();
            let t = Instant::now();
            std::hint::black_box(decide.decide(outputs, batch, &config).unwrap());
            (tp, tm, t.elapsed())
        };
        let (te, (tp, tm, td)) = if i % 2 == 0 {
            let te = end_to_end();
            (te, parts())
        } else {
            let parts = parts();
            (end_to_end(), parts)
        };
        if i >= warm_up {
            e.push(te);
            p.push(tp);
            m.push(tm);
            d.push(td);
        }
    }
    Hot { e2e: stats(e), prepare: stats(p), model: stats(m), decide: stats(d) }
}

/// Median and p99 of a list of microsecond figures from the Python side.
fn py_stats(v: &Value) -> Stats {
    let times =
        v.as_array().unwrap().iter().map(|x| Duration::from_secs_f64(x.as_f64().unwrap() / 1e6)).collect();
    stats(times)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--cold-start") {
        cold_child(Path::new(&args[2]), Path::new(&args[3]));
        return;
    }
    let iterations: usize = args.iter().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2_000);
    let cold_repeats: usize =
        std::env::var("FERRY_BENCH_COLD").ok().and_then(|v| v.parse().ok()).unwrap_or(5);

    // This process's compilation cache: a fresh directory, so that the first call below compiles and
    // the cold-start children can start from a cache this run filled.
    let tmp = tempdir();
    let cache_home = tmp.path().join("cache-home");
    std::fs::create_dir_all(&cache_home).unwrap();
    // The cold-start children find the same directory through XDG_CACHE_HOME.
    let cache_dir = cache_home.join("ferry").join("transforms");

    let src = fixture(FIXTURE);
    let bundle = tmp.path().join("credit-application.ferry");
    pack_to(&src, &bundle);
    let records_path = src.join("golden/applications.jsonl");
    let golden = lines(&records_path);
    let golden_decisions = lines(&src.join("golden/applications.decisions.jsonl"));
    assert_eq!(golden.len(), 16);
    println!(
        "bundle: {} bytes ({} of them the component); {iterations} iterations at batch 1, {} at batch 64",
        std::fs::metadata(&bundle).unwrap().len(),
        std::fs::metadata(src.join(WASM)).unwrap().len(),
        iterations / 4
    );

    let t = Instant::now();
    let rt = runtime(Some(&cache_home.join("ferry")));
    let runtime_new = t.elapsed();
    let t = Instant::now();
    let model = open(&rt, &bundle);
    let opened = t.elapsed();
    assert_eq!(model.intra_op_threads(), 1);
    let t = Instant::now();
    let decisions = model.infer_records(&golden).unwrap();
    let first = t.elapsed();
    assert_eq!(decisions, golden_decisions, "infer_records does not reproduce the golden decisions");
    println!(
        "in this process: Runtime::new {:.1} ms, open {:.1} ms, first infer_records (16 records; compiles \
         prepare, loads decide from the cache just written) {:.0} ms; cache now {} bytes",
        ms(runtime_new),
        ms(opened),
        ms(first),
        dir_bytes(&cache_dir)
    );

    // prepare and decide alone: the same component, engine settings, limits and sandbox as the runtime
    // uses for this bundle (it sets no [transform.limits] or [transform.sandbox]), from the cache.
    let engine = ferry_transform::Runtime::new(Some(&cache_dir)).unwrap();
    let wasm = std::fs::read(src.join(WASM)).unwrap();
    let load =
        |stage| Transform::load(&engine, WASM, &wasm, stage, Limits::default(), Sandbox::default()).unwrap();
    let (prepare, decide) = (load(Stage::Prepare), load(Stage::Decide));
    assert!(prepare.was_cached() && decide.was_cached());

    let batch1: Vec<Vec<String>> = (0..golden.len()).map(|i| vec![golden[i].clone()]).collect();
    let batch64: Vec<Vec<String>> = (0..golden.len())
        .map(|i| (0..64).map(|j| golden[(i + j) % golden.len()].clone()).collect())
        .collect();
    let ferry = [
        ("batch 1", hot(&model, &prepare, &decide, &batch1, iterations)),
        ("batch 64", hot(&model, &prepare, &decide, &batch64, (iterations / 4).max(1))),
    ];

    // The same transforms compiled from Rust (fixtures/transforms/credit), in the same bundle otherwise.
    let bundle_rs = tmp.path().join("credit-application-rust.ferry");
    pack_to(&credit_application_rust(&tmp.path().join("credit-application-rust")), &bundle_rs);
    let model_rs = open(&rt, &bundle_rs);
    let t = Instant::now();
    let decisions = model_rs.infer_records(&golden).unwrap();
    let first_rs = t.elapsed();
    assert_eq!(decisions, golden_decisions, "the Rust port does not reproduce the golden decisions");
    let wasm_rs = std::fs::read(fixture(WASM_RS)).unwrap();
    println!(
        "rust port: component {} bytes; first infer_records (16 records, compiles it) {:.0} ms",
        wasm_rs.len(),
        ms(first_rs)
    );
    let load_rs = |stage| {
        Transform::load(&engine, WASM, &wasm_rs, stage, Limits::default(), Sandbox::default()).unwrap()
    };
    let (prepare_rs, decide_rs) = (load_rs(Stage::Prepare), load_rs(Stage::Decide));
    let rust = [
        ("batch 1", hot(&model_rs, &prepare_rs, &decide_rs, &batch1, iterations)),
        ("batch 64", hot(&model_rs, &prepare_rs, &decide_rs, &batch64, (iterations / 4).max(1))),
    ];

    // The fixed cost of one transform call: a pooled instance of the component, rewound, and the call
    // itself, with no record to work on.
    let config = model.config().to_string();
    let empty: Vec<String> = Vec::new();
    let fixed = |prepare: &Transform| {
        let mut times = Vec::with_capacity(iterations);
        for i in 0..iterations + iterations / 10 {
            let t = Instant::now();
            std::hint::black_box(prepare.prepare(&empty, &config).unwrap());
            if i >= iterations / 10 {
                times.push(t.elapsed());
            }
        }
        stats(times)
    };
    let (fixed, fixed_rs) = (fixed(&prepare), fixed(&prepare_rs));

    // The alternative, in the same run.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/records_cpython.py");
    let config_file = tmp.path().join("config.json");
    std::fs::write(&config_file, model.config().to_string()).unwrap();
    let python = |mode: &str| {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(mode)
            .arg("--src")
            .arg(src.join("transforms/src"))
            .arg("--model")
            .arg(src.join("model.onnx"))
            .arg("--records")
            .arg(&records_path)
            .arg("--config")
            .arg(&config_file)
            .arg("--iterations")
            .arg(iterations.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("OMP_NUM_THREADS", "1");
        cmd
    };
    let (_, py) = timed_child(&mut python("hot"));
    let py_error = py.get("error").and_then(Value::as_str).map(str::to_owned);
    if py_error.is_none() {
        let d: Vec<String> = py["golden_decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(d, golden_decisions, "CPython does not reproduce the golden decisions");
    }

    println!();
    println!("hot path, 1 intra-op thread on both sides (medians; p99 for the end-to-end figures):");
    for (i, ((name, h), (_, h_rs))) in ferry.iter().zip(&rust).enumerate() {
        for (who, h) in [("ferry-py", h), ("ferry-rs", h_rs)] {
            let e = h.e2e.median.as_secs_f64();
            let share = |s: &Stats| 100.0 * s.median.as_secs_f64() / e;
            println!(
                "{who} {name:<9} infer_records median {:>9.1} us  p99 {:>9.1} us | prepare {:>9.1} us ({:.0}%)  \
                 model {:>7.1} us ({:.0}%)  decide {:>9.1} us ({:.0}%)  rest {:.0}%",
                us(h.e2e.median),
                us(h.e2e.p99),
                us(h.prepare.median),
                share(&h.prepare),
                us(h.model.median),
                share(&h.model),
                us(h.decide.median),
                share(&h.decide),
                100.0 - share(&h.prepare) - share(&h.model) - share(&h.decide),
            );
        }
        match &py_error {
            Some(err) => println!("cpython  {name:<9} not measured ({err})"),
            None => {
                let key = ["batch1", "batch64"][i];
                let col = |c: &str| py_stats(&py[key][c]);
                let total = col("total");
                println!(
                    "cpython  {name:<9} total         median {:>9.1} us  p99 {:>9.1} us | prepare {:>9.1} us  \
                     model {:>7.1} us  decide {:>9.1} us",
                    us(total.median),
                    us(total.p99),
                    us(col("prepare").median),
                    us(col("model").median),
                    us(col("decide").median),
                );
                let goal = if i == 0 { " (goal: ferry >= 3x faster, i.e. <= 0.33)" } else { "" };
                for (who, h) in [("ferry-py", h), ("ferry-rs", h_rs)] {
                    let ratio = h.e2e.median.as_secs_f64() / total.median.as_secs_f64();
                    println!(
                        "ratio    {name:<9} {who}/cpython median {ratio:.2} (ferry runs at {:.2}x the speed of \
                         cpython){goal}",
                        1.0 / ratio
                    );
                }
            }
        }
    }
    for (who, f) in [("ferry-py", &fixed), ("ferry-rs", &fixed_rs)] {
        println!(
            "{who} prepare of an EMPTY batch (pooled instance + call, no record): median {:.1} us  p99 {:.1} us",
            us(f.median),
            us(f.p99)
        );
    }
    if py_error.is_none() {
        println!(
            "cpython: python {}, onnxruntime {}, numpy {}",
            py["python"].as_str().unwrap_or("?"),
            py["onnxruntime"].as_str().unwrap_or("?"),
            py["numpy"].as_str().unwrap_or("?")
        );
    }

    // Cold start: fresh processes, alternating empty cache / warm cache / CPython.
    let exe = std::env::current_exe().unwrap();
    let child = |bundle: &Path, cache_home: &Path| {
        let mut cmd = Command::new(&exe);
        cmd.arg("--cold-start").arg(bundle).arg(&records_path).env("XDG_CACHE_HOME", cache_home);
        cmd
    };
    // [python component, rust port] x [empty cache, warm cache]: wall times and the child's own steps.
    let mut cold: [[(Vec<Duration>, Vec<Value>); 2]; 2] = Default::default();
    let mut cpy = Vec::new();
    for r in 0..cold_repeats {
        for (b, bundle) in [&bundle, &bundle_rs].into_iter().enumerate() {
            let fresh = tmp.path().join(format!("empty-{r}-{b}"));
            std::fs::create_dir_all(&fresh).unwrap();
            for (c, cache) in [&fresh, &cache_home].into_iter().enumerate() {
                let (wall, v) = timed_child(&mut child(bundle, cache));
                assert_eq!(v["decision"].as_str().unwrap(), golden_decisions[0]);
                cold[b][c].0.push(wall);
                cold[b][c].1.push(v);
            }
            assert!(dir_bytes(&fresh) > 0, "the empty-cache child wrote no cache");
            std::fs::remove_dir_all(&fresh).unwrap();
        }
        if py_error.is_none() {
            let (wall, v) = timed_child(&mut python("cold"));
            assert_eq!(v["decision"].as_str().unwrap(), golden_decisions[0]);
            cpy.push(wall);
        }
    }
    let step_median = |steps: &[Value], key: &str| {
        let mut v: Vec<f64> = steps.iter().map(|s| s[key].as_f64().unwrap()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!();
    println!(
        "cold start, whole process (spawn + runtime + open + first record of batch 1), median of {cold_repeats}:"
    );
    let [py_cold, rs_cold] = cold;
    for (who, [empty, warm]) in [("ferry-py", py_cold), ("ferry-rs", rs_cold)] {
        for (name, (walls, steps)) in [("empty cache", empty), ("warm cache", warm)] {
            let steps = &steps;
            let s = stats(walls);
            println!(
                "{who} {name:<12} {:>8.1} ms (in the child, medians: Runtime::new {:.1} ms, open {:.1} ms, \
             first record {:.1} ms)",
                ms(s.median),
                step_median(steps, "runtime_new_ms"),
                step_median(steps, "open_ms"),
                step_median(steps, "first_record_ms"),
            );
        }
    }
    match &py_error {
        Some(err) => println!("cpython  {:<12} not measured ({err})", "import+session"),
        None => println!(
            "cpython  {:<12} {:>8.1} ms (python3 start, import numpy + onnxruntime + the modules, session, first record)",
            "import+session",
            ms(stats(cpy).median)
        ),
    }
}
