//! Packing throughput against the obvious floor: one SHA-256 pass over the same bytes.
//!
//! `cargo bench -p ferry-packager --bench pack` builds a source whose model keeps 1 GiB of weights in
//! ONNX external data (`FERRY_BENCH_BYTES` to change the size), then alternates `sha256(weights)` and
//! `ferry_packager::pack` so both see the same page-cache state, and prints medians and their ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_testkit::Synthetic;
use std::time::Instant;

fn main() {
    let Synthetic { bytes, rounds, src, bundle: out, dir: _dir } = Synthetic::source();
    let weights = src.join("weights.bin");

    let hash = || ferry_packager::synthetic::sha256_file(&weights).unwrap();
    // Warm the page cache and the output path once.
    hash();
    ferry_packager::pack(&src, &out).unwrap();

    let mut sha = Vec::new();
    let mut pack = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(hash());
        sha.push(t.elapsed());
        std::fs::remove_file(&out).unwrap();
        let t = Instant::now();
        std::hint::black_box(ferry_packager::pack(&src, &out).unwrap());
        pack.push(t.elapsed());
    }
    let (s, p) = (ferry_packager::synthetic::median(&mut sha), ferry_packager::synthetic::median(&mut pack));
    let gib = bytes as f64 / f64::from(1u32 << 30);
    println!("bytes            {bytes}");
    println!("rounds           {rounds}");
    println!("sha256 median    {:.3} s  ({:.0} MiB/s)", s.as_secs_f64(), gib * 1024.0 / s.as_secs_f64());
    println!("pack median      {:.3} s  ({:.0} MiB/s)", p.as_secs_f64(), gib * 1024.0 / p.as_secs_f64());
    println!("ratio pack/sha256 {:.3}", p.as_secs_f64() / s.as_secs_f64());
}
