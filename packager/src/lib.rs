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
pub mod reference;
mod source;
mod source_file;
#[doc(hidden)]
pub mod synthetic;
pub mod transform;

pub use error::PackError;
pub use ferry_bundle::Written as Packed;
pub use init::{InitOptions, Reference, init, init_with};
pub use reference::{ReferenceSample, Runner, SourceModel};
pub use source::{LoadedSource, load, load_with};

use ferry_bundle::{FileData, FileSource, Opener};
use ferry_spec::{FERRY_VERSION, FORMAT_VERSION, Manifest, ModelMeta, ONNXRUNTIME_SUPPORTED, Pins};
use std::path::Path;

/// Validates the source in `src` and writes its bundle to `out` (through a temporary file renamed into
/// place: a failed or interrupted pack leaves no partial output). A source with a reference sample
/// (`[reference]`) needs [`pack_with`] and a [`Runner`].
pub fn pack(src: &Path, out: &Path) -> Result<Packed, PackError> {
    pack_with(src, out, &PackOptions::default())
}

/// What [`pack_with`] needs besides the source.
#[derive(Default)]
pub struct PackOptions<'a> {
    /// A reference sample from outside the source (`ferry pack --reference FILE`), in place of
    /// `[reference] data`.
    pub reference: Option<std::path::PathBuf>,
    /// Runs the model on the reference sample, for the profile's predictions.
    pub runner: Option<&'a Runner<'a>>,
}

impl std::fmt::Debug for PackOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackOptions")
            .field("reference", &self.reference)
            .field("runner", &self.runner.map(|_| "…"))
            .finish()
    }
}

/// [`pack`], with a reference sample from outside the source and a model runner for its profile.
pub fn pack_with(src: &Path, out: &Path, options: &PackOptions<'_>) -> Result<Packed, PackError> {
    let loaded = load_with(src, options.reference.as_deref())?;
    pack_loaded_with(&loaded, out, options.runner)
}

/// Writes the bundle of an already validated source.
pub fn pack_loaded(loaded: &LoadedSource, out: &Path) -> Result<Packed, PackError> {
    pack_loaded_with(loaded, out, None)
}

/// Writes the bundle of an already validated source, profiling its reference sample with `runner`.
pub fn pack_loaded_with(
    loaded: &LoadedSource,
    out: &Path,
    runner: Option<&Runner<'_>>,
) -> Result<Packed, PackError> {
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
    let mut files = files;
    let mut template = manifest_for(loaded);
    if let Some(sample) = &loaded.reference {
        let (bytes, reference) = reference::profile(loaded, sample, runner)?;
        files.push(FileSource { path: reference.profile.clone(), data: FileData::Memory(bytes) });
        files.sort_by(|a, b| a.path.cmp(&b.path));
        template.reference = Some(reference);
    }
    let template = template;
    let source = provenance::source_repo_from_env();
    // Source signatures are known by content before the bundle exists, so the provenance can name them.
    let source_signatures: Vec<provenance::SourceSignature> = loaded
        .signatures
        .iter()
        .filter(|(_, blob)| ferry_sign_is_source(blob))
        .filter_map(|(name, blob)| {
            ferry_trust::source_signature_summary(blob).map(|(sha256, signer, resources)| {
                provenance::SourceSignature { file: name.clone(), sha256, signer, resources }
            })
        })
        .collect();
    let generate = |entries: &[ferry_spec::FileEntry]| {
        let mut m = template.clone();
        m.files = entries.to_vec();
        provenance::generated_files(&m, source.as_ref(), &source_signatures)
            .map_err(|e| PackError::Bundle(ferry_bundle::BundleError::Encode(e.to_string())))
    };
    ferry_bundle::write_bundle_with(out, files, template.clone(), generate, |digest, manifest| {
        // Signatures and attestations found in the source (an unpacked bundle's, or a producer's
        // `model.sig`) are kept, each classified by content; one that no longer fits fails the pack.
        let config = ferry_spec::to_canonical_json(manifest)
            .map_err(|e| ferry_bundle::BundleError::Encode(e.to_string()))?;
        let config_digest = ferry_bundle::digest::Sha256Digest::of(&config).to_string();
        let target =
            ferry_trust::PackTarget { manifest, config_digest: &config_digest, manifest_digest: digest };
        let mut referrers = Vec::new();
        for (name, blob) in &loaded.signatures {
            let referrer = ferry_trust::kept_referrer(name, blob.clone(), target)
                .map_err(|e| PackError::Source { path: loaded.dir.join(name), message: e.to_string() })?;
            referrers.push(referrer);
        }
        Ok(referrers)
    })
}

fn ferry_sign_is_source(blob: &[u8]) -> bool {
    ferry_trust::parse_signature(blob).is_some_and(|p| ferry_trust::is_source_signature(&p))
}

/// The Ferry manifest of a source, with `files` left for the writer to fill in.
pub fn manifest_for(loaded: &LoadedSource) -> Manifest {
    let s = &loaded.source;
    let mut pins = loaded.model.pins();
    pins.external_data =
        pins.external_data.iter().map(|loc| ferry_spec::external_data_path(&s.model.onnx, loc)).collect();
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
        transform: loaded.transform.clone(),
        devices: s.devices.clone(),
        reference: None,
    }
}
