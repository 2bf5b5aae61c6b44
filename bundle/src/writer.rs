//! Writing a bundle: blobs streamed into a temporary file next to the output (`ferry-atomic`: unnamed on
//! Linux), which gets its name at the end, so an interrupted or failed pack never leaves a partial
//! `.ferry` file.

use crate::BundleError;
use crate::digest::Sha256;
use crate::oci::{self, Descriptor, ImageManifest, Index};
use crate::tar::{self, Kind};
use ferry_spec::{Compression, FileEntry, Manifest, media};
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The zstd level used for compressed files. Part of the format: changing it changes bundle bytes.
pub const ZSTD_LEVEL: i32 = 19;

/// Extensions of files stored zstd-compressed; everything else (weights, archives) is stored as is so
/// the runtime can map it without a copy.
pub const COMPRESSED_EXTENSIONS: &[&str] =
    &["json", "toml", "txt", "md", "csv", "jsonl", "yaml", "yml", "tsv"];

/// Chunk size of the hash/copy pipeline: large enough to amortise syscalls, small enough to stay in L2/L3.
const CHUNK: usize = 4 << 20;

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum FileData {
    /// Streamed from disk.
    Disk(PathBuf),
    /// Streamed from the file `open` returns when it is written: a caller that must not follow links or
    /// read special files (the packager) opens it its own way. `path` names it in errors.
    Open { path: PathBuf, open: Opener },
    /// Already in memory.
    Memory(Vec<u8>),
}

/// A caller's way of opening one file of the file view (see [`FileData::Open`]).
#[derive(Clone)]
pub struct Opener(pub std::sync::Arc<dyn Fn() -> std::io::Result<File> + Send + Sync>);

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener")
    }
}

/// One file of the file view to write.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// Path inside the bundle.
    pub path: String,
    pub data: FileData,
}

/// Whether the file at `path` is stored compressed (by extension, see [`COMPRESSED_EXTENSIONS`]).
pub fn is_compressed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((_, ext)) => COMPRESSED_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)),
        None => false,
    }
}

/// What a finished write produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Digest of the bundle's OCI manifest: the bundle's identity.
    pub manifest_digest: String,
    /// Size of the written `.ferry` file.
    pub size: u64,
    /// The Ferry manifest as written (with its `files` filled in).
    pub manifest: Manifest,
}

/// A referrer (signature, attestation) to store alongside the bundle manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The referrer manifest's `artifactType`.
    pub artifact_type: String,
    /// Media type of the single layer.
    pub media_type: String,
    /// The layer's bytes.
    pub blob: Vec<u8>,
    /// Annotations on the referrer manifest.
    pub annotations: BTreeMap<String, String>,
}

/// The output file being written, to appear as `out` when finished ([`ferry_atomic::AtomicFile`]: an
/// unnamed file on Linux, so an interrupted write leaves nothing): with `permissions`, or else those of
/// a new file (read-write for all, less the umask). Not `fsync`ed ([`TarOut::finish`]).
fn temp_beside(
    out: &Path,
    permissions: Option<std::fs::Permissions>,
) -> Result<ferry_atomic::AtomicFile, BundleError> {
    let options = ferry_atomic::Options { permissions, ..ferry_atomic::Options::default() };
    ferry_atomic::AtomicFile::create(out, options).map_err(|e| BundleError::io(out, e))
}

/// Low-level deterministic tar output into a temporary file.
pub(crate) struct TarOut {
    file: ferry_atomic::AtomicFile,
    out_path: PathBuf,
    pos: u64,
    blobs: HashSet<String>,
}

impl TarOut {
    pub(crate) fn create(out: &Path) -> Result<TarOut, BundleError> {
        let file = temp_beside(out, None)?;
        let mut t = TarOut { file, out_path: out.to_path_buf(), pos: 0, blobs: HashSet::new() };
        t.member("oci-layout", oci::LAYOUT_FILE)?;
        t.dir("blobs")?;
        t.dir("blobs/sha256")?;
        Ok(t)
    }

