//! `cargo bench -p ferry-runtime --bench infer [-- ITERATIONS]`
//!
//! Hot path: `Model::infer` (contract checks on) against raw `ort::Session::run` on the same model, same
//! session options and same input buffers, interleaved call by call in one process so that both see the
//! same machine state. The raw side builds zero-copy input views and copies the output into a `Vec`, as a
//! host would.
//!
//! Drift: `Model::infer` at batch 1 on a bundle with a reference profile (the streaming profile
//! counting every call) against the same model without one, interleaved the same way.
//!
//! Cold start: open + verify + first inference of the bundle against raw ONNX Runtime session creation
//! from the bare `.onnx` (+ external data) and a first run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_runtime::{Model, OpenOptions, Runtime, RuntimeOptions};
use ferry_tensor::{Tensor, TensorData, TensorMap};
use ferry_testkit::{fixture, pack_to, tempdir};
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;
use std::time::{Duration, Instant};

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

fn raw_session(rt: &Runtime, model: &Model, dir: &Path) -> Session {
    let onnx = std::fs::read(dir.join("model.onnx")).unwrap();
    let mut b =
        Session::builder(rt.ort_environment()).unwrap().with_intra_threads(model.intra_op_threads()).unwrap();
    let data = dir.join("model.onnx.data");
    if data.exists() {
        let bytes: std::sync::Arc<[u8]> = std::fs::read(&data).unwrap().into();
        b = b.with_external_initializer_file_in_memory("model.onnx.data", bytes).unwrap();
    }
    b.commit_from_memory(&onnx).unwrap()
}

/// Raw ort: views over the same buffers, run, copy the first output out.
fn raw_run(session: &mut Session, inputs: &TensorMap, order: &[String]) -> Vec<f32> {
    let mut values = Vec::with_capacity(order.len());
    for name in order {
        let t = &inputs[name];
        let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        let v: ort::session::SessionInputValue<'_> = match &t.data {
            TensorData::F32(v) => TensorRef::from_array_view((shape, v.as_slice())).unwrap().into(),
            TensorData::I64(v) => TensorRef::from_array_view((shape, v.as_slice())).unwrap().into(),
            _ => unreachable!(),
        };
        values.push((std::borrow::Cow::Borrowed(name.as_str()), v));
    }
    let out = session.run(values).unwrap();
    let (_, y) = out[0].try_extract_tensor::<f32>().unwrap();
    y.to_vec()
}

fn hot(name: &str, rt: &Runtime, model: &Model, dir: &Path, inputs: &TensorMap, iterations: usize) {
    let order: Vec<String> = model.manifest().inputs.iter().map(|t| t.name.clone()).collect();
    let mut raw = raw_session(rt, model, dir);
    let expected = raw_run(&mut raw, inputs, &order);
    let got = model.infer(inputs).unwrap();
    let TensorData::F32(g) = &got.values().next().unwrap().data else { panic!() };
    assert_eq!(g, &expected, "ferry and raw ort disagree");
    for _ in 0..iterations / 10 {
        std::hint::black_box(model.infer(inputs).unwrap());
        std::hint::black_box(raw_run(&mut raw, inputs, &order));
    }
    let (mut f, mut r) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    for i in 0..iterations {
        // Alternate which goes first so neither always runs on a warmer cache.
        let mut ferry = || {
            let t = Instant::now();
            std::hint::black_box(model.infer(inputs).unwrap());
            f.push(t.elapsed());
        };
        let mut rawf = || {
            let t = Instant::now();
            std::hint::black_box(raw_run(&mut raw, inputs, &order));
            r.push(t.elapsed());
        };
        if i % 2 == 0 {
            ferry();
            rawf();
        } else {
            rawf();
            ferry();
        }
    }
    let contract =
        ferry_runtime::contract::Contract::new(&model.manifest().inputs, &model.manifest().outputs);
    let mut c = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        std::hint::black_box(contract.check_request(std::hint::black_box(inputs))).unwrap();
        c.push(t.elapsed());
    }
    let (fs, rs, cs) = (stats(f), stats(r), stats(c));
    println!(
        "{name:<28} contract check alone: median {:.2} us, {:.2} ns per element",
        us(cs.median),
        cs.median.as_secs_f64() * 1e9 / inputs.values().map(|t| t.len()).sum::<usize>().max(1) as f64
    );
    println!(
        "{name:<28} ferry median {:>8.2} us  p99 {:>8.2} us | raw ort median {:>8.2} us  p99 {:>8.2} us | ratio {:.3}",
        us(fs.median),
        us(fs.p99),
        us(rs.median),
        us(rs.p99),
        fs.median.as_secs_f64() / rs.median.as_secs_f64()
    );
}

