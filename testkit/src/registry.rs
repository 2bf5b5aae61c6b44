//! A registry that serves one bundle's objects over loopback HTTP, with a hook to answer any request
//! otherwise: the hostile registry of the push/pull tests (an oversized manifest, a blob of the wrong
//! digest, a transfer that stalls, a token dance). The real registry the interoperability tests use is
//! Debian's `docker-registry`; this one exists to misbehave.

use ferry_bundle::Bundle;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lowercase.
    pub headers: BTreeMap<String, String>,
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, headers and body (Content-Length set from the body unless a header gives one).
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// Headers declaring `declared` bytes, then `body`, then silence until the client goes away.
    Stall(u16, u64, Vec<u8>),
    /// A body with no length (closed when done), `len` bytes of `byte`.
    Endless(u64, u8),
}

pub type Hook = dyn Fn(&Request) -> Option<Reply> + Send + Sync;

/// The server: serves until dropped.
pub struct FakeRegistry {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl std::fmt::Debug for FakeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRegistry").field("port", &self.port).finish()
    }
}

impl FakeRegistry {
    /// Serves `bundle` as `<repo>:<tag>` (no referrers API: its referrers under the fallback tag), each
    /// request first offered to `hook`.
    pub fn serve(bundle: Option<&Path>, repo: &str, tag: &str, hook: Box<Hook>) -> FakeRegistry {
        let mut objects: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
        if let Some(path) = bundle {
            let b = Bundle::open(path).unwrap();
            let digest = b.manifest_digest().to_owned();
            let manifest = b.blob(&digest).unwrap().to_vec();
            let oci = "application/vnd.oci.image.manifest.v1+json".to_owned();
            objects.insert(format!("/v2/{repo}/manifests/{tag}"), (oci.clone(), manifest.clone()));
            objects.insert(format!("/v2/{repo}/manifests/{digest}"), (oci.clone(), manifest));
            for d in b.stored_blob_order() {
                let bytes = b.blob(&d).unwrap().to_vec();
                objects.insert(
                    format!("/v2/{repo}/blobs/{d}"),
                    ("application/octet-stream".into(), bytes.clone()),
                );
                objects.insert(format!("/v2/{repo}/manifests/{d}"), (oci.clone(), bytes));
            }
            let manifests: Vec<serde_json::Value> = b
                .referrers()
                .iter()
                .map(|r| {
                    let size = b.blob(&r.digest).unwrap().len();
                    serde_json::json!({"mediaType": oci, "digest": r.digest, "size": size, "artifactType": r.artifact_type})
                })
                .collect();
            let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
            objects.insert(
                format!("/v2/{repo}/manifests/{}", digest.replacen(':', "-", 1)),
                ("application/vnd.oci.image.index.v1+json".into(), serde_json::to_vec(&index).unwrap()),
            );
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let hook: Arc<Hook> = Arc::from(hook);
        let objects = Arc::new(objects);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (hook, objects, log) = (hook.clone(), objects.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &*hook, &objects, &log);
                });
            }
        });
        FakeRegistry { port, requests }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn handle(
    stream: TcpStream,
    hook: &Hook,
    objects: &BTreeMap<String, (String, Vec<u8>)>,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        if let Some(len) = headers.get("content-length").and_then(|l| l.parse::<u64>().ok()) {
            std::io::copy(&mut (&mut reader).take(len), &mut std::io::sink())?;
        }
        let req = Request { method: method.clone(), path: path.clone(), headers };
        log.lock().unwrap().push(req.clone());
        let reply = hook(&req).unwrap_or_else(|| {
            let bare = path.split('?').next().unwrap_or_default();
            match objects.get(bare) {
                Some((media, bytes)) => Reply::Full(
                    200,
                    vec![("Content-Type".into(), media.clone())],
                    if method == "HEAD" { Vec::new() } else { bytes.clone() },
                ),
                None => Reply::Full(
                    404,
                    vec![],
                    br#"{"errors":[{"code":"NOT_FOUND","message":"not here"}]}"#.to_vec(),
                ),
            }
        });
        match reply {
            Reply::Full(status, headers, body) => {
                let mut head = format!("HTTP/1.1 {status} X\r\n");
                if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
                    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
                }
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                stream.write_all(head.as_bytes())?;
                stream.write_all(&body)?;
            }
            Reply::Stall(status, declared, body) => {
                stream.write_all(
                    format!("HTTP/1.1 {status} X\r\nContent-Length: {declared}\r\n\r\n").as_bytes(),
                )?;
                stream.write_all(&body)?;
                stream.flush()?;
                // Hold the connection open until the client goes away.
                let mut sink = [0u8; 1];
                let _ = reader.read(&mut sink);
                return Ok(());
            }
            Reply::Endless(len, byte) => {
                stream.write_all(b"HTTP/1.1 200 X\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n")?;
                let chunk = vec![byte; 64 << 10];
                let mut left = len;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    stream.write_all(&chunk[..n])?;
                    left -= n as u64;
                }
                return Ok(());
            }
        }
    }
}
