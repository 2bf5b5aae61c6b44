//! Builds deterministic Ferry bundles from a bundle source directory.
//!
//! ```no_run
//! let packed = ferry_packager::pack(std::path::Path::new("fixtures/credit-risk"), std::path::Path::new("credit-risk.ferry"))?;
//! println!("{} ({} bytes)", packed.manifest_digest, packed.size);
//! # Ok::<(), ferry_packager::PackError>(())
//! ```
//!
//! The output depends only on the source's content: paths, mtimes, permissions, file creation order,
//! umask, time zone, locale and thread count never reach the bundle.

mod error;
mod init;
mod source;

pub use error::PackError;
pub use ferry_bundle::Written as Packed;
pub use init::init;
pub use source::{LoadedSource, load};

use ferry_bundle::{FileData, FileSource};
use ferry_spec::{FERRY_VERSION, FORMAT_VERSION, Manifest, ModelMeta, ONNXRUNTIME_SUPPORTED, Pins};
use std::path::Path;

/// Validates the source in `src` and writes its bundle to `out` (through a temporary file renamed into
/// place: a failed or interrupted pack leaves no partial output).
pub fn pack(src: &Path, out: &Path) -> Result<Packed, PackError> {
    let loaded = load(src)?;
    pack_loaded(&loaded, out)
}

/// Writes the bundle of an already validated source.
pub fn pack_loaded(loaded: &LoadedSource, out: &Path) -> Result<Packed, PackError> {
    let files: Vec<FileSource> = loaded
        .files
        .iter()
        .map(|(path, disk)| FileSource { path: path.clone(), data: FileData::Disk(disk.clone()) })
        .collect();
    let mut referrers = Vec::new();
    if let Some(sig) = &loaded.signature {
        let mut view = Vec::with_capacity(loaded.files.len());
        for (path, disk) in &loaded.files {
            view.push((path.clone(), sha256_file(disk)?));
        }
        let referrer =
            ferry_trust::signature_referrer(sig.clone(), &view).map_err(|e| PackError::Source {
                path: loaded.dir.join(ferry_trust::SIGNATURE_FILE),
                message: format!("{e}; remove it to pack without the signature"),
            })?;
        referrers.push(referrer);
    }
    Ok(ferry_bundle::write_bundle(out, files, manifest_for(loaded), &referrers)?)
}

fn sha256_file(path: &Path) -> Result<[u8; 32], PackError> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut f = std::fs::File::open(path).map_err(|e| PackError::io(path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| PackError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// The Ferry manifest of a source, with `files` left for the writer to fill in.
pub fn manifest_for(loaded: &LoadedSource) -> Manifest {
    let s = &loaded.source;
    let mut pins = loaded.model.pins();
    let onnx_dir = s.model.onnx.rsplit_once('/').map(|(d, _)| d);
    pins.external_data = pins
        .external_data
        .iter()
        .map(|loc| match onnx_dir {
            Some(d) => format!("{d}/{loc}"),
            None => loc.clone(),
        })
        .collect();
    Manifest {
        format_version: FORMAT_VERSION,
        model: ModelMeta {
            name: s.model.name.clone(),
            version: s.model.version.clone(),
            description: s.model.description.clone(),
            license: s.model.license.clone(),
        },
        entrypoint: s.model.onnx.clone(),
        files: Vec::new(),
        config: s.config.clone(),
        inputs: s.inputs.clone(),
        outputs: s.outputs.clone(),
        golden: s.golden.clone(),
        pins: Pins {
            ferry_version: FERRY_VERSION.to_owned(),
            onnxruntime: ONNXRUNTIME_SUPPORTED.to_owned(),
            onnx: pins,
        },
    }
}