    /// A temporary output next to `out` that starts with the first `len` bytes of an existing bundle
    /// (every member before its `index.json`), whose blobs are `blobs`; more blobs and a new index follow.
    ///
    /// The bytes are copied by the kernel from `source` when it is given (`copy_file_range`: a clone of
    /// the extents on file systems that share them, such as XFS and Btrfs, and no trip through user
    /// space elsewhere), else written from `bytes`. `permissions`, when given, are the new file's (those
    /// of the file it replaces).
    pub(crate) fn extend(
        out: &Path,
        permissions: Option<std::fs::Permissions>,
        source: Option<&File>,
        bytes: &[u8],
        len: u64,
        blobs: HashSet<String>,
    ) -> Result<TarOut, BundleError> {
        let file = temp_beside(out, permissions)?;
        let mut t = TarOut { file, out_path: out.to_path_buf(), pos: 0, blobs };
        let copied = match source {
            Some(src) => t.copy_range(src, len)?,
            None => 0,
        };
        let rest = bytes
            .get(copied as usize..len as usize)
            .ok_or_else(|| BundleError::Layout(format!("the bundle is shorter than {len} bytes")))?;
        t.write(rest)?;
        Ok(t)
    }

    /// Copies as much of `src[..len]` as the kernel will copy file-to-file; returns how much it did.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn copy_range(&mut self, src: &File, len: u64) -> Result<u64, BundleError> {
        let mut from = 0u64;
        while from < len {
            let want = usize::try_from(len - from).unwrap_or(usize::MAX).min(1 << 30);
            match rustix::fs::copy_file_range(src, Some(&mut from), self.file.file(), None, want) {
                Ok(0) => break,
                Ok(_) => {}
                // Not supported here (old kernel, another file system, a special file): write the rest.
                Err(_) => break,
            }
        }
        // `from` is where the copy stopped; the output's position moved with it.
        self.pos = from;
        Ok(from)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn copy_range(&mut self, _src: &File, _len: u64) -> Result<u64, BundleError> {
        Ok(0)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        self.file.file_mut().write_all(bytes).map_err(|e| BundleError::io(&self.out_path, e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<(), BundleError> {
        let zeros = [0u8; 512];
        self.write(&zeros[..tar::padding(size) as usize])
    }

    fn dir(&mut self, name: &str) -> Result<(), BundleError> {
        self.write(&tar::header(&format!("{name}/"), 0, Kind::Dir)?)
    }

    fn member(&mut self, name: &str, bytes: &[u8]) -> Result<(), BundleError> {
        self.write(&tar::header(name, bytes.len() as u64, Kind::File)?)?;
        self.write(bytes)?;
        self.pad(bytes.len() as u64)
    }

    /// Stores `bytes` as a blob (once per digest) and returns its digest.
    pub(crate) fn blob(&mut self, bytes: &[u8]) -> Result<String, BundleError> {
        let digest = oci::digest_of(bytes);
        if self.blobs.insert(digest.clone()) {
            let hex = ferry_digest::strip_prefix(&digest).unwrap_or_default();
            self.member(&format!("blobs/sha256/{hex}"), bytes)?;
        }
        Ok(digest)
    }

    /// Streams a file from disk into a blob, hashing on a second thread while this one copies, so the
    /// pack costs about one pass of SHA-256 over the bytes. The header is written last, once the digest
    /// (its name) is known.
    fn blob_from_disk(&mut self, path: &Path, mut input: File) -> Result<(String, u64), BundleError> {
        let expected = input.metadata().map_err(|e| BundleError::io(path, e))?.len();
        let header_pos = self.pos;
        self.write(&[0u8; 512])?;
        let out_path = self.out_path.clone();
        let out = self.file.file_mut();
        let (to_hasher, hasher_rx) = mpsc::sync_channel::<Vec<u8>>(2);
        let (to_reader, free_rx) = mpsc::channel::<Vec<u8>>();
        let copied = std::thread::scope(|s| -> Result<(u64, [u8; 32]), BundleError> {
            let hasher = s.spawn(move || {
                let mut h = Sha256::new();
                for buf in hasher_rx {
                    h.update(&buf);
                    // The reader may have finished; a closed channel only means no more reuse.
                    let _ = to_reader.send(buf);
                }
                h.finalize()
            });
            let mut total = 0u64;
            let mut in_flight = 0usize;
            let result = loop {
                let mut buf = if in_flight < 3 {
                    in_flight += 1;
                    vec![0u8; CHUNK]
                } else {
                    match free_rx.recv() {
                        Ok(b) => b,
                        Err(_) => break Err(BundleError::Layout("hash worker stopped".into())),
                    }
                };
                buf.resize(CHUNK, 0);
                let n = match read_full(&mut input, &mut buf) {
                    Ok(n) => n,
                    Err(e) => break Err(BundleError::io(path, e)),
                };
                if n == 0 {
                    break Ok(());
                }
                buf.truncate(n);
                if let Err(e) = out.write_all(&buf) {
                    break Err(BundleError::io(&out_path, e));
                }
                total += n as u64;
                if to_hasher.send(buf).is_err() {
                    break Err(BundleError::Layout("hash worker stopped".into()));
                }
            };
            drop(to_hasher);
            let digest = hasher.join().map_err(|_| BundleError::Layout("hash worker panicked".into()))?;
            result.map(|()| (total, digest))
        });
        let (size, raw) = copied?;
        self.pos += size;
        if size != expected {
            return Err(BundleError::Layout(format!(
                "{} changed while it was being packed ({expected} bytes before, {size} read)",
                path.display()
            )));
        }
        let digest = ferry_digest::Sha256Digest::from(raw).to_string();
        let file = self.file.file_mut();
        if self.blobs.insert(digest.clone()) {
            let header = tar::header(&format!("blobs/sha256/{}", hex::encode(raw)), size, Kind::File)?;
            file.seek(SeekFrom::Start(header_pos)).map_err(|e| BundleError::io(&out_path, e))?;
            file.write_all(&header).map_err(|e| BundleError::io(&out_path, e))?;
            file.seek(SeekFrom::End(0)).map_err(|e| BundleError::io(&out_path, e))?;
            self.pad(size)?;
        } else {
            // Same content already stored: drop the copy we just wrote.
            file.set_len(header_pos).map_err(|e| BundleError::io(&out_path, e))?;
            file.seek(SeekFrom::Start(header_pos)).map_err(|e| BundleError::io(&out_path, e))?;
            self.pos = header_pos;
        }
        Ok((digest, size))
    }

    pub(crate) fn has_blob(&self, digest: &str) -> bool {
        self.blobs.contains(digest)
    }

    /// Raw bytes of a member being streamed by [`crate::LayoutWriter`].
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        self.write(bytes)
    }

    pub(crate) fn pad_raw(&mut self, size: u64) -> Result<(), BundleError> {
        self.pad(size)
    }

    pub(crate) fn note_blob(&mut self, digest: &str) {
        self.blobs.insert(digest.to_owned());
    }

    /// [`TarOut::finish`], with `check` run on the complete file before it gets its name: a file the
    /// check refuses is dropped, never named.
    pub(crate) fn finish_checked<T>(
        mut self,
        index: &Index,
        check: impl FnOnce(&File) -> Result<T, BundleError>,
    ) -> Result<T, BundleError> {
        let bytes = ferry_spec::to_canonical_json(index).map_err(|e| BundleError::Encode(e.to_string()))?;
        self.member("index.json", &bytes)?;
        self.write(&[0u8; 1024])?;
        self.file.file_mut().flush().map_err(|e| BundleError::io(&self.out_path, e))?;
        let checked = check(self.file.file())?;
        let out = self.out_path.clone();
        self.file.commit().map_err(|e| BundleError::io(&out, e))?;
        Ok(checked)
    }

    /// Writes `index.json` and the end-of-archive marker, then renames into place.
    ///
    /// Not `fsync`ed: the rename is atomic, so readers and an interrupted or failed write never see a
    /// partial bundle, and waiting for the disk would double the cost of packing or signing a large
    /// bundle on a CPU that hashes faster than its disk writes. Power loss right after the rename is left
    /// to the file system (ext4 and Btrfs write a renamed-over file's data first); a bundle damaged that
    /// way is refused by every reader, and packing again gives the same bytes. (`spec/FORMAT.md`, §1.)
    pub(crate) fn finish(mut self, index: &Index) -> Result<u64, BundleError> {
        let bytes = ferry_spec::to_canonical_json(index).map_err(|e| BundleError::Encode(e.to_string()))?;
        self.member("index.json", &bytes)?;
        self.write(&[0u8; 1024])?;
        let size = self.pos;
        let out = self.out_path.clone();
        self.file.commit().map_err(|e| BundleError::io(&out, e))?;
        Ok(size)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes a bundle to `out`: every file of `files` as a blob (sorted by path), then `manifest` (with its
/// `files` list filled in here) as the config blob, the OCI manifest, `referrers`, and `index.json`.
///
/// The output depends only on the file contents, their paths and `manifest`: never on the order of
/// `files`, timestamps, permissions or the machine.
pub fn write_bundle(
    out: &Path,
    files: Vec<FileSource>,
    manifest: Manifest,
    referrers: &[Referrer],
) -> Result<Written, BundleError> {
    write_bundle_with(
        out,
        files,
        manifest,
        |_| Ok::<_, BundleError>(Vec::new()),
        |_, _| Ok(referrers.to_vec()),
    )
}

/// [`write_bundle`] with two hooks for content that depends on the bundle itself.
///
/// - `generate` runs once the given files are written and sees their entries (paths, digests, sizes);
///   the files it returns (provenance, SBOM) join the file view. They are written after the others, so
///   describing large weights costs no second pass over them.
/// - `referrers` runs once the OCI manifest is written and gets its digest and the Ferry manifest (with
///   `files` filled in); the referrers it returns are stored in order.
///
/// An error from either hook abandons the write (no output is left behind).
pub fn write_bundle_with<E, G, F>(
    out: &Path,
    mut files: Vec<FileSource>,
    mut manifest: Manifest,
    generate: G,
    referrers: F,
) -> Result<Written, E>
where
    E: From<BundleError>,
    G: FnOnce(&[FileEntry]) -> Result<Vec<(String, Vec<u8>)>, E>,
    F: FnOnce(&str, &Manifest) -> Result<Vec<Referrer>, E>,
{
    files.sort_by(|a, b| a.path.cmp(&b.path));
    check_unique(&files)?;
    let mut t = TarOut::create(out)?;
    let mut written = Vec::with_capacity(files.len() + 2);
    for f in &files {
        written.push(write_file(&mut t, f)?);
    }
    let entries: Vec<FileEntry> = written.iter().map(|(e, _)| e.clone()).collect();
    let extra: Vec<FileSource> = generate(&entries)?
        .into_iter()
        .map(|(path, bytes)| FileSource { path, data: FileData::Memory(bytes) })
        .collect();
    for f in &extra {
        written.push(write_file(&mut t, f)?);
    }
    written.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    for w in written.windows(2) {
        if w[0].0.path == w[1].0.path {
            return Err(BundleError::Layout(format!("file `{}` is listed twice", w[0].0.path)).into());
        }
    }
    // Never write what the reader refuses to open.
    ferry_spec::check_file_view(written.iter().map(|w| w.0.path.as_str())).map_err(BundleError::from)?;
    let (entries, layers): (Vec<FileEntry>, Vec<Descriptor>) = written.into_iter().unzip();
    manifest.files = entries;
    let config = ferry_spec::to_canonical_json(&manifest).map_err(|e| BundleError::Encode(e.to_string()))?;
    let config_digest = t.blob(&config)?;
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.title".to_owned(), manifest.model.name.clone());
    annotations.insert("org.opencontainers.image.version".to_owned(), manifest.model.version.clone());
    let image = ImageManifest {
        schema_version: 2,
        media_type: media::OCI_MANIFEST.to_owned(),
        artifact_type: Some(media::ARTIFACT_TYPE.to_owned()),
        config: Descriptor {
            media_type: media::FERRY_MANIFEST.to_owned(),
            digest: config_digest,
            size: config.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        },
        layers,
        subject: None,
        annotations,
    };
    let image_bytes =
        ferry_spec::to_canonical_json(&image).map_err(|e| BundleError::Encode(e.to_string()))?;
    let image_digest = t.blob(&image_bytes)?;
    let subject = Descriptor {
        media_type: media::OCI_MANIFEST.to_owned(),
        digest: image_digest.clone(),
        size: image_bytes.len() as u64,
        artifact_type: Some(media::ARTIFACT_TYPE.to_owned()),
        annotations: BTreeMap::from([(media::REF_NAME.to_owned(), manifest.model.version.clone())]),
    };
    let mut index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_owned()),
        manifests: vec![subject.clone()],
    };
    for r in &referrers(&image_digest, &manifest)? {
        let desc = write_referrer(&mut t, &subject, r)?;
        // The same referrer twice (e.g. one signature given twice) is stored once, like `write_with_referrer`.
        if !index.manifests.iter().any(|d| d.digest == desc.digest) {
            index.manifests.push(desc);
        }
    }
    let size = t.finish(&index)?;
    Ok(Written { manifest_digest: image_digest, size, manifest })
}

fn check_unique(files: &[FileSource]) -> Result<(), BundleError> {
    for w in files.windows(2) {
        if w[0].path == w[1].path {
            return Err(BundleError::Layout(format!("file `{}` is listed twice", w[0].path)));
        }
    }
    Ok(())
}

/// Writes one file of the file view as a blob: compressed small text, or weights streamed as they are.
fn write_file(t: &mut TarOut, f: &FileSource) -> Result<(FileEntry, Descriptor), BundleError> {
    ferry_spec::check_relative_path(&f.path).map_err(|e| BundleError::Layout(e.to_string()))?;
    if is_compressed(&f.path) {
        let bytes = match &f.data {
            FileData::Memory(b) => std::borrow::Cow::Borrowed(b.as_slice()),
            FileData::Disk(p) => {
                std::borrow::Cow::Owned(std::fs::read(p).map_err(|e| BundleError::io(p, e))?)
            }
            FileData::Open { path, open } => {
                let mut bytes = Vec::new();
                (open.0)()
                    .and_then(|mut file| file.read_to_end(&mut bytes))
                    .map_err(|e| BundleError::io(path, e))?;
                std::borrow::Cow::Owned(bytes)
            }
        };
        let packed = zstd::bulk::compress(&bytes, ZSTD_LEVEL)
            .map_err(|e| BundleError::Encode(format!("zstd compression of `{}`: {e}", f.path)))?;
        let blob = t.blob(&packed)?;
        let desc = layer(&f.path, &blob, packed.len() as u64, media::FILE_ZSTD);
        let entry = FileEntry {
            path: f.path.clone(),
            sha256: ferry_digest::Sha256Digest::of(&bytes).hex(),
            size: bytes.len() as u64,
            compression: Compression::Zstd,
            blob,
        };
        Ok((entry, desc))
    } else {
        let (blob, size) = match &f.data {
            FileData::Memory(b) => (t.blob(b)?, b.len() as u64),
            FileData::Disk(p) => t.blob_from_disk(p, File::open(p).map_err(|e| BundleError::io(p, e))?)?,
            FileData::Open { path, open } => {
                t.blob_from_disk(path, (open.0)().map_err(|e| BundleError::io(path, e))?)?
            }
        };
        let desc = layer(&f.path, &blob, size, media::FILE);
        let sha256 = ferry_digest::strip_prefix(&blob).unwrap_or_default().to_owned();
        Ok((FileEntry { path: f.path.clone(), sha256, size, compression: Compression::None, blob }, desc))
    }
}

fn layer(path: &str, digest: &str, size: u64, media_type: &str) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.to_owned(),
        size,
        artifact_type: None,
        annotations: BTreeMap::from([(media::TITLE.to_owned(), path.to_owned())]),
    }
}

/// The referrer manifest (OCI 1.1: empty config, one layer, `subject` = the bundle manifest) for `r`, as
/// canonical JSON, and its index descriptor.
pub(crate) fn referrer_manifest(
    subject: &Descriptor,
    r: &Referrer,
) -> Result<(Descriptor, Vec<u8>), BundleError> {
    let subject = Descriptor { annotations: BTreeMap::new(), ..subject.clone() };
    let m = ImageManifest {
        schema_version: 2,
        media_type: media::OCI_MANIFEST.to_owned(),
        artifact_type: Some(r.artifact_type.clone()),
        config: Descriptor {
            media_type: oci::EMPTY_MEDIA_TYPE.to_owned(),
            digest: oci::digest_of(oci::EMPTY_JSON),
            size: oci::EMPTY_JSON.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        },
        layers: vec![Descriptor {
            media_type: r.media_type.clone(),
            digest: oci::digest_of(&r.blob),
            size: r.blob.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }],
        subject: Some(subject),
        annotations: r.annotations.clone(),
    };
    let bytes = ferry_spec::to_canonical_json(&m).map_err(|e| BundleError::Encode(e.to_string()))?;
    let desc = Descriptor {
        media_type: media::OCI_MANIFEST.to_owned(),
        digest: oci::digest_of(&bytes),
        size: bytes.len() as u64,
        artifact_type: Some(r.artifact_type.clone()),
        annotations: BTreeMap::new(),
    };
    Ok((desc, bytes))
}

/// Writes a referrer's blobs and manifest ([`referrer_manifest`]) and returns its index descriptor.
pub(crate) fn write_referrer(
    t: &mut TarOut,
    subject: &Descriptor,
    r: &Referrer,
) -> Result<Descriptor, BundleError> {
    let (desc, bytes) = referrer_manifest(subject, r)?;
    t.blob(oci::EMPTY_JSON)?;
    t.blob(&r.blob)?;
    t.blob(&bytes)?;
    Ok(desc)
}
