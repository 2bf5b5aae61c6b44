//! A bundle as the OCI objects a registry holds (manifests and blobs), and back.
//!
//! A registry stores a bundle's blobs and manifests but not the order of its members: [`blob_order`] is
//! the one order Ferry's writer lays them out in, so a bundle pushed to a registry and pulled back with
//! [`LayoutWriter`] is the same file, byte for byte, and [`canonical_index`] is the `index.json` the
//! reader demands.

use crate::BundleError;
use crate::digest::Sha256;
use crate::oci::{Descriptor, ImageManifest, Index};
use crate::reader::Bundle;
use crate::tar::{self, Kind};
use crate::writer::TarOut;
use ferry_spec::media;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The directory of generated files (provenance, SBOM): the writer stores them after the others.
const GENERATED_DIR: &str = ".ferry/";

/// Every blob of a bundle, once each, in the order Ferry's writer stores them: the file blobs in path
/// order (the generated `.ferry/` files after the rest, as `pack` writes them once the others are
/// known), the Ferry manifest, the bundle's OCI manifest, then for each referrer in index order its
/// config, its layers and its manifest.
///
/// `bundle` is the bundle manifest's descriptor; `referrers` pairs each referrer manifest's descriptor
/// with the manifest.
pub fn blob_order(
    bundle: &Descriptor,
    image: &ImageManifest,
    referrers: &[(Descriptor, ImageManifest)],
) -> Vec<Descriptor> {
    let generated =
        |d: &Descriptor| d.annotations.get(media::TITLE).is_some_and(|t| t.starts_with(GENERATED_DIR));
    let mut order = Vec::new();
    order.extend(image.layers.iter().filter(|d| !generated(d)).cloned());
    order.extend(image.layers.iter().filter(|d| generated(d)).cloned());
    order.push(image.config.clone());
    order.push(bundle.clone());
    for (desc, m) in referrers {
        order.push(m.config.clone());
        order.extend(m.layers.iter().cloned());
        order.push(desc.clone());
    }
    let mut seen = HashSet::new();
    order.retain(|d| seen.insert(d.digest.clone()));
    order
}

/// The `index.json` of a bundle whose manifest is `bundle` (of model version `version`) with these
/// referrers, in this order: exactly what the writer produces and the reader accepts.
pub fn canonical_index(
    bundle: &Descriptor,
    version: &str,
    referrers: &[(Descriptor, ImageManifest)],
) -> Index {
    let entry = |digest: &str, size: u64, artifact_type: Option<String>| Descriptor {
        media_type: media::OCI_MANIFEST.to_owned(),
        digest: digest.to_owned(),
        size,
        artifact_type,
        annotations: BTreeMap::new(),
    };
    let mut first = entry(&bundle.digest, bundle.size, Some(media::ARTIFACT_TYPE.to_owned()));
    first.annotations.insert(media::REF_NAME.to_owned(), version.to_owned());
    let mut manifests = vec![first];
    for (desc, m) in referrers {
        manifests.push(entry(&desc.digest, desc.size, m.artifact_type.clone()));
    }
    Index { schema_version: 2, media_type: Some(media::OCI_INDEX.to_owned()), manifests }
}

/// Writes a bundle blob by blob from streams, as a pull from a registry does.
///
/// Each blob is hashed as it is written and must have exactly its descriptor's size and digest;
/// [`LayoutWriter::finish`] checks the whole file as [`Bundle::open`] does before it gets its name. An
/// error, or dropping the writer, leaves nothing at the output path (the file is `ferry-atomic`'s).
pub struct LayoutWriter {
    t: TarOut,
    out: PathBuf,
}

impl std::fmt::Debug for LayoutWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayoutWriter").field("out", &self.out).finish()
    }
}

impl LayoutWriter {
    /// Starts a bundle that will appear at `out`.
    pub fn create(out: &Path) -> Result<LayoutWriter, BundleError> {
        Ok(LayoutWriter { t: TarOut::create(out)?, out: out.to_path_buf() })
    }

    /// Whether a blob with this digest is already written.
    pub fn contains(&self, digest: &str) -> bool {
        self.t.has_blob(digest)
    }

    /// Streams the blob `desc` from `input`: refused, naming the blob, when `input` gives more or fewer
    /// than `desc.size` bytes or bytes of another digest. `what` names the source in read errors (a URL).
    pub fn blob(&mut self, desc: &Descriptor, input: &mut dyn Read, what: &str) -> Result<(), BundleError> {
        let hex = crate::oci::sha256_hex(&desc.digest)
            .ok_or_else(|| BundleError::Layout(format!("malformed digest `{}`", desc.digest)))?;
        if self.t.has_blob(&desc.digest) {
            return Ok(());
        }
        let header = tar::header(&format!("blobs/sha256/{hex}"), desc.size, Kind::File)?;
        self.t.write_raw(&header)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = desc.size;
        let source = |e: std::io::Error| BundleError::Source { what: what.to_owned(), source: e };
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let n = read_some(input, &mut buf[..want]).map_err(source)?;
            if n == 0 {
                return Err(BundleError::Layout(format!(
                    "blob {} ended after {} bytes, its descriptor declares {}",
                    desc.digest,
                    desc.size - left,
                    desc.size
                )));
            }
            hasher.update(&buf[..n]);
            self.t.write_raw(&buf[..n])?;
            left -= n as u64;
        }
        if read_some(input, &mut buf[..1]).map_err(source)? != 0 {
            return Err(BundleError::Layout(format!(
                "blob {} is longer than the {} bytes its descriptor declares",
                desc.digest, desc.size
            )));
        }
        let actual = ferry_digest::Sha256Digest::from(hasher.finalize()).to_string();
        if actual != desc.digest {
            return Err(BundleError::Digest {
                what: format!("blob {}", desc.digest),
                expected: desc.digest.clone(),
                actual,
            });
        }
        self.t.pad_raw(desc.size)?;
        self.t.note_blob(&desc.digest);
        Ok(())
    }

    /// Writes `index`, checks the file as [`Bundle::open`] does (a file it would refuse never gets its
    /// name), gives it its name and returns it opened.
    pub fn finish(self, index: &Index) -> Result<Bundle, BundleError> {
        let out = self.out;
        self.t.finish_checked(index, |file| Bundle::from_open_file(file, &out))
    }
}

fn read_some(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
