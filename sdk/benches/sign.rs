//! Signing and signature verification against the reference OpenSSF `model_signing` tool.
//!
//! `cargo bench -p ferry --bench sign` builds a bundle whose model keeps 1 GiB of weights in ONNX external
//! data (`FERRY_BENCH_BYTES` to change the size), unpacks it, then alternates, round by round:
//! - Ferry signing (open + verify every digest + `ferry_trust::sign` into a new file) vs
//!   `python3 -m model_signing sign key` on the unpacked directory;
//! - Ferry verification (open + verify every digest + `ferry_trust::inspect` with the key) vs
//!   `python3 -m model_signing verify key` on the unpacked directory (the same signature, as `ferry
//!   unpack` writes it).
//!
//! Both sides hash every byte once; medians and ratios are printed. Skips the comparison (with a clear
//! message) when `model_signing` is not importable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::Bundle;
use std::process::Command;
use std::time::{Duration, Instant};

fn python(args: &[&str]) -> Duration {
    let t = Instant::now();
    let o = Command::new("python3").args(["-m", "model_signing"]).args(args).output().unwrap();
    let d = t.elapsed();
    assert!(
        o.status.success(),
        "model_signing {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    d
}

fn main() {
    let bytes: u64 = std::env::var("FERRY_BENCH_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(1 << 30);
    let rounds: usize = std::env::var("FERRY_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
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
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    ferry_packager::synthetic::source(&src, bytes).unwrap();
    let bundle = dir.path().join("bench.ferry");
    ferry_packager::pack(&src, &bundle).unwrap();
    // The weights now live in the bundle and the unpacked view: drop the source copy to save disk.
    std::fs::remove_dir_all(&src).unwrap();
    let view = dir.path().join("view");
    Bundle::open(&bundle).unwrap().unpack(&view, &[]).unwrap();

    let (sk_pem, pk_pem) = ferry_sign::keygen(None).unwrap();
    let key_path = dir.path().join("bench.key");
    let pub_path = dir.path().join("bench.pub");
    std::fs::write(&key_path, sk_pem.as_str()).unwrap();
    std::fs::write(&pub_path, pk_pem.as_str()).unwrap();
    let sk = ferry_trust::load_signing_key(&key_path, None).unwrap();
    let pk = ferry_trust::load_public_key(&pub_path).unwrap();
    let signed = dir.path().join("signed.ferry");
    let py_sig = dir.path().join("python.sig");
    let ferry_sig = dir.path().join("ferry.sig");

    let ferry_sign = || {
        let _ = std::fs::remove_file(&signed);
        let t = Instant::now();
        let b = Bundle::open(&bundle).unwrap();
        b.verify_digests().unwrap();
        ferry_trust::sign(&b, &sk, &signed).unwrap();
        t.elapsed()
    };
    let ferry_verify = || {
        let t = Instant::now();
        let b = Bundle::open(&signed).unwrap();
        b.verify_digests().unwrap();
        let found = ferry_trust::inspect(&b, &ferry_trust::Anchors::keys(vec![pk]));
        assert!(found.iter().any(|f| f.verified_by == Some(0)), "ferry did not verify its signature");
        t.elapsed()
    };
    let (view_s, key_s, pub_s, py_sig_s, ferry_sig_s) = (
        view.to_str().unwrap(),
        key_path.to_str().unwrap(),
        pub_path.to_str().unwrap(),
        py_sig.to_str().unwrap(),
        ferry_sig.to_str().unwrap(),
    );
    let python_sign = || python(&["sign", "key", "--private_key", key_s, "--signature", py_sig_s, view_s]);
    let python_verify =
        || python(&["verify", "key", "--signature", ferry_sig_s, "--public_key", pub_s, view_s]);

    // Warm the page cache, and give Python the signature Ferry made (as `ferry unpack` writes it).
    ferry_sign();
    std::fs::write(&ferry_sig, ferry_trust::model_sig(&Bundle::open(&signed).unwrap()).unwrap()).unwrap();
    python_verify();

    // The floor both sides share: one SHA-256 pass (the `sha2` crate Ferry uses) over the weights.
    let weights = view.join("weights.bin");
    let sha_floor = || {
        let t = Instant::now();
        std::hint::black_box(ferry_packager::synthetic::sha256_file(&weights).unwrap());
        t.elapsed()
    };
    let (mut fs, mut ps, mut fv, mut pv, mut sh) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        sh.push(sha_floor());
        fs.push(ferry_sign());
        ps.push(python_sign());
        fv.push(ferry_verify());
        pv.push(python_verify());
    }
    let (fs, ps, fv, pv, sh) = (
        ferry_packager::synthetic::median(&mut fs),
        ferry_packager::synthetic::median(&mut ps),
        ferry_packager::synthetic::median(&mut fv),
        ferry_packager::synthetic::median(&mut pv),
        ferry_packager::synthetic::median(&mut sh),
    );
    let mib = bytes as f64 / f64::from(1u32 << 20);
    let line = |name: &str, d: Duration| {
        println!("{name:<28} {:>8.3} s  ({:.0} MiB/s)", d.as_secs_f64(), mib / d.as_secs_f64());
    };
    println!("bytes                        {bytes}");
    println!("rounds                       {rounds}");
    line("sha256 floor median", sh);
    line("ferry sign median", fs);
    line("model_signing sign median", ps);
    println!("ratio ferry/python sign      {:.3}", fs.as_secs_f64() / ps.as_secs_f64());
    line("ferry verify median", fv);
    line("model_signing verify median", pv);
    println!("ratio ferry/python verify    {:.3}", fv.as_secs_f64() / pv.as_secs_f64());
}
