//! `ferry verify` throughput against one SHA-256 pass over the same bundle bytes.
//!
//! `cargo bench -p ferry --bench verify` packs a bundle whose model keeps 1 GiB of weights in ONNX
//! external data (`FERRY_BENCH_BYTES` to change the size), then alternates `sha256(bundle)` and the full
//! check suite (`ferry_verifier::verify` with the default policy: layout, digests, pins, contract,
//! config; the synthetic model has no golden sets) and prints medians and their ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_testkit::Synthetic;
use std::time::Instant;

fn main() {
    let Synthetic { rounds, bundle, dir: _dir, .. } = Synthetic::packed();

    let hash = || ferry_packager::synthetic::sha256_file(&bundle).unwrap();
    let options = ferry_verifier::VerifyOptions::default();
    let verify = || {
        let report = ferry_verifier::verify(&bundle, &options).unwrap();
        assert!(report.passed, "the synthetic bundle must verify: {}", report.to_json());
    };
    hash();
    verify();
    let (mut sha, mut ver) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(hash());
        sha.push(t.elapsed());
        let t = Instant::now();
        verify();
        ver.push(t.elapsed());
    }
    let (s, v) = (ferry_packager::synthetic::median(&mut sha), ferry_packager::synthetic::median(&mut ver));
    let size = std::fs::metadata(&bundle).unwrap().len();
    let mib = size as f64 / f64::from(1u32 << 20);
    println!("bundle bytes     {size}");
    println!("rounds           {rounds}");
    println!("sha256 median    {:.3} s  ({:.0} MiB/s)", s.as_secs_f64(), mib / s.as_secs_f64());
    println!("verify median    {:.3} s  ({:.0} MiB/s)", v.as_secs_f64(), mib / v.as_secs_f64());
    println!("ratio verify/sha256 {:.3}", v.as_secs_f64() / s.as_secs_f64());
}
