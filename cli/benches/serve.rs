//! `ferry serve` under load, side by side with the KServe Python model server on the same model and the
//! same load generator (BENCHMARKS.md, "Serving").
//!
//! `cargo bench -p ferry-cli --bench serve [-- --seconds S --requests N]`
//!
//! The load generator is closed-loop: C clients, each on its own keep-alive HTTP/1.1 connection, send
//! one OIP v2 JSON request (one credit-risk applicant) and wait for the answer before the next, until
//! N requests or S seconds per cell. Every answer is checked: a non-2xx or a wrong probability counts
//! as an error. Rows:
//! - ferry serve, dynamic batching on (the default settings);
//! - ferry serve, batching off (`max_batch_size = 1`), to show what batching adds;
//! - the KServe server (cli/benches/kserve_credit_risk.py, `kserve` + `onnxruntime` from PyPI), when
//!   `python3 -c 'import kserve, onnxruntime'` works;
//! - and a swap: at concurrency 64, a new version of the model dropped in and SIGHUP sent mid-run; the
//!   errors column must read 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const ROW: [f32; 14] = [35.0, 60000.0, 0.3, 0.4, 5.0, 0.0, 24.0, 15000.0, 36.0, 6.0, 1.0, 1.0, 1.0, 8000.0];

struct Cell {
    requests: usize,
    errors: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Cell {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// What the clients send, and how an answer is checked.
struct Workload {
    model: &'static str,
    body: String,
    ok: Box<dyn Fn(&serde_json::Value) -> bool + Send + Sync>,
}

impl Workload {
    /// One credit-risk applicant; the answer must be the reference probability.
    fn credit_risk(want: f64) -> Workload {
        Workload {
            model: "credit-risk",
            body: format!(
                r#"{{"inputs":[{{"name":"features","shape":[1,14],"datatype":"FP32","data":{}}}]}}"#,
                serde_json::to_string(&ROW.to_vec()).unwrap()
            ),
            ok: Box::new(move |v| {
                v["outputs"][0]["data"][0].as_f64().is_some_and(|p| (p - want).abs() < 1e-5)
            }),
        }
    }

    /// One 64-token text-embedding request; the answer must be one 64-float embedding.
    fn text_embedding() -> Workload {
        let ids: Vec<i64> = (0..64).map(|i| (i * 37 + 11) % 1000).collect();
        Workload {
            model: "text-embedding",
            body: serde_json::json!({"inputs": [
                {"name": "input_ids", "shape": [1, 64], "datatype": "INT64", "data": ids},
                {"name": "attention_mask", "shape": [1, 64], "datatype": "INT64", "data": vec![1; 64]},
            ]})
            .to_string(),
            ok: Box::new(|v| {
                v["outputs"][0]["shape"] == serde_json::json!([1, 64])
                    && v["outputs"][0]["data"].as_array().is_some_and(|d| d.len() == 64)
            }),
        }
    }

    fn request(&self, addr: SocketAddr) -> Vec<u8> {
        format!(
            "POST /v2/models/{}/infer HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            self.model,
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

/// One keep-alive exchange: the status and body, or `None` when the connection broke.
fn exchange(conn: &mut BufReader<TcpStream>, request: &[u8]) -> Option<(u16, Vec<u8>)> {
    conn.get_mut().write_all(request).ok()?;
    let mut line = String::new();
    conn.read_line(&mut line).ok()?;
    let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).ok()?;
    Some((status, body))
}

fn answer_ok(body: &[u8], w: &Workload) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| (w.ok)(&v))
}

fn drive(
    addr: SocketAddr,
    clients: usize,
    max_requests: usize,
    max_time: Duration,
    w: &Arc<Workload>,
    mid_run: Option<&dyn Fn()>,
) -> Cell {
    let request = Arc::new(w.request(addr));
    let stop = Arc::new(AtomicBool::new(false));
    let per_client = max_requests.div_ceil(clients);
    let barrier = Arc::new(Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (request, stop, barrier, w) = (request.clone(), stop.clone(), barrier.clone(), w.clone());
            std::thread::spawn(move || {
                let mut conn = BufReader::new(TcpStream::connect(addr).unwrap());
                conn.get_mut().set_nodelay(true).unwrap();
                let mut latencies = Vec::with_capacity(per_client);
                let mut errors = 0;
                barrier.wait();
                while latencies.len() + errors < per_client && !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match exchange(&mut conn, &request) {
                        Some((200, body)) if answer_ok(&body, &w) => latencies.push(t.elapsed()),
                        Some(_) => errors += 1,
                        None => {
                            errors += 1;
                            conn = BufReader::new(TcpStream::connect(addr).unwrap());
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let timer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + max_time;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    if let Some(f) = mid_run {
        std::thread::sleep(max_time.min(Duration::from_secs(2)) / 2);
        f();
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().unwrap();
        all.extend(l);
        errors += e;
    }
    let seconds = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    timer.join().unwrap();
    all.sort();
    let pct = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    Cell { requests: all.len(), errors, seconds, p50_ms: pct(0.5), p99_ms: pct(0.99) }
}

fn print_row(name: &str, concurrency: usize, cell: &Cell) {
    println!(
        "| {name} | {concurrency} | {:.0} | {:.3} | {:.3} | {} |",
        cell.throughput(),
        cell.p50_ms,
        cell.p99_ms,
        cell.errors
    );
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_ready(addr: SocketAddr, path: &str, within: Duration) {
    let until = Instant::now() + within;
    loop {
        if let Ok(s) = TcpStream::connect(addr) {
            let mut conn = BufReader::new(s);
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            if let Some((200, _)) = exchange(&mut conn, req.as_bytes()) {
                return;
            }
        }
        assert!(Instant::now() < until, "{addr}{path} never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ferry_serve(repo: &Path, config: &str) -> (Proc, SocketAddr) {
    let port = free_port();
    let cfg = repo.parent().unwrap().join(format!("serve-{port}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "serve",
            repo.to_str().unwrap(),
            "--no-grpc",
            "--poll-seconds",
            "0",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let p = Proc(child);
    wait_ready(addr, "/v2/health/ready", Duration::from_secs(60));
    (p, addr)
}

fn pack(src: &Path, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: f64| -> f64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = Duration::from_secs_f64(flag("--seconds", 5.0));
    let max_requests = flag("--requests", 200_000.0) as usize;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let fixture = root.join("fixtures/credit-risk");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    pack(&fixture, &repo.join("credit-risk.ferry"));
    // The reference answer for the one applicant, from the same model through the library's CLI.
    let want = {
        let input = tmp.path().join("row.json");
        std::fs::write(
            &input,
            serde_json::json!({"features": {"dtype": "float32", "shape": [1, 14], "data": ROW.to_vec()}})
                .to_string(),
        )
        .unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args([
                "run",
                repo.join("credit-risk.ferry").to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["probability"]["data"][0].as_f64().unwrap()
    };
    let credit = Arc::new(Workload::credit_risk(want));
    pack(&root.join("fixtures/text-embedding"), &repo.join("text-embedding.ferry"));
    let embedding = Arc::new(Workload::text_embedding());
    let levels = [1usize, 16, 64];
    let mut rows: Vec<(String, Vec<Cell>)> = Vec::new();

    let (batched, addr) = ferry_serve(&repo, "");
    rows.push((
        "ferry serve (dynamic batching)".into(),
        levels.iter().map(|&c| drive(addr, c, max_requests, seconds, &credit, None)).collect(),
    ));
    drop(batched);
    let (unbatched, addr) = ferry_serve(&repo, "[defaults]\nmax_batch_size = 1\n");
    rows.push((
        "ferry serve (batching off)".into(),
        levels.iter().map(|&c| drive(addr, c, max_requests, seconds, &credit, None)).collect(),
    ));
    drop(unbatched);
    // Batching where the model, not HTTP, is most of the work: 64-token text embeddings.
    let mut embedding_rows: Vec<(String, Vec<Cell>)> = Vec::new();
    for (name, config) in [("on", ""), ("off", "[defaults]\nmax_batch_size = 1\n")] {
        let (server, addr) = ferry_serve(&repo, config);
        embedding_rows.push((
            format!("ferry serve, text-embedding 1x64, batching {name}"),
            levels.iter().map(|&c| drive(addr, c, max_requests, seconds, &embedding, None)).collect(),
        ));
        drop(server);
    }

    // A swap under load: 1.1.0 dropped in (renamed in whole) and SIGHUP, halfway through.
    let (swapping, addr) = ferry_serve(&repo, "");
    let staging = tmp.path().join("v2");
    let src = tmp.path().join("src");
    ferry_testkit::copy_dir(&fixture, &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    std::fs::write(src.join("ferry.toml"), toml.replacen("version = \"1.0.0\"", "version = \"1.1.0\"", 1))
        .unwrap();
    pack(&src, &staging);
    let pid = swapping.0.id().to_string();
    let swap = || {
        std::fs::rename(&staging, repo.join("credit-risk-1.1.0.ferry")).unwrap();
        Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    };
    let swap_cell = drive(addr, 64, max_requests, seconds, &credit, Some(&swap));
    drop(swapping);

    let kserve_ok = Command::new("python3")
        .args(["-c", "import kserve, onnxruntime"])
        .output()
        .is_ok_and(|o| o.status.success());
    if kserve_ok {
        let port = free_port();
        let script = root.join("cli/benches/kserve_credit_risk.py");
        let child = Command::new("python3")
            .arg(&script)
            .args([fixture.join("model.onnx").to_str().unwrap(), &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Proc(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_ready(addr, "/v2/models/credit-risk/ready", Duration::from_secs(120));
        // KServe is far slower: the same time budget per cell, a smaller request cap is not needed.
        rows.push((
            "KServe Python server (kserve + onnxruntime)".into(),
            levels.iter().map(|&c| drive(addr, c, max_requests, seconds, &credit, None)).collect(),
        ));
        drop(p);
    } else {
        eprintln!(
            "KServe row not measured: `python3 -c 'import kserve, onnxruntime'` fails (pip install kserve==0.21.0 onnxruntime==1.31.1)"
        );
    }

    println!(
        "credit-risk, 1 row per request, OIP v2 JSON over HTTP/1.1 keep-alive, closed loop, {:.0} s or {max_requests} requests per cell",
        seconds.as_secs_f64()
    );
    println!("| server | concurrency | requests/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, cells) in rows.iter().chain(&embedding_rows) {
        for (c, cell) in levels.iter().zip(cells) {
            print_row(name, *c, cell);
        }
    }
    print_row("ferry serve, 1.1.0 swapped in mid-run", 64, &swap_cell);
    if rows.len() == 3 {
        for (i, c) in levels.iter().enumerate() {
            let (f, k) = (&rows[0].1[i], &rows[2].1[i]);
            println!(
                "concurrency {c}: ferry/KServe throughput {:.1}x, p99 {:.3} ms vs {:.3} ms",
                f.throughput() / k.throughput(),
                f.p99_ms,
                k.p99_ms
            );
        }
    }
    for (i, c) in levels.iter().enumerate() {
        println!(
            "concurrency {c}: batching on/off throughput {:.2}x",
            rows[0].1[i].throughput() / rows[1].1[i].throughput()
        );
    }
    for (i, c) in levels.iter().enumerate() {
        println!(
            "concurrency {c}: text-embedding batching on/off throughput {:.2}x",
            embedding_rows[0].1[i].throughput() / embedding_rows[1].1[i].throughput()
        );
    }
    assert_eq!(swap_cell.errors, 0, "requests failed during the swap");
}
