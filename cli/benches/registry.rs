//! Pushing and pulling a large bundle through a real registry, against `skopeo copy` (what a platform
//! team would otherwise use to move an OCI artifact).
//!
//! `cargo bench -p ferry-cli --bench registry` packs a bundle with 1 GiB of weights (`FERRY_BENCH_BYTES`
//! to change the size), starts Debian's `docker-registry` on loopback with fresh storage for each side
//! of each round, and times whole processes, alternating round by round:
//! - push: `ferry push B REF` (open, hash every blob, upload) vs `skopeo copy oci-archive:B docker://REF`
//!   (the same bundle read as the OCI archive it is, uploaded);
//! - pull: `ferry pull REF -o OUT` (every blob hashed as it arrives, written in Ferry's order, checked) vs
//!   `skopeo copy docker://REF oci-archive:OUT`;
//! - push again to the same repository (nothing to upload: one `HEAD` per blob) on both sides.
//!
//! Medians and ratios are printed, with one SHA-256 pass over the weights for scale. Skips (with a clear
//! message) when `docker-registry` or `skopeo` is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_testkit::Synthetic;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn timed(program: &str, args: &[&str]) -> Duration {
    let t = Instant::now();
    let o = Command::new(program).args(args).output().unwrap();
    let d = t.elapsed();
    assert!(o.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    d
}

struct Registry {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Registry {
    fn start(dir: PathBuf) -> Registry {
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry { child, port, dir }
    }

    fn reference(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}:1.0.0", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Per figure, one duration per round.
type Samples = [Vec<Duration>; 7];
/// One side of a round (Ferry's or skopeo's), run in alternating order.
type Side<'a> = Box<dyn FnMut(&mut Samples) + 'a>;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn main() {
    for tool in ["docker-registry", "skopeo"] {
        if Command::new(tool).arg("--version").output().is_err() {
            println!("SKIP: `{tool}` is not installed (apt-get install docker-registry skopeo)");
            return;
        }
    }
    let ferry = env!("CARGO_BIN_EXE_ferry");
    let Synthetic { bytes, rounds, src, bundle, dir } = Synthetic::packed();
    std::fs::remove_dir_all(&src).unwrap();
    let out = dir.path().join("pulled.ferry");
    let archive = format!("oci-archive:{}", s(&bundle));
    let mut samples: Samples = Default::default();
    for round in 0..rounds {
        let swap = round % 2 == 1;
        let mut sides: Vec<Side> = vec![
            Box::new(|samples| {
                let r = Registry::start(dir.path().join("reg-ferry"));
                let reference = r.reference("bench/model");
                samples[0].push(timed(ferry, &["push", s(&bundle), &reference]));
                samples[4].push(timed(ferry, &["push", s(&bundle), &reference]));
                samples[2].push(timed(ferry, &["pull", &reference, "-o", s(&out)]));
                std::fs::remove_file(&out).unwrap();
            }),
            Box::new(|samples| {
                let r = Registry::start(dir.path().join("reg-skopeo"));
                let reference = format!("docker://{}", r.reference("bench/model"));
                let push = ["copy", "-q", "--dest-tls-verify=false", &archive, &reference];
                samples[1].push(timed("skopeo", &push));
                samples[5].push(timed("skopeo", &push));
                let target = format!("oci-archive:{}", s(&out));
                samples[3]
                    .push(timed("skopeo", &["copy", "-q", "--src-tls-verify=false", &reference, &target]));
                std::fs::remove_file(&out).unwrap();
            }),
        ];
        if swap {
            sides.reverse();
        }
        for side in &mut sides {
            side(&mut samples);
        }
        let weights = std::fs::read(&bundle).unwrap();
        let t = Instant::now();
        std::hint::black_box(ferry_bundle::digest::sha256(&weights));
        samples[6].push(t.elapsed());
    }
    let [fp, sp, fl, sl, fa, sa, sh] = samples.map(|mut v| ferry_packager::synthetic::median(&mut v));
    let mib = bytes as f64 / f64::from(1 << 20);
    let line = |name: &str, d: Duration| {
        println!("{name:<40} {:>8.3} s  ({:.0} MiB/s)", d.as_secs_f64(), mib / d.as_secs_f64());
    };
    println!("bytes                                    {bytes}");
    println!("rounds                                   {rounds}");
    line("sha256 of the bundle, median", sh);
    line("ferry push median", fp);
    line("skopeo copy oci-archive: -> docker:// median", sp);
    println!("skopeo/ferry push (x faster)             {:.2}", sp.as_secs_f64() / fp.as_secs_f64());
    line("ferry pull median", fl);
    line("skopeo copy docker:// -> oci-archive: median", sl);
    println!("skopeo/ferry pull (x faster)             {:.2}", sl.as_secs_f64() / fl.as_secs_f64());
    println!("ferry push, all present, median          {:>8.3} s", fa.as_secs_f64());
    println!("skopeo copy, all present, median         {:>8.3} s", sa.as_secs_f64());
    println!("skopeo/ferry push again (x faster)       {:.2}", sa.as_secs_f64() / fa.as_secs_f64());
}
