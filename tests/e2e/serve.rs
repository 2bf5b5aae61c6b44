//! `ferry serve` end to end: the real binary on loopback, spoken to over raw HTTP/1.1 (so hostile
//! requests can be exactly as broken as an attacker makes them), and by `tritonclient` (REST and gRPC)
//! and `schemathesis` when they are installed (CI installs them: `FERRY_REQUIRE_INTEROP=1`).

use crate::common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A running `ferry serve`, killed when dropped.
struct Server {
    child: Child,
    rest: SocketAddr,
    grpc: Option<SocketAddr>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Server::try_start(args, "127.0.0.1:0").unwrap_or_else(|e| panic!("ferry serve did not start: {e}"))
    }

    /// Starts `ferry serve ARGS` on `rest` (gRPC on a free port); `Err(stderr)` when it exits instead.
    fn try_start(args: &[&str], rest: &str) -> Result<Server, String> {
        let dir = tempdir();
        let log = dir.path().join("stderr.log");
        let mut child = ferry()
            .arg("serve")
            .args(args)
            .args(["--listen", rest, "--grpc-listen", "127.0.0.1:0"])
            .args(if args.contains(&"--poll-seconds") { &[][..] } else { &["--poll-seconds", "0"][..] })
            // The transforms' compilation cache shared with the other tests of this binary.
            .env("XDG_CACHE_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-xdg-cache"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.starts_with("listening:") => {
                    let rest = line.split("://").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
                    let grpc = line.split("gRPC on ").nth(1).map(|g| g.trim().parse().unwrap());
                    return Ok(Server { child, rest, grpc, log, _dir: dir });
                }
                Ok(_) => {}
                Err(_) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        let err = std::fs::read_to_string(&log).unwrap_or_default();
                        return Err(format!("exit {:?}: {err}", status.code()));
                    }
                    assert!(Instant::now() < deadline, "ferry serve did not print its addresses within 60 s");
                }
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig} failed");
    }

    /// `GET /v2/health/live` over TLS (curl, trusting `ca`): the status.
    fn tls_live_status(&self, ca: &Path) -> u16 {
        let o = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca.to_str().unwrap()])
            .arg(format!("https://{}/v2/health/live", self.rest))
            .output()
            .unwrap();
        stdout(&o).parse().unwrap_or(0)
    }

    fn get(&self, path: &str) -> Response {
        http(self.rest, "GET", path, &[], b"")
    }

    fn post_json(&self, path: &str, body: &Value) -> Response {
        http(self.rest, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange on a fresh connection.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    try_http(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::other(format!("malformed response: {:?}", String::from_utf8_lossy(&raw)))
    })
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).ok()?.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(rest.get(nl + 2..nl + 2 + n)?);
            rest = rest.get(nl + 4 + n..)?;
        }
        body = out;
    }
    Some(Response { status, headers, body })
}

/// credit-risk packed once for this binary.
fn credit_risk() -> &'static Path {
    static B: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &B.get_or_init(|| {
        let t = tempdir();
        let b = t.path().join("credit-risk.ferry");
        pack(&fixture("credit-risk"), &b);
        (t, b)
    })
    .1
}

/// credit-risk with another `[model] version`, packed.
fn credit_risk_version(version: &str, out: &Path) {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    std::fs::write(
        src.join("ferry.toml"),
        toml.replacen("version = \"1.0.0\"", &format!("version = \"{version}\""), 1),
    )
    .unwrap();
    pack(&src, out);
}

/// The edge golden set of credit-risk: inputs (3 × 14) and expected probabilities.
fn edge_golden() -> (Vec<f64>, Vec<f64>) {
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixture("credit-risk").join("golden").join(f)).unwrap())
            .unwrap()
    };
    // `null` is NaN in Ferry's JSON tensors (a nullable feature).
    let floats =
        |v: &Value| v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
    (floats(&read("edge.inputs.json")["features"]), floats(&read("edge.expected.json")["probability"]))
}

fn infer_body(features: &[f64], rows: usize) -> Value {
    json!({
        "id": "req-1",
        "inputs": [{"name": "features", "shape": [rows, 14], "datatype": "FP32", "data": features}],
    })
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-6 + 1e-5 * w.abs(), "{got:?} vs {want:?}");
    }
}

