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
    Ok(ferry_bundle::write_bundle(out, files, manifest_for(loaded), &[])?)
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
