//! `rebuild.identical`: pack the source again and compare. A family of one: the only check that reads
//! something besides the bundle (a source directory, `--rebuild`) and runs the packager.

use super::plural;
use crate::{Evidence, Outcome, VerifyError};
use ferry_bundle::Bundle;
use std::io::Read;
use std::path::Path;

/// The source must be a directory with a `ferry.toml`; anything else is a usage error, not a finding.
pub(crate) fn check_source(src: &Path) -> Result<(), VerifyError> {
    let err = |message: &str| VerifyError::Rebuild { path: src.to_path_buf(), message: message.into() };
    match std::fs::metadata(src) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(err("not a directory")),
        Err(e) => return Err(VerifyError::Rebuild { path: src.to_path_buf(), message: e.to_string() }),
    }
    if !src.join(ferry_spec::media::SOURCE_FILE).is_file() {
        return Err(err("has no ferry.toml"));
    }
    Ok(())
}

/// Packs `src` into a temporary file and compares it with the bundle at `path`. The bytes must be
/// identical, except that a bundle signed after packing (referrers added) passes when its bundle manifest
/// digest, which the signatures cover, is the rebuilt one's.
pub(super) fn check(path: &Path, bundle: Option<&Bundle>, src: Option<&Path>) -> Outcome {
    let Some(src) = src else { return Outcome::skipped("skipped: no --rebuild source given") };
    // A scratch directory in the system's temporary directory, never committed: removed when dropped,
    // and, if this process is killed, by the next atomic write there (`ferry_atomic`).
    let dir = match ferry_atomic::AtomicDir::create(&std::env::temp_dir().join("ferry-rebuild")) {
        Ok(d) => d,
        Err(e) => return error(format!("cannot create a temporary directory: {e}")),
    };
    let out = dir.path().join("rebuilt.ferry");
    // A reference profile's predictions come from the model run on the sample, as `ferry pack` runs it.
    let runner = |m: &ferry_packager::SourceModel<'_>, batch: &ferry_tensor::TensorMap| {
        let rt = ferry_runtime::Runtime::new(ferry_runtime::RuntimeOptions::default())
            .map_err(|e| e.to_string())?;
        rt.run_onnx(m.onnx.clone(), m.external.clone(), m.inputs.to_vec(), m.outputs.to_vec(), batch)
            .map_err(|e| e.to_string())
    };
    let options = ferry_packager::PackOptions { reference: None, runner: Some(&runner) };
    let packed = match ferry_packager::pack_with(src, &out, &options) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::failed(
                format!("packing `{}` again failed", src.display()),
                vec![Evidence::Error { message: e.to_string() }],
            );
        }
    };
    let first_difference = match first_difference(path, &out) {
        Ok(d) => d,
        Err(e) => return error(e),
    };
    let Some(offset) = first_difference else {
        return Outcome::passed(format!(
            "packing `{}` again gives identical bytes ({})",
            src.display(),
            packed.manifest_digest
        ));
    };
    let Some(b) = bundle else {
        return Outcome::failed(
            "the rebuilt bundle differs",
            vec![Evidence::Rebuild {
                file: None,
                expected: "the verified bundle".into(),
                actual: packed.manifest_digest,
                offset: Some(offset),
                message: "the archives differ".into(),
            }],
        );
    };
    if b.manifest_digest() == packed.manifest_digest && !b.referrers().is_empty() {
        let n = b.referrers().len();
        return Outcome::passed(format!(
            "packing `{}` again gives the same bundle manifest ({}); the bundle adds {n} referrer{} (signatures, attestations)",
            src.display(),
            packed.manifest_digest,
            plural(n)
        ));
    }
    let mut evidence = vec![Evidence::Rebuild {
        file: None,
        expected: b.manifest_digest().to_owned(),
        actual: packed.manifest_digest.clone(),
        offset: Some(offset),
        message: "the archives differ".into(),
    }];
    let ours = &b.manifest().files;
    let theirs = &packed.manifest.files;
    let mut paths: Vec<&str> = ours.iter().chain(theirs).map(|f| f.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    for p in paths {
        let digest = |files: &[ferry_spec::FileEntry]| {
            files.iter().find(|f| f.path == p).map_or_else(
                || "-".to_owned(),
                |f| format!("{}{}", ferry_bundle::digest::SHA256_PREFIX, f.sha256),
            )
        };
        let (e, a) = (digest(ours), digest(theirs));
        if e != a {
            let message = match (e.as_str(), a.as_str()) {
                ("-", _) => "only in the rebuilt bundle",
                (_, "-") => "only in the verified bundle",
                _ => "content differs",
            };
            evidence.push(Evidence::Rebuild {
                file: Some(p.into()),
                expected: e,
                actual: a,
                offset: None,
                message: message.into(),
            });
        }
    }
    if evidence.len() == 1 && b.manifest() != &packed.manifest {
        evidence.push(Evidence::Rebuild {
            file: None,
            expected: b.manifest_digest().to_owned(),
            actual: packed.manifest_digest.clone(),
            offset: None,
            message: "the Ferry manifests differ (same files; contract, pins or metadata changed)".into(),
        });
    }
    Outcome::failed(format!("packing `{}` again gives different bytes", src.display()), evidence)
}

fn error(message: String) -> Outcome {
    Outcome::failed("the rebuild could not be compared", vec![Evidence::Error { message }])
}

/// The offset of the first differing byte (the shorter length if one is a prefix of the other), or
/// `None` when the files are identical.
fn first_difference(a: &Path, b: &Path) -> Result<Option<u64>, String> {
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()));
    let (mut fa, mut fb) = (std::io::BufReader::new(open(a)?), std::io::BufReader::new(open(b)?));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| format!("{}: {e}", a.display()))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| format!("{}: {e}", b.display()))?;
        let n = na.min(nb);
        if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
            return Ok(Some(offset + i as u64));
        }
        if na != nb {
            return Ok(Some(offset + n as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += n as u64;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
