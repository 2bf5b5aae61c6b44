//! Opening an unchanged large bundle again: the verified-digest cache against a full hash pass.
//!
//! `cargo bench -p ferry-runtime --bench open` packs a bundle whose model keeps 1 GiB of weights in ONNX
//! external data (`FERRY_BENCH_BYTES` to change the size, `FERRY_BENCH_ROUNDS` the rounds), lets it age
//! past the cache's racy margin, then alternates, each as a median over the rounds:
//! - one SHA-256 pass over the bundle file (the baseline: what checking it in full costs at least);
//! - `Runtime::verify_digests` with `always_rehash` (every blob hashed, as without the cache);
//! - `Runtime::verify_digests` with the cache warm (what a reopen costs);
//! - `Runtime::open` both ways (the digest check, the pins, and ONNX Runtime's session over 1 GiB);
//! - raw ONNX Runtime: a session committed from the source's `model.onnx` and its external-data file on
//!   disk, with the same thread count (what a user loading the model without Ferry pays), so Ferry's own
//!   share of a cold start is the difference.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_runtime::{CacheLocation, OpenOptions, Runtime, RuntimeOptions};
use ferry_testkit::Synthetic;
use std::time::{Duration, Instant};

fn main() {
    let Synthetic { rounds, bundle, dir, src, .. } = Synthetic::packed();
    let cache = CacheLocation::Dir(dir.path().join("cache"));
    let runtime = |always_rehash| {
        Runtime::new(RuntimeOptions { cache: cache.clone(), always_rehash, ..RuntimeOptions::default() })
            .expect("run scripts/fetch-onnxruntime first")
    };
    let (full, cached) = (runtime(true), runtime(false));
    std::thread::sleep(ferry_cache::RACY_MARGIN + Duration::from_millis(200));
    let check = |rt: &Runtime| {
        let b = ferry_bundle::Bundle::open(&bundle).unwrap();
        rt.verify_digests(&b).unwrap()
    };
    assert!(!check(&cached), "the first check hashes");
    assert!(check(&cached), "and is remembered");
    let options = OpenOptions { env: Some(Vec::new()), ..OpenOptions::default() };
    let (mut sha, mut rehash, mut warm, mut open_full, mut open_warm, mut raw) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let threads = cached.open(&bundle, &options).unwrap().intra_op_threads();
    let raw_session = || {
        ort::session::Session::builder(cached.ort_environment())
            .unwrap()
            .with_intra_threads(threads)
            .unwrap()
            .commit_from_file(src.join("model.onnx"))
            .unwrap()
    };
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(ferry_packager::synthetic::sha256_file(&bundle).unwrap());
        sha.push(t.elapsed());
        let t = Instant::now();
        assert!(!check(&full));
        rehash.push(t.elapsed());
        let t = Instant::now();
        assert!(check(&cached));
        warm.push(t.elapsed());
        let t = Instant::now();
        assert!(!full.open(&bundle, &options).unwrap().digests_cached());
        open_full.push(t.elapsed());
        let t = Instant::now();
        assert!(cached.open(&bundle, &options).unwrap().digests_cached());
        open_warm.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(raw_session());
        raw.push(t.elapsed());
    }
    let m = |v: &mut Vec<Duration>| ferry_packager::synthetic::median(v).as_secs_f64();
    let (s, r, w, of, ow, rw) =
        (m(&mut sha), m(&mut rehash), m(&mut warm), m(&mut open_full), m(&mut open_warm), m(&mut raw));
    println!("bundle bytes                         {}", std::fs::metadata(&bundle).unwrap().len());
    println!("rounds                               {rounds}");
    println!("sha256 of the file, median           {:.3} ms", s * 1e3);
    println!("digest check, full hash, median      {:.3} ms", r * 1e3);
    println!("digest check, cache warm, median     {:.3} ms", w * 1e3);
    println!("ratio cache warm / sha256            {:.5} ({:.3}%)", w / s, 100.0 * w / s);
    println!("Runtime::open, full hash, median     {:.3} ms", of * 1e3);
    println!("Runtime::open, cache warm, median    {:.3} ms", ow * 1e3);
    println!("raw ONNX Runtime session, median     {:.3} ms", rw * 1e3);
    println!(
        "open warm - raw session              {:.3} ms ({:.2}% of sha256)",
        (ow - rw) * 1e3,
        100.0 * (ow - rw) / s
    );
}