/// The streaming drift profile's cost: the same model and request with and without a reference
/// profile in the bundle, interleaved call by call.
fn drift_overhead(plain: &Model, profiled: &Model, inputs: &TensorMap, iterations: usize) {
    let live = profiled.drift().expect("credit-drift carries a reference profile");
    for _ in 0..iterations / 10 {
        std::hint::black_box(plain.infer(inputs).unwrap());
        std::hint::black_box(profiled.infer(inputs).unwrap());
    }
    let (mut a, mut b) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    for i in 0..iterations {
        let mut off = || {
            let t = Instant::now();
            std::hint::black_box(plain.infer(inputs).unwrap());
            a.push(t.elapsed());
        };
        let mut on = || {
            let t = Instant::now();
            std::hint::black_box(profiled.infer(inputs).unwrap());
            b.push(t.elapsed());
        };
        if i % 2 == 0 {
            off();
            on();
        } else {
            on();
            off();
        }
    }
    let (off, on) = (stats(a), stats(b));
    let columns = live.profile().features.len() + live.profile().predictions.len();
    println!(
        "{:<28} without profile median {:>8.2} us | with streaming profile median {:>8.2} us | ratio {:.3} | state {} bytes ({} per column)",
        "credit-drift batch 1",
        us(off.median),
        us(on.median),
        on.median.as_secs_f64() / off.median.as_secs_f64(),
        live.state_bytes(),
        live.state_bytes() / columns.max(1)
    );
}

/// Two raw sessions of the same model, interleaved: how far apart identical work measures on this machine.
fn sanity(rt: &Runtime, model: &Model, dir: &Path, inputs: &TensorMap, iterations: usize) {
    let order: Vec<String> = model.manifest().inputs.iter().map(|t| t.name.clone()).collect();
    let (mut a, mut b) = (raw_session(rt, model, dir), raw_session(rt, model, dir));
    let (mut ta, mut tb) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    for i in 0..iterations {
        for first in [i % 2 == 0, i % 2 != 0] {
            let (s, times) = if first { (&mut a, &mut ta) } else { (&mut b, &mut tb) };
            let t = Instant::now();
            std::hint::black_box(raw_run(s, inputs, &order));
            times.push(t.elapsed());
        }
    }
    let (sa, sb) = (stats(ta), stats(tb));
    println!(
        "{:<28} raw A median {:>8.2} us | raw B median {:>8.2} us | ratio {:.3} (measurement noise)",
        "sanity: raw vs raw",
        us(sa.median),
        us(sb.median),
        sa.median.as_secs_f64() / sb.median.as_secs_f64()
    );
}

fn cold(name: &str, rt: &Runtime, bundle: &Path, dir: &Path, inputs: &TensorMap, repeats: usize) {
    let order: Vec<String> = inputs.keys().cloned().collect();
    let opts = OpenOptions { env: Some(Vec::new()), ..OpenOptions::default() };
    let (mut f, mut r) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let t = Instant::now();
        let model = rt.open(bundle, &opts).unwrap();
        std::hint::black_box(model.infer(inputs).unwrap());
        f.push(t.elapsed());
        let t = Instant::now();
        let mut s = raw_session(rt, &model, dir);
        std::hint::black_box(raw_run(&mut s, inputs, &order));
        r.push(t.elapsed());
    }
    let (fs, rs) = (stats(f), stats(r));
    println!(
        "{name:<28} ferry open+verify+infer {:>8.0} us | raw session+run {:>8.0} us | ratio {:.2}",
        us(fs.median),
        us(rs.median),
        fs.median.as_secs_f64() / rs.median.as_secs_f64()
    );
}

