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
pub mod provenance;
mod source;
mod source_file;
#[doc(hidden)]
pub mod synthetic;

pub use error::PackError;
pub use ferry_bundle::Written as Packed;
pub use init::init;
pub use source::{LoadedSource, load};

use ferry_bundle::{FileData, FileSource, Opener};
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
    // Each file is opened again when it is written, the same safe way as at load: what is packed is a
    // regular file below the source directory even if the source changed in between.
    let files: Vec<FileSource> = loaded
        .files
        .iter()
        .map(|(path, disk)| {
            let (root, rel) = (loaded.dir.clone(), path.clone());
            let open = move || source_file::open(&root, &rel).map(|(file, _)| file).map_err(|r| r.into_io());
            FileSource {
                path: path.clone(),
                data: FileData::Open { path: disk.clone(), open: Opener(std::sync::Arc::new(open)) },
            }
        })
        .collect();
    let source = provenance::source_repo_from_env();
    let template = manifest_for(loaded);
    let generate = |entries: &[ferry_spec::FileEntry]| {
        let mut m = template.clone();
        m.files = entries.to_vec();
        provenance::generated_files(&m, source.as_ref())
            .map_err(|e| PackError::Bundle(ferry_bundle::BundleError::Encode(e.to_string())))
    };
    ferry_bundle::write_bundle_with(out, files, template.clone(), generate, |_digest, manifest| {
        let mut referrers = Vec::new();
        // A `model.sig` beside ferry.toml (as `ferry unpack` writes it) is kept when it covers exactly
        // the new file view, so a signed bundle survives unpack and repack byte for byte.
        if let Some(sig) = &loaded.signature {
            let view: Vec<(String, [u8; 32])> = manifest
                .files
                .iter()
                .filter_map(|f| {
                    let mut d = [0u8; 32];
                    hex::decode_to_slice(&f.sha256, &mut d).ok().map(|()| (f.path.clone(), d))
                })
                .collect();
            let referrer =
                ferry_trust::signature_referrer(sig.clone(), &view).map_err(|e| PackError::Source {
                    path: loaded.dir.join(ferry_trust::SIGNATURE_FILE),
                    message: format!("{e}; remove it to pack without the signature"),
                })?;
            referrers.push(referrer);
        }
        Ok(referrers)
    })
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