fn probabilities(v: &Value) -> Vec<f64> {
    let out = v["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "probability").unwrap();
    out["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn rest_json_gives_the_golden_outputs_and_echoes_the_id() {
    let s = Server::start(&[credit_risk().to_str().unwrap()]);
    assert_eq!(s.get("/v2/health/live").status, 200);
    assert_eq!(s.get("/v2/health/ready").status, 200);
    let meta = s.get("/v2/models/credit-risk").json();
    assert_eq!(meta["inputs"][0], json!({"name": "features", "datatype": "FP32", "shape": [-1, 14]}));
    assert_eq!(meta["versions"], json!(["1.0.0"]));
    assert_eq!(s.get("/v2/models/credit-risk/versions/1.0.0/ready").status, 200);
    assert_eq!(s.get("/v2").json()["name"], "ferry");

    let (features, want) = edge_golden();
    let r = s.post_json("/v2/models/credit-risk/infer", &infer_body(&features, 3));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["id"], "req-1");
    assert_eq!(v["model_version"], "1.0.0");
    assert_eq!(v["outputs"][0]["shape"], json!([3, 1]));
    assert_close(&probabilities(&v), &want);

    // Nested `data` is the same tensor.
    let nested: Vec<Value> = features.chunks(14).map(|r| json!(r)).collect();
    let body =
        json!({"inputs": [{"name": "features", "shape": [3, 14], "datatype": "FP32", "data": nested}]});
    assert_close(
        &probabilities(&s.post_json("/v2/models/credit-risk/versions/1.0.0/infer", &body).json()),
        &want,
    );
}

#[test]
fn the_binary_extension_round_trips() {
    let s = Server::start(&[credit_risk().to_str().unwrap()]);
    let (features, want) = edge_golden();
    let raw: Vec<u8> = features.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect();
    let head = json!({
        "inputs": [{"name": "features", "shape": [3, 14], "datatype": "FP32", "parameters": {"binary_data_size": raw.len()}}],
        "outputs": [{"name": "probability", "parameters": {"binary_data": true}}],
    })
    .to_string();
    let mut body = head.clone().into_bytes();
    body.extend_from_slice(&raw);
    let len = head.len().to_string();
    let r = http(
        s.rest,
        "POST",
        "/v2/models/credit-risk/infer",
        &[("Inference-Header-Content-Length", &len)],
        &body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let n: usize = r.header("inference-header-content-length").unwrap().parse().unwrap();
    let v: Value = serde_json::from_slice(&r.body[..n]).unwrap();
    assert_eq!(v["outputs"][0]["parameters"]["binary_data_size"], 12);
    let got: Vec<f64> =
        r.body[n..].chunks(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect();
    assert_close(&got, &want);
}

/// Every hostile request gets a 4xx with a message naming what is wrong, and the server keeps serving.
#[test]
fn hostile_requests_are_refused_with_clear_errors() {
    let s = Server::start(&[credit_risk().to_str().unwrap(), "--max-body", "100000"]);
    let (features, _) = edge_golden();
    let post = |body: &[u8], headers: &[(&str, &str)]| {
        http(s.rest, "POST", "/v2/models/credit-risk/infer", headers, body)
    };
    let expect = |r: Response, status: u16, needle: &str| {
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, status, "{text}");
        assert!(text.contains(needle), "expected {needle:?} in {text}");
    };
    expect(post(b"{not json", &[]), 400, "not a valid OIP v2 inference request");
    expect(post(b"", &[]), 400, "not a valid");
    // A shape that claims 10^12 rows is refused from the shape, before any data is looked at.
    let huge = json!({"inputs": [{"name": "features", "shape": [1_000_000_000_000u64, 14], "datatype": "FP32", "data": [1.0]}]});
    expect(post(huge.to_string().as_bytes(), &[]), 400, "features");
    // Data that does not fill the shape.
    let short =
        json!({"inputs": [{"name": "features", "shape": [2, 14], "datatype": "FP32", "data": [1.0, 2.0]}]});
    expect(post(short.to_string().as_bytes(), &[]), 400, "holds 28 elements, `data` has 2");
    // Wrong datatype: the contract's structured error.
    let r = post(json!({"inputs": [{"name": "features", "shape": [1, 14], "datatype": "FP64", "data": vec![1.0; 14]}]}).to_string().as_bytes(), &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["contract"]["rule"], "dtype");
    // A value below a feature's minimum names the feature, as the library does.
    let mut bad = features[..14].to_vec();
    bad[0] = -1.0;
    let r = post(infer_body(&bad, 1).to_string().as_bytes(), &[]);
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["contract"]["feature"], "age", "{v}");
    assert_eq!(v["contract"]["rule"], "min", "{v}");
    assert!(v["error"].as_str().unwrap().contains("age"), "{v}");
    // Unknown datatype, unknown input, unknown output, duplicate input.
    expect(
        post(
            json!({"inputs": [{"name": "features", "shape": [1], "datatype": "FP8", "data": [1]}]})
                .to_string()
                .as_bytes(),
            &[],
        ),
        400,
        "unknown datatype `FP8`",
    );
    expect(
        post(
            json!({"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1]}]})
                .to_string()
                .as_bytes(),
            &[],
        ),
        400,
        "nope",
    );
    let mut unknown_output = infer_body(&features[..14], 1);
    unknown_output["outputs"] = json!([{"name": "ghost"}]);
    expect(post(unknown_output.to_string().as_bytes(), &[]), 400, "output `ghost`");
    let one = json!({"name": "features", "shape": [1, 14], "datatype": "FP32", "data": &features[..14]});
    expect(post(json!({"inputs": [one.clone(), one]}).to_string().as_bytes(), &[]), 400, "given twice");
    // Strings where numbers go, nesting beyond reason.
    let strings = json!({"inputs": [{"name": "features", "shape": [1, 14], "datatype": "FP32", "data": vec!["x"; 14]}]});
    expect(post(strings.to_string().as_bytes(), &[]), 400, "element 0: expected a number");
    let deep = format!(
        r#"{{"inputs": [{{"name": "features", "shape": [1, 14], "datatype": "FP32", "data": {}1{}}}]}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    expect(post(deep.as_bytes(), &[]), 400, "deep");
    // The binary extension, lied about: a header longer than the body, sizes past the end, extra bytes.
    expect(post(b"{}", &[("Inference-Header-Content-Length", "999")]), 400, "the body has 2 bytes");
    expect(post(b"{}", &[("Inference-Header-Content-Length", "-1")]), 400, "not a byte count");
    let head = json!({"inputs": [{"name": "features", "shape": [1, 14], "datatype": "FP32", "parameters": {"binary_data_size": 56}}]}).to_string();
    let len = head.len().to_string();
    let mut cut = head.clone().into_bytes();
    cut.extend_from_slice(&[0; 20]);
    expect(post(&cut, &[("Inference-Header-Content-Length", &len)]), 400, "only 20 bytes remain");
    let mut extra = head.into_bytes();
    extra.extend_from_slice(&[0; 60]);
    expect(post(&extra, &[("Inference-Header-Content-Length", &len)]), 400, "belong to no input");
    // Over the body limit: 413 before the body is read in full.
    expect(post(&vec![b' '; 200_000], &[]), 413, "limit of 100000 bytes");
    // No such model or endpoint.
    expect(http(s.rest, "POST", "/v2/models/ghost/infer", &[], b"{}"), 404, "model `ghost`");
    expect(s.get("/v2/models/credit-risk/versions/9.9.9"), 404, "version `9.9.9`");
    expect(s.get("/nope"), 404, "no such endpoint");
    // A connection that promises more body than it sends, then hangs up.
    {
        let mut c = TcpStream::connect(s.rest).unwrap();
        c.write_all(b"POST /v2/models/credit-risk/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"inputs\"").unwrap();
    }
    // Still serving, and the refusals were counted per feature and rule.
    let r = s.post_json("/v2/models/credit-risk/infer", &infer_body(&features[..14], 1));
    assert_eq!(r.status, 200);
    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    assert!(
        metrics.contains(r#"ferry_contract_violations_total{model="credit-risk",input="features",feature="age",rule="min"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"ferry_requests_total{model="credit-risk",version="1.0.0",protocol="rest",outcome="ok"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferry_request_duration_seconds_bucket{model=\"credit-risk\",stage=\"inference\""),
        "{metrics}"
    );
    assert!(metrics.contains("ferry_batch_size_count{model=\"credit-risk\"}"), "{metrics}");
    // Names only a client chose (an unknown model, an undeclared input) never become label values.
    assert!(!metrics.contains("ghost") && !metrics.contains("nope"), "{metrics}");
    assert!(
        metrics.contains(r#"ferry_requests_total{model="",version="",protocol="rest",outcome="not_found"}"#),
        "{metrics}"
    );
    // Failed requests are logged as JSON lines with their id.
    let log = s.log();
    let line =
        log.lines().find(|l| l.contains("\"outcome\":\"contract\"")).unwrap_or_else(|| panic!("{log}"));
    let line: Value = serde_json::from_str(line).unwrap();
    assert!(line["id"].as_str().unwrap().starts_with("ferry-") || line["id"] == "req-1", "{line}");
}

#[test]
fn a_bearer_token_guards_everything_but_the_health_checks() {
    let t = tempdir();
    let token = t.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let s = Server::start(&[credit_risk().to_str().unwrap(), "--token-file", token.to_str().unwrap()]);
    assert_eq!(s.get("/v2/health/ready").status, 200);
    let r = s.get("/v2/models/credit-risk");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        http(s.rest, "GET", "/v2/models/credit-risk", &[("Authorization", "Bearer wrong-token!")], b"")
            .status,
        401
    );
    assert_eq!(http(s.rest, "GET", "/metrics", &[], b"").status, 401);
    assert_eq!(
        http(s.rest, "GET", "/v2/models/credit-risk", &[("Authorization", "Bearer s3cret-token")], b"")
            .status,
        200
    );

    std::fs::write(&token, "  \n").unwrap();
    let o = run(&["serve", credit_risk().to_str().unwrap(), "--token-file", token.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("the file is empty"), "{}", stderr(&o));
}

#[test]
fn a_full_queue_answers_503_with_retry_after_and_deadlines_504() {
    let t = tempdir();
    let config = t.path().join("serve.toml");
    std::fs::write(&config, "[models.credit-risk]\nmax_queue = 1\ninstances = 1\nmax_batch_size = 1\n")
        .unwrap();
    let s = Server::start(&[credit_risk().to_str().unwrap(), "--config", config.to_str().unwrap()]);
    let (features, _) = edge_golden();
    let body = infer_body(&features, 3).to_string();
    let statuses: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let body = &body;
                let rest = s.rest;
                scope.spawn(move || {
                    (0..20)
                        .map(|_| {
                            let r = http(rest, "POST", "/v2/models/credit-risk/infer", &[], body.as_bytes());
                            (r.status, r.header("retry-after").map(str::to_owned))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|(s, _)| *s == 200 || *s == 503), "{statuses:?}");
    let refused: Vec<_> = statuses.iter().filter(|(s, _)| *s == 503).collect();
    assert!(!refused.is_empty(), "32 clients never filled a queue of 1");
    assert!(refused.iter().all(|(_, retry)| retry.as_deref() == Some("1")), "{refused:?}");
    assert!(statuses.iter().any(|(s, _)| *s == 200));

    // A deadline of one microsecond passes before any answer can come back.
    let mut hurried = infer_body(&features, 3);
    hurried["parameters"] = json!({"timeout": 1});
    let r = s.post_json("/v2/models/credit-risk/infer", &hurried);
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"].as_str().unwrap().contains("deadline"));
}

/// Concurrent requests are merged into fewer ONNX Runtime calls, and each still gets its own rows.
#[test]
fn concurrent_requests_are_batched_and_split_back() {
    let t = tempdir();
    let config = t.path().join("serve.toml");
    std::fs::write(&config, "[defaults]\nmax_queue_delay_us = 20000\nmax_batch_size = 64\ninstances = 1\n")
        .unwrap();
    let s = Server::start(&[credit_risk().to_str().unwrap(), "--config", config.to_str().unwrap()]);
    let (features, want) = edge_golden();
    std::thread::scope(|scope| {
        for i in 0..24 {
            let (features, want, rest) = (&features, &want, s.rest);
            scope.spawn(move || {
                // Each client sends one of the three golden rows, or a row the contract refuses.
                let row = i % 4;
                if row == 3 {
                    let mut bad = features[..14].to_vec();
                    bad[0] = -5.0;
                    let r = http(
                        rest,
                        "POST",
                        "/v2/models/credit-risk/infer",
                        &[],
                        infer_body(&bad, 1).to_string().as_bytes(),
                    );
                    assert_eq!(r.status, 400);
                } else {
                    let body = infer_body(&features[row * 14..row * 14 + 14], 1).to_string();
                    let r = http(rest, "POST", "/v2/models/credit-risk/infer", &[], body.as_bytes());
                    assert_eq!(r.status, 200);
                    assert_close(&probabilities(&r.json()), &want[row..=row]);
                }
            });
        }
    });
    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    let count = |name: &str| -> f64 {
        let line =
            metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let calls = count("ferry_batch_size_count{model=\"credit-risk\"}");
    let rows = count("ferry_batch_size_sum{model=\"credit-risk\"}");
    assert_eq!(rows, 18.0, "{metrics}");
    assert!(
        calls < 18.0,
        "18 good requests in a 20 ms window took {calls} calls: nothing was batched\n{metrics}"
    );
}

fn latest_version(s: &Server) -> String {
    s.get("/v2/models/credit-risk").json()["versions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new version dropped into the repository under load is verified and swapped in; the old one is
/// unloaded; no request fails. A bundle the checks refuse is logged and counted, and not served.
#[test]
fn hot_swap_under_load_loses_no_request() {
    let repo = tempdir();
    std::fs::copy(credit_risk(), repo.path().join("credit-risk-1.0.0.ferry")).unwrap();
    let s = Server::start(&[repo.path().to_str().unwrap()]);
    let staging = tempdir();
    credit_risk_version("1.1.0", &staging.path().join("v2.ferry"));
    std::fs::write(staging.path().join("broken.ferry"), b"PK\x03\x04 not a bundle").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let (features, want) = edge_golden();
    let body = infer_body(&features, 3).to_string();
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, body, want, rest) =
                (stop.clone(), ok.clone(), failed.clone(), body.clone(), want.clone(), s.rest);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = http(rest, "POST", "/v2/models/credit-risk/infer", &[], body.as_bytes());
                    if r.status == 200 {
                        assert_close(&probabilities(&r.json()), &want);
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed
                            .lock()
                            .unwrap()
                            .push((r.status, String::from_utf8_lossy(&r.body).into_owned()));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Renamed in whole, as the docs say to; then SIGHUP for an immediate reload.
    std::fs::rename(staging.path().join("v2.ferry"), repo.path().join("credit-risk-1.1.0.ferry")).unwrap();
    std::fs::rename(staging.path().join("broken.ferry"), repo.path().join("broken.ferry")).unwrap();
    s.signal("-HUP");
    let until = Instant::now() + Duration::from_secs(30);
    while latest_version(&s) != "1.1.0" {
        assert!(Instant::now() < until, "1.1.0 never loaded: {}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    // Now retire 1.0.0 under the same load.
    std::fs::remove_file(repo.path().join("credit-risk-1.0.0.ferry")).unwrap();
    s.signal("-HUP");
    while s.get("/v2/models/credit-risk").json()["versions"] != json!(["1.1.0"]) {
        assert!(Instant::now() < until, "1.0.0 never unloaded: {}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for h in load {
        h.join().unwrap();
    }
    let failed = failed.lock().unwrap();
    assert!(
        failed.is_empty(),
        "{} requests failed during the swap: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok.load(Ordering::Relaxed) > 20, "too little load to mean anything");
    let r = s.post_json("/v2/models/credit-risk/infer", &infer_body(&features, 3));
    assert_eq!(r.json()["model_version"], "1.1.0");
    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    assert!(metrics.contains("ferry_model_refusals_total{file=\""), "{metrics}");
    assert!(
        metrics.contains(r#"ferry_model_loads_total{model="credit-risk",version="1.1.0"} 1"#),
        "{metrics}"
    );
    let log = s.log();
    assert!(
        log.lines().any(|l| l.contains("\"msg\":\"bundle refused\"") && l.contains("broken.ferry")),
        "{log}"
    );

    // A refused replacement of a served file does not take its model down.
    let bad = staging.path().join("bad.ferry");
    std::fs::write(&bad, b"not a bundle").unwrap();
    std::fs::rename(&bad, repo.path().join("credit-risk-1.1.0.ferry")).unwrap();
    s.signal("-HUP");
    let until = Instant::now() + Duration::from_secs(30);
    while !s.log().contains("\"still_serving\":\"credit-risk 1.1.0\"") {
        assert!(Instant::now() < until, "no refusal logged: {}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = s.post_json("/v2/models/credit-risk/infer", &infer_body(&features, 3));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["model_version"], "1.1.0");
}

use std::sync::Mutex;

/// The policy's `[trust]` decides what loads: a named bundle it refuses stops the server (exit 1); in a
/// repository, the refused bundle is skipped and the rest is served.
#[test]
fn bundles_the_policy_refuses_are_not_served() {
    let t = tempdir();
    let o = run(&[
        "keygen",
        "--private",
        t.path().join("k.key").to_str().unwrap(),
        "--public",
        t.path().join("k.pub").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let policy = t.path().join("release.toml");
    std::fs::write(&policy, "[trust]\nkeys = [\"k.pub\"]\nmin_signatures = 1\n\n[perf]\np99_ms = 250\n")
        .unwrap();
    let o = run(&[
        "serve",
        credit_risk().to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--no-grpc",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("min_signatures"), "{}", stderr(&o));

    let repo = t.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let signed = repo.join("signed.ferry");
    std::fs::copy(credit_risk(), &signed).unwrap();
    let o = run(&["sign", signed.to_str().unwrap(), "--key", t.path().join("k.key").to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let unsigned = repo.join("unsigned.ferry");
    credit_risk_version("2.0.0", &unsigned);
    let s = Server::start(&[repo.to_str().unwrap(), "--policy", policy.to_str().unwrap()]);
    assert_eq!(s.get("/v2/models/credit-risk").json()["versions"], json!(["1.0.0"]));
    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    assert!(
        metrics.contains("ferry_model_refusals_total{file=") && metrics.contains("unsigned.ferry\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ferry_latency_budget_seconds{quantile=\"0.99\"} 0.25"), "{metrics}");
    assert!(s.log().contains("min_signatures"), "{}", s.log());
}

/// Records in, decisions out, for a bundle with feature transforms: the same decisions `ferry run
/// --records` gives.
#[test]
fn records_go_through_the_transforms() {
    let t = tempdir();
    let b = t.path().join("credit.ferry");
    pack(&fixture("credit-application"), &b);
    let s = Server::start(&[b.to_str().unwrap(), credit_risk().to_str().unwrap()]);
    let golden = fixture("credit-application").join("golden");
    let records: Vec<Value> = std::fs::read_to_string(golden.join("applications.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let r =
        s.post_json("/v2/models/credit-application/records", &json!({"id": "batch-7", "records": records}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["id"], "batch-7");
    let want: Vec<Value> = std::fs::read_to_string(golden.join("applications.decisions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v["decisions"], json!(want));
    // A record the records schema refuses names it; a bundle without transforms says where to go.
    let r =
        s.post_json("/v2/models/credit-application/records", &json!({"records": [records[0].clone(), 7]}));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("record 1"), "{}", r.json());
    let r = s.post_json("/v2/models/credit-risk/records", &json!({"records": []}));
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("/infer"));
}

/// SIGTERM: the server stops taking connections, answers what it has, and exits 0.
#[test]
fn sigterm_drains_and_exits_cleanly() {
    let mut s = Server::start(&[credit_risk().to_str().unwrap()]);
    let (features, _) = edge_golden();
    assert_eq!(s.post_json("/v2/models/credit-risk/infer", &infer_body(&features, 3)).status, 200);
    s.signal("-TERM");
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < until, "ferry serve did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{}", s.log());
    assert!(s.log().contains("draining"), "{}", s.log());
}

/// Killed mid-load and restarted on the same port: clients see connection errors, never a wrong answer.
#[test]
fn a_killed_server_gives_connection_errors_never_wrong_answers() {
    let mut s = Server::start(&[credit_risk().to_str().unwrap()]);
    let rest = s.rest;
    let (features, want) = edge_golden();
    let body = infer_body(&features, 3).to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, errors, body, want) =
                (stop.clone(), ok.clone(), errors.clone(), body.clone(), want.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match try_http(rest, "POST", "/v2/models/credit-risk/infer", &[], body.as_bytes()) {
                        Ok(r) => {
                            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                            assert_close(&probabilities(&r.json()), &want);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    s.signal("-KILL");
    let _ = s.child.wait();
    std::thread::sleep(Duration::from_millis(200));
    let before = ok.load(Ordering::Relaxed);
    let restarted = Server::try_start(&[credit_risk().to_str().unwrap()], &rest.to_string()).unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while ok.load(Ordering::Relaxed) <= before + 20 {
        assert!(Instant::now() < until, "no answers after the restart");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for h in load {
        h.join().unwrap();
    }
    assert!(errors.load(Ordering::Relaxed) > 0, "the kill went unnoticed");
    drop(restarted);
}

/// `tritonclient`, the client everyone has, runs every fixture model over REST (JSON and binary) and
/// gRPC and gets the golden outputs.
#[test]
fn tritonclient_gets_the_goldens_over_rest_and_grpc() {
    if !python_has("tritonclient.http, tritonclient.grpc") {
        eprintln!("skipped: tritonclient is not installed (pip install 'tritonclient[http,grpc]')");
        return;
    }
    let t = tempdir();
    let mut args = Vec::new();
    for f in ["credit-risk", "iris-classifier", "text-embedding"] {
        let b = t.path().join(format!("{f}.ferry"));
        pack(&fixture(f), &b);
        args.push(b.to_str().unwrap().to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(&args);
    let script = root().join("tests/e2e/data/serve_tritonclient.py");
    let o = Command::new("python3")
        .arg(&script)
        .args([
            s.rest.to_string(),
            s.grpc.unwrap().to_string(),
            root().join("fixtures").to_str().unwrap().to_owned(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}\nserver log:\n{}", stdout(&o), stderr(&o), s.log());
    let out = stdout(&o);
    assert!(out.contains("checked 12 golden answers"), "{out}");
}

/// `schemathesis` drives the OIP v2 OpenAPI document against the server: no 5xx, no response that
/// breaks the schema.
#[test]
fn schemathesis_finds_no_server_error() {
    if !python_has("schemathesis") {
        eprintln!("skipped: schemathesis is not installed");
        return;
    }
    let s = Server::start(&[credit_risk().to_str().unwrap()]);
    let spec = root().join("serve/openapi/oip-v2.yaml");
    // schemathesis keeps a `.schemathesis/` cache in its working directory: a temporary one.
    let cwd = tempdir();
    let o = Command::new("python3")
        .current_dir(cwd.path())
        .args([
            "-m",
            "schemathesis.cli",
            "run",
            spec.to_str().unwrap(),
            "--url",
            &format!("http://{}", s.rest),
        ])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
        ])
        .args(["--max-examples", "60", "--seed", "1", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}\nserver log:\n{}", stdout(&o), stderr(&o), s.log());
}

/// `--tls-cert/--tls-key`: both listeners speak TLS (REST checked with curl, gRPC with tritonclient when
/// installed); plain HTTP to the TLS port gets nothing; a key that does not go with the certificate is
/// refused at start-up (exit 2).
#[test]
fn tls_on_both_listeners() {
    if Command::new("openssl").arg("version").output().is_err()
        || Command::new("curl").arg("--version").output().is_err()
    {
        eprintln!("skipped: needs openssl and curl");
        return;
    }
    let t = tempdir();
    let (cert, key) = (t.path().join("cert.pem"), t.path().join("key.pem"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-keyout", key.to_str().unwrap(), "-out", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let s = Server::start(&[
        credit_risk().to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let (features, want) = edge_golden();
    let o = Command::new("curl")
        .args(["-sS", "--cacert", cert.to_str().unwrap(), "-d", &infer_body(&features, 3).to_string()])
        .arg(format!("https://{}/v2/models/credit-risk/infer", s.rest))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_close(&probabilities(&serde_json::from_slice(&o.stdout).unwrap()), &want);
    // Plain HTTP to the TLS port: no answer that parses as HTTP.
    assert!(try_http(s.rest, "GET", "/v2/health/live", &[], b"").is_err());
    assert_eq!(s.tls_live_status(&cert), 200);
    if python_has("tritonclient.grpc") {
        let script = format!(
            "import tritonclient.grpc as g\nc = g.InferenceServerClient(url='{}', ssl=True, root_certificates='{}')\nassert c.is_server_ready() and c.is_model_ready('credit-risk')\nprint('grpc tls ok')",
            s.grpc.unwrap(),
            cert.display()
        );
        let o = Command::new("python3").args(["-c", &script]).output().unwrap();
        assert!(stdout(&o).contains("grpc tls ok"), "{}{}", stdout(&o), stderr(&o));
    }
    // A key from another pair.
    let other = t.path().join("other.pem");
    let o = Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = run(&[
        "serve",
        credit_risk().to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        other.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--no-grpc",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("does not go with the certificate"), "{}", stderr(&o));
}

/// Without SIGHUP: the directory is polled, and a bundle copied in piece by piece (each piece sooner than
/// the next poll) is loaded only once it has stopped changing, never opened half-written.
#[test]
fn polling_loads_a_bundle_once_it_stops_changing() {
    let repo = tempdir();
    std::fs::copy(credit_risk(), repo.path().join("a.ferry")).unwrap();
    let s = Server::start(&[repo.path().to_str().unwrap(), "--poll-seconds", "1"]);
    let staging = tempdir();
    credit_risk_version("1.2.0", &staging.path().join("v.ferry"));
    let bytes = std::fs::read(staging.path().join("v.ferry")).unwrap();
    // Written in place, in four pieces 300 ms apart: each poll sees it changed until it is whole.
    let target = repo.path().join("b.ferry");
    let mut f = std::fs::File::create(&target).unwrap();
    for chunk in bytes.chunks(bytes.len().div_ceil(4)) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(f);
    let until = Instant::now() + Duration::from_secs(20);
    while latest_version(&s) != "1.2.0" {
        assert!(Instant::now() < until, "1.2.0 never loaded: {}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // No refusal was logged for the half-written file.
    assert!(!s.log().contains("bundle refused"), "{}", s.log());
}

/// Request memory is reserved before a body is read: a client that declares a body and trickles it holds
/// its reservation (for the model's deadline at most, then 408), and once the bound is held, others get
/// 503 with Retry-After instead of the server growing; a bound too small for one request is refused at
/// start-up.
#[test]
fn request_memory_is_bounded_before_it_is_read() {
    let t = tempdir();
    let config = t.path().join("serve.toml");
    std::fs::write(&config, "[defaults]\ndeadline_ms = 2000\n").unwrap();
    // Exactly one largest JSON request fits (1,000 bytes x 33).
    let s = Server::start(&[
        credit_risk().to_str().unwrap(),
        "--max-body",
        "1000",
        "--max-inflight-bytes",
        "33000",
        "--config",
        config.to_str().unwrap(),
    ]);
    let mut slow = TcpStream::connect(s.rest).unwrap();
    slow.write_all(b"POST /v2/models/credit-risk/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (features, _) = edge_golden();
    let r = s.post_json("/v2/models/credit-risk/infer", &infer_body(&features[..14], 1));
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"].as_str().unwrap().contains("in flight"), "{}", r.json());
    // The body never comes: after the deadline the server answers 408 and lets the memory go.
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let answer = parse_response(&answer).unwrap_or_else(|| panic!("no answer: {answer:?}"));
    assert_eq!(answer.status, 408, "{}", String::from_utf8_lossy(&answer.body));
    drop(slow);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.post_json("/v2/models/credit-risk/infer", &infer_body(&features[..14], 1));
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < until, "the reservation was never given back: {}", r.status);
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = run(&[
        "serve",
        credit_risk().to_str().unwrap(),
        "--max-body",
        "1000",
        "--max-inflight-bytes",
        "1000",
        "--listen",
        "127.0.0.1:0",
        "--no-grpc",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("must hold one largest JSON request"), "{}", stderr(&o));
}

/// Rows of a sample CSV as `[rows × 14]` float features (empty cells as NaN, then 0 where the contract
/// does not allow a null: months_since_last_delinquency is the one nullable feature).
fn sample_rows(csv: &Path, rows: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(csv).unwrap();
    text.lines()
        .skip(1)
        .take(rows)
        .flat_map(|l| l.split(',').map(|c| c.parse::<f64>().unwrap_or(f64::NAN)).collect::<Vec<_>>())
        .collect()
}

/// The streaming profile over serve's window: a shifted stream shows on `/metrics` and on
/// `GET /v2/models/{m}/drift` naming the feature; refusals and null shares are exported per feature;
/// a model without a reference and an unknown model are 404s.
#[test]
fn serve_reports_drift_and_refusals_over_its_window() {
    let dir = tempdir();
    let bundle = dir.path().join("credit-drift.ferry");
    pack(&fixture("credit-drift"), &bundle);
    let s =
        Server::start(&[bundle.to_str().unwrap(), credit_risk().to_str().unwrap(), "--drift-window", "60"]);
    // Traffic: 400 applicants with their income shifted, in batches of 20.
    let shifted = sample_rows(&fixture("credit-drift").join("samples/income_shift.csv"), 400);
    for chunk in shifted.chunks(14 * 20) {
        let body = json!({"inputs": [{"name": "features", "shape": [chunk.len() / 14, 14], "datatype": "FP32",
            "data": chunk.iter().map(|v| if v.is_nan() { Value::Null } else { json!(v) }).collect::<Vec<_>>()}]});
        let r = s.post_json("/v2/models/credit-drift/infer", &body);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    // One refused request: age out of range.
    let mut bad = shifted[..14].to_vec();
    bad[0] = 130.0;
    let r = s.post_json(
        "/v2/models/credit-drift/infer",
        &json!({"inputs": [{"name": "features", "shape": [1, 14], "datatype": "FP32",
        "data": bad.iter().map(|v| if v.is_nan() { Value::Null } else { json!(v) }).collect::<Vec<_>>()}]}),
    );
    assert_eq!(r.status, 400);

    let report = s.get("/v2/models/credit-drift/drift");
    assert_eq!(report.status, 200, "{}", String::from_utf8_lossy(&report.body));
    let report = report.json();
    assert_eq!(report["requests"], 21, "{report}");
    assert_eq!(report["refused"], 1);
    assert_eq!(report["refusals"][0]["feature"], "age");
    assert_eq!(report["refusals"][0]["rule"], "max");
    assert_eq!(report["drifted"], true);
    let income =
        report["features"].as_array().unwrap().iter().find(|c| c["name"] == "annual_income").unwrap();
    assert_eq!(income["decision"], "drift", "{income}");
    assert_eq!(income["count"], 400);
    let age = report["features"].as_array().unwrap().iter().find(|c| c["name"] == "age").unwrap();
    assert_ne!(age["decision"], "drift", "{age}");
    assert!(report["state_bytes"].as_u64().unwrap() < 4096, "{report}");
    assert_eq!(s.get("/v2/models/credit-drift/versions/1.0.0/drift").status, 200);

    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    let value = |prefix: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(
        value("ferry_feature_drift_psi{model=\"credit-drift\",version=\"1.0.0\",feature=\"annual_income\"}")
            > 0.25
    );
    assert!(
        value("ferry_feature_drift_psi{model=\"credit-drift\",version=\"1.0.0\",feature=\"age\"}") < 0.25
    );
    assert!(
        value("ferry_prediction_drift_psi{model=\"credit-drift\",version=\"1.0.0\",output=\"probability\"}")
            > 0.0
    );
    let nulls = value(
        "ferry_feature_null_share{model=\"credit-drift\",version=\"1.0.0\",feature=\"months_since_last_delinquency\"}",
    );
    assert!(nulls > 0.3 && nulls < 0.7, "{nulls}");
    let share = value(
        "ferry_contract_refusal_share{model=\"credit-drift\",version=\"1.0.0\",input=\"features\",feature=\"age\",rule=\"max\"}",
    );
    assert!((share - 1.0 / 21.0).abs() < 1e-9, "{share}");
    assert_eq!(value("ferry_drift_window_requests{model=\"credit-drift\",version=\"1.0.0\"}"), 21.0);
    // credit-risk has no reference: no drift series of its own, and its /drift is a 404 that says why.
    assert!(!metrics.contains("model=\"credit-risk\",version=\"1.0.0\",feature="), "{metrics}");
    let r = s.get("/v2/models/credit-risk/drift");
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("has no reference profile"));
    assert_eq!(s.get("/v2/models/nope/drift").status, 404);
}