fn credit_rows(rows: usize) -> TensorMap {
    let row = [34.0f32, 72000.0, 0.18, 0.22, 7.0, 0.0, f32::NAN, 12000.0, 36.0, 6.0, 2.0, 1.0, 0.0, 8400.0];
    let data: Vec<f32> = (0..rows).flat_map(|_| row).collect();
    TensorMap::from([("features".to_owned(), Tensor { shape: vec![rows, 14], data: TensorData::F32(data) })])
}

fn text_batch(batch: usize, seq: usize) -> TensorMap {
    let ids: Vec<i64> = (0..batch * seq).map(|i| (i * 37 % 999 + 1) as i64).collect();
    TensorMap::from([
        ("input_ids".to_owned(), Tensor { shape: vec![batch, seq], data: TensorData::I64(ids) }),
        (
            "attention_mask".to_owned(),
            Tensor { shape: vec![batch, seq], data: TensorData::I64(vec![1; batch * seq]) },
        ),
    ])
}

fn main() {
    let iterations: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20_000);
    let t = Instant::now();
    let rt = Runtime::new(RuntimeOptions::default()).expect("run scripts/fetch-onnxruntime first");
    println!(
        "Runtime::new (load + sha256-check the ONNX Runtime library, once per process): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let tmp = tempdir();
    let opts = OpenOptions { env: Some(Vec::new()), ..OpenOptions::default() };
    println!("hot path, {iterations} interleaved calls each, 1 intra-op thread:");
    let mut bundles = Vec::new();
    for name in ["credit-risk", "text-embedding"] {
        let dir = fixture(name);
        let out = tmp.path().join(format!("{name}.ferry"));
        pack_to(&dir, &out);
        bundles.push((name, dir, out));
    }
    let cr = rt.open(&bundles[0].2, &opts).unwrap();
    sanity(&rt, &cr, &bundles[0].1, &credit_rows(1), iterations);
    hot("credit-risk batch 1", &rt, &cr, &bundles[0].1, &credit_rows(1), iterations);
    hot("credit-risk batch 64", &rt, &cr, &bundles[0].1, &credit_rows(64), iterations / 4);
    let te = rt.open(&bundles[1].2, &opts).unwrap();
    hot("text-embedding 1x16", &rt, &te, &bundles[1].1, &text_batch(1, 16), iterations / 2);
    hot("text-embedding 8x64", &rt, &te, &bundles[1].1, &text_batch(8, 64), iterations / 10);
    println!("drift, {iterations} interleaved calls each:");
    let drift_bundle = tmp.path().join("credit-drift.ferry");
    let runner = |m: &ferry_packager::SourceModel<'_>, batch: &TensorMap| {
        rt.run_onnx(m.onnx.clone(), m.external.clone(), m.inputs.to_vec(), m.outputs.to_vec(), batch)
            .map_err(|e| e.to_string())
    };
    let pack_options = ferry_packager::PackOptions { reference: None, runner: Some(&runner) };
    ferry_packager::pack_with(&fixture("credit-drift"), &drift_bundle, &pack_options).unwrap();
    let cd = rt.open(&drift_bundle, &opts).unwrap();
    drift_overhead(&cr, &cd, &credit_rows(1), iterations);
    println!("cold start (median of 30):");
    cold("credit-risk", &rt, &bundles[0].2, &bundles[0].1, &credit_rows(1), 30);
    cold("text-embedding", &rt, &bundles[1].2, &bundles[1].1, &text_batch(1, 16), 30);
}
