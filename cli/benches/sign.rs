//! Signing and signature verification against the reference OpenSSF `model_signing` tool.
//!
//! `cargo bench -p ferry-cli --bench sign` builds a bundle whose model keeps 1 GiB of weights in ONNX external
//! data (`FERRY_BENCH_BYTES` to change the size), unpacks it, then alternates, round by round, whole
//! processes on both sides, as a user runs them:
//! - `ferry sign B --key K -o S` (open, check every file digest, sign, write the signed bundle) vs
//!   `python3 -m model_signing sign key` on the unpacked directory (hash every file, sign, write
//!   `model.sig`);
//! - `ferry verify S --key P --policy sig.toml` (open, check every digest, check the signature; the
//!   policy keeps the artifact checks and skips the model checks, which `model_signing` has no
//!   counterpart for) vs `python3 -m model_signing verify key` on the unpacked directory, with the same
//!   signature as `ferry unpack` writes it;
//! - the full `ferry verify S --key P` suite, for reference.
//!
//! Both sides hash every byte once; medians and ratios are printed, with one SHA-256 pass over the
//! weights (the floor both share) for scale. Skips the comparison (with a clear message) when
//! `model_signing` is not importable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::Bundle;
use ferry_testkit::Synthetic;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn timed(program: &str, args: &[&str]) -> Duration {
    let t = Instant::now();
    let o = Command::new(program).args(args).output().unwrap();
    let d = t.elapsed();
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    d
}

fn python(args: &[&str]) -> Duration {
    let mut all = vec!["-m", "model_signing"];
    all.extend_from_slice(args);
    timed("python3", &all)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn main() {
    let interop = Command::new("python3")
        .args(["-c", "import model_signing"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !interop {
        println!(
            "SKIP: `python3 -c 'import model_signing'` fails; install model_signing (pip install model-signing==1.1.1) to compare with it"
        );
        return;
    }
    let ferry = env!("CARGO_BIN_EXE_ferry");
    let Synthetic { bytes, rounds, src, bundle, dir } = Synthetic::packed();
    // The weights now live in the bundle and the unpacked view: drop the source copy to save disk.
    std::fs::remove_dir_all(&src).unwrap();
    let view = dir.path().join("view");
    Bundle::open(&bundle).unwrap().unpack(&view, &[]).unwrap();

    let key = dir.path().join("bench.key");
    let public = dir.path().join("bench.pub");
    timed(ferry, &["keygen", "--private", s(&key), "--public", s(&public)]);
    let policy = dir.path().join("sig.toml");
    std::fs::write(
        &policy,
        "[checks]\n\"contract.model-io\" = \"skip\"\n\"contract.config-schema\" = \"skip\"\n\
         \"contract.golden-inputs\" = \"skip\"\n\"golden.outputs\" = \"skip\"\n",
    )
    .unwrap();
    let signed = dir.path().join("signed.ferry");
    let py_sig = dir.path().join("python.sig");
    let ferry_sig = dir.path().join("ferry.sig");

    let ferry_sign = || {
        let _ = std::fs::remove_file(&signed);
        timed(ferry, &["sign", s(&bundle), "--key", s(&key), "-o", s(&signed)])
    };
    let ferry_verify = || {
        timed(ferry, &["verify", s(&signed), "--key", s(&public), "--policy", s(&policy), "--format", "json"])
    };
    let ferry_verify_all = || timed(ferry, &["verify", s(&signed), "--key", s(&public), "--format", "json"]);
    let python_sign =
        || python(&["sign", "key", "--private_key", s(&key), "--signature", s(&py_sig), s(&view)]);
    let python_verify =
        || python(&["verify", "key", "--signature", s(&ferry_sig), "--public_key", s(&public), s(&view)]);

    // Warm the page cache, and give Python the signature Ferry made (as `ferry unpack` writes it).
    ferry_sign();
    std::fs::write(&ferry_sig, ferry_trust::model_sig(&Bundle::open(&signed).unwrap()).unwrap()).unwrap();
    python_verify();
    ferry_verify();
    ferry_verify_all();

    // The floor both sides share: one SHA-256 pass (the implementation Ferry uses) over the weights.
    let weights = view.join("weights.bin");
    let sha_floor = || {
        let t = Instant::now();
        std::hint::black_box(ferry_packager::synthetic::sha256_file(&weights).unwrap());
        t.elapsed()
    };
    let mut samples: [Vec<Duration>; 6] = Default::default();
    for _ in 0..rounds {
        samples[0].push(sha_floor());
        samples[1].push(ferry_sign());
        samples[2].push(python_sign());
        samples[3].push(ferry_verify());
        samples[4].push(python_verify());
        samples[5].push(ferry_verify_all());
    }
    let [sh, fs, ps, fv, pv, fa] = samples.map(|mut v| ferry_packager::synthetic::median(&mut v));
    let mib = bytes as f64 / f64::from(1u32 << 20);
    let line = |name: &str, d: Duration| {
        println!("{name:<36} {:>8.3} s  ({:.0} MiB/s)", d.as_secs_f64(), mib / d.as_secs_f64());
    };
    println!("bytes                                {bytes}");
    println!("rounds                               {rounds}");
    line("sha256 floor median", sh);
    line("ferry sign median", fs);
    line("model_signing sign key median", ps);
    println!("python/ferry sign (x faster)         {:.2}", ps.as_secs_f64() / fs.as_secs_f64());
    line("ferry verify (signature) median", fv);
    line("model_signing verify key median", pv);
    println!("python/ferry verify (x faster)       {:.2}", pv.as_secs_f64() / fv.as_secs_f64());
    line("ferry verify (all checks) median", fa);
    println!("python/ferry verify, all checks      {:.2}", pv.as_secs_f64() / fa.as_secs_f64());
}
