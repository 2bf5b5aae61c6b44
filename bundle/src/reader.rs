//! Reading a bundle: a memory-mapped `.ferry` file whose structure is checked on open and whose blobs are
//! hashed on demand ([`Bundle::verify_digests`]).

use crate::BundleError;
use crate::oci::{self, Descriptor, ImageManifest, Index};
use crate::tar::{self, Entry, Kind};
use crate::writer::{self, Referrer, TarOut};
use ferry_spec::{Compression, FORMAT_VERSION, FileEntry, Manifest, media};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

enum Data {
    /// The map, and the file it maps (to copy from when the bundle is rewritten).
    Mapped(memmap2::Mmap, File),
    Owned(Vec<u8>),
}

impl Data {
    /// Maps `file` (opened from `path`) read-only: the crate's one memory map.
    fn map(file: File, path: &Path) -> Result<Data, BundleError> {
        // SAFETY: the map is read-only. A bundle modified by another process while mapped could be seen
        // torn; the digests are checked over the mapped bytes, which is what is then used.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| BundleError::io(path, e))?;
        Ok(Data::Mapped(map, file))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Data::Mapped(m, _) => m,
            Data::Owned(v) => v,
        }
    }

    fn file(&self) -> Option<&File> {
        match self {
            Data::Mapped(_, f) => Some(f),
            Data::Owned(_) => None,
        }
    }
}

/// A referrer found in the bundle (a signature or an attestation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundReferrer {
    /// Digest of the referrer's manifest.
    pub digest: String,
    pub artifact_type: String,
    pub media_type: String,
    /// Digest of its single layer.
    pub blob_digest: String,
    pub annotations: BTreeMap<String, String>,
}

/// An opened `.ferry` file.
///
/// [`Bundle::open`] parses the archive and the OCI layout and checks that every member is accounted for,
/// every size matches its descriptor and the small metadata blobs match their digests. The large blobs
/// are hashed by [`Bundle::verify_digests`], which every consumer that trusts the content must call (the
/// runtime and the verifier do).
pub struct Bundle {
    data: Data,
    path: Option<PathBuf>,
    members: HashMap<String, Entry>,
    manifest_desc: Descriptor,
    image: ImageManifest,
    manifest: Manifest,
    referrers: Vec<FoundReferrer>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("path", &self.path)
            .field("manifest_digest", &self.manifest_desc.digest)
            .field("files", &self.manifest.files.len())
            .finish()
    }
}

impl Bundle {
    /// Opens and structurally checks a bundle file, mapping it into memory so weights are never copied.
    pub fn open(path: &Path) -> Result<Bundle, BundleError> {
        // A regular file only: opening a FIFO would block forever, and a device is not a bundle.
        let (file, len) = ferry_spec::file::open_regular(path).map_err(|e| match e {
            ferry_spec::file::FileError::Io { source, .. } => BundleError::io(path, source),
            other => BundleError::io(path, std::io::Error::other(other.reason())),
        })?;
        let data = if len == 0 { Data::Owned(Vec::new()) } else { Data::map(file, path)? };
        Self::parse(data, Some(path.to_path_buf()))
    }

    /// Structurally checks the bundle in `file`, an open file that will be named `path` (a bundle being
    /// written by [`crate::LayoutWriter`]).
    pub(crate) fn from_open_file(file: &File, path: &Path) -> Result<Bundle, BundleError> {
        let file = file.try_clone().map_err(|e| BundleError::io(path, e))?;
        Self::parse(Data::map(file, path)?, Some(path.to_path_buf()))
    }

    /// Structurally checks a bundle held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Bundle, BundleError> {
        Self::parse(Data::Owned(bytes), None)
    }

    fn parse(data: Data, path: Option<PathBuf>) -> Result<Bundle, BundleError> {
        let entries = tar::parse(data.bytes())?;
        let members: HashMap<String, Entry> = entries.into_iter().map(|e| (e.name.clone(), e)).collect();
        let bytes = data.bytes();
        let member = |name: &str| -> Result<&[u8], BundleError> {
            let e = members.get(name).ok_or_else(|| BundleError::Missing(name.to_owned()))?;
            if e.kind != Kind::File {
                return Err(BundleError::Layout(format!("`{name}` is a directory")));
            }
            Ok(&bytes[e.offset as usize..(e.offset + e.size) as usize])
        };
        if member("oci-layout")? != oci::LAYOUT_FILE {
            return Err(BundleError::Layout(format!(
                "`oci-layout` must be exactly {}",
                String::from_utf8_lossy(oci::LAYOUT_FILE)
            )));
        }
        let index_bytes = member("index.json")?;
        let index: Index = json(index_bytes, "index.json", "an OCI image index")?;
        let mut accounted: Vec<String> =
            vec!["oci-layout".into(), "index.json".into(), "blobs".into(), "blobs/sha256".into()];
        let blob = |desc: &Descriptor, accounted: &mut Vec<String>| -> Result<&[u8], BundleError> {
            let hex = oci::sha256_hex(&desc.digest)
                .ok_or_else(|| BundleError::Layout(format!("malformed digest `{}`", desc.digest)))?;
            let name = format!("blobs/sha256/{hex}");
            let b = member(&name)?;
            if b.len() as u64 != desc.size {
                return Err(BundleError::Layout(format!(
                    "blob {} is {} bytes but its descriptor declares {}",
                    desc.digest,
                    b.len(),
                    desc.size
                )));
            }
            accounted.push(name);
            Ok(b)
        };
        // Small metadata blobs are parsed, so they are hashed before use.
        let checked_blob =
            |desc: &Descriptor, what: &str, accounted: &mut Vec<String>| -> Result<&[u8], BundleError> {
                let b = blob(desc, accounted)?;
                let actual = oci::digest_of(b);
                if actual != desc.digest {
                    return Err(BundleError::Digest {
                        what: what.to_owned(),
                        expected: desc.digest.clone(),
                        actual,
                    });
                }
                Ok(b)
            };

        let mut bundle_manifest: Option<(Descriptor, ImageManifest, &[u8])> = None;
        let mut referrer_manifests = Vec::new();
        for desc in &index.manifests {
            if desc.media_type != media::OCI_MANIFEST {
                return Err(BundleError::Layout(format!(
                    "index entry {} has media type `{}`",
                    desc.digest, desc.media_type
                )));
            }
            let raw = checked_blob(desc, &format!("manifest {}", desc.digest), &mut accounted)?;
            let m: ImageManifest = json(raw, &desc.digest, "an OCI image manifest")?;
            if m.subject.is_none() && m.artifact_type.as_deref() == Some(media::ARTIFACT_TYPE) {
                if bundle_manifest.is_some() {
                    return Err(BundleError::Layout("index.json lists more than one bundle manifest".into()));
                }
                bundle_manifest = Some((desc.clone(), m, raw));
            } else {
                referrer_manifests.push((desc.clone(), m));
            }
        }
        let (manifest_desc, image, image_raw) = bundle_manifest
            .ok_or_else(|| BundleError::Layout("index.json lists no Ferry bundle manifest".into()))?;
        if image.config.media_type != media::FERRY_MANIFEST {
            return Err(BundleError::Layout(format!(
                "config media type is `{}`, expected `{}`",
                image.config.media_type,
                media::FERRY_MANIFEST
            )));
        }
        let config = checked_blob(&image.config, "the Ferry manifest", &mut accounted)?;
        let value: serde_json::Value = json(config, "the Ferry manifest", "a JSON object")?;
        let version = value.get("format_version").and_then(|v| v.as_u64());
        match version {
            Some(v) if ferry_spec::is_supported_format(v) => {}
            Some(v) => {
                return Err(BundleError::FormatVersion {
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                    supported: FORMAT_VERSION,
                });
            }
            None => return Err(BundleError::Layout("the Ferry manifest has no format_version".into())),
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| BundleError::Json {
            member: image.config.digest.clone(),
            what: "the Ferry manifest".into(),
            message: e.to_string(),
        })?;
        check_files(&manifest, &image)?;
        check_image_canonical(&manifest, &image, image_raw)?;
        for layer in &image.layers {
            blob(layer, &mut accounted)?;
        }
        // A compressed blob's frame structure is metadata (read from block headers, nothing inflated):
        // checked here, so every consumer refuses the same bundles.
        for f in manifest.files.iter().filter(|f| f.compression == Compression::Zstd) {
            let hex = oci::sha256_hex(&f.blob)
                .ok_or_else(|| BundleError::Layout(format!("malformed digest `{}`", f.blob)))?;
            let e = members
                .get(&format!("blobs/sha256/{hex}"))
                .ok_or_else(|| BundleError::Missing(format!("blobs/sha256/{hex}")))?;
            check_single_frame(f, &bytes[e.offset as usize..(e.offset + e.size) as usize], e.offset)?;
        }

        let mut referrers = Vec::new();
        for (desc, m) in referrer_manifests {
            let subject_ok = m.subject.as_ref().is_some_and(|s| s.digest == manifest_desc.digest);
            if !subject_ok {
                return Err(BundleError::Layout(format!(
                    "manifest {} is neither the bundle nor a referrer of it",
                    desc.digest
                )));
            }
            let [layer] = m.layers.as_slice() else {
                return Err(BundleError::Layout(format!(
                    "referrer {} must have exactly one layer",
                    desc.digest
                )));
            };
            checked_blob(&m.config, &format!("config of referrer {}", desc.digest), &mut accounted)?;
            checked_blob(layer, &format!("layer of referrer {}", desc.digest), &mut accounted)?;
            referrers.push(FoundReferrer {
                digest: desc.digest.clone(),
                artifact_type: m.artifact_type.clone().unwrap_or_default(),
                media_type: layer.media_type.clone(),
                blob_digest: layer.digest.clone(),
                annotations: m.annotations.clone(),
            });
        }

        // index.json is not content-addressed, so it must be exactly what the writer derives from the
        // manifests it lists; otherwise an edited annotation would pass unnoticed.
        let mut expected =
            Index { schema_version: 2, media_type: Some(media::OCI_INDEX.to_owned()), manifests: Vec::new() };
        for d in &index.manifests {
            let mut canonical = Descriptor {
                media_type: media::OCI_MANIFEST.to_owned(),
                digest: d.digest.clone(),
                size: d.size,
                artifact_type: None,
                annotations: BTreeMap::new(),
            };
            if d.digest == manifest_desc.digest {
                canonical.artifact_type = Some(media::ARTIFACT_TYPE.to_owned());
                canonical.annotations.insert(media::REF_NAME.to_owned(), manifest.model.version.clone());
            } else if let Some(r) = referrers.iter().find(|r| r.digest == d.digest) {
                canonical.artifact_type = Some(r.artifact_type.clone());
            }
            expected.manifests.push(canonical);
        }
        let canonical =
            ferry_spec::to_canonical_json(&expected).map_err(|e| BundleError::Encode(e.to_string()))?;
        if canonical != index_bytes {
            return Err(BundleError::Layout(
                "index.json is not the canonical index of the manifests it lists".into(),
            ));
        }
        accounted.sort();
        accounted.dedup();
        let mut unexpected: Vec<&String> =
            members.keys().filter(|k| accounted.binary_search(k).is_err()).collect();
        unexpected.sort();
        if let Some(first) = unexpected.first() {
            return Err(BundleError::Unexpected((*first).clone()));
        }
        Ok(Bundle { data, path, members, manifest_desc, image, manifest, referrers })
    }

    /// The Ferry manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Digest of the bundle's OCI manifest: what signatures and attestations refer to.
    pub fn manifest_digest(&self) -> &str {
        &self.manifest_desc.digest
    }

    /// The bundle's OCI manifest.
    pub fn image_manifest(&self) -> &ImageManifest {
        &self.image
    }

    /// Signatures and attestations stored as OCI referrers.
    pub fn referrers(&self) -> &[FoundReferrer] {
        &self.referrers
    }

    /// Size of the bundle in bytes.
    pub fn size(&self) -> u64 {
        self.data.bytes().len() as u64
    }

    /// Where the bundle was opened from, if from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The open file the bundle maps, if it was opened from a non-empty file: its identity (`fstat`)
    /// describes the bytes being read, whatever the path names now.
    pub fn file_handle(&self) -> Option<&File> {
        self.data.file()
    }

    /// The stored bytes of a blob (compressed if it is stored compressed).
    pub fn blob(&self, digest: &str) -> Result<&[u8], BundleError> {
        let hex = oci::sha256_hex(digest)
            .ok_or_else(|| BundleError::Layout(format!("malformed digest `{digest}`")))?;
        let name = format!("blobs/sha256/{hex}");
        let e = self.members.get(&name).ok_or(BundleError::Missing(name))?;
        Ok(&self.data.bytes()[e.offset as usize..(e.offset + e.size) as usize])
    }

    /// Whether `bytes` lies wholly inside this bundle's data: a slice that [`Bundle::blob`] or
    /// [`Bundle::file`] lent out, whose memory lives exactly as long as the bundle.
    pub fn contains(&self, bytes: &[u8]) -> bool {
        let data = self.data.bytes().as_ptr_range();
        let range = bytes.as_ptr_range();
        data.start <= range.start && range.end <= data.end
    }

    /// The digests of the stored blobs in the order they appear in the file (a bundle Ferry wrote has
    /// them in [`crate::blob_order`]).
    pub fn stored_blob_order(&self) -> Vec<String> {
        let mut blobs: Vec<&Entry> = self
            .members
            .values()
            .filter(|e| e.kind == Kind::File && e.name.starts_with("blobs/sha256/"))
            .collect();
        blobs.sort_by_key(|e| e.offset);
        blobs
            .iter()
            .filter_map(|e| e.name.strip_prefix("blobs/sha256/"))
            .map(|hex| format!("{}{hex}", ferry_digest::SHA256_PREFIX))
            .collect()
    }

    /// Where a blob's bytes start in the bundle.
    fn blob_offset(&self, digest: &str) -> Option<u64> {
        let hex = oci::sha256_hex(digest)?;
        self.members.get(&format!("blobs/sha256/{hex}")).map(|e| e.offset)
    }

    /// Hashes every file blob and checks it against the manifest (and, for compressed files, the
    /// uncompressed digest and size). The error names the file; when several files are bad, the first
    /// in manifest order.
    ///
    /// Blobs are hashed as [`Bundle::file_blob_digests`] does: in parallel, so a bundle of several weight
    /// files verifies in about the time of its largest one.
    pub fn verify_digests(&self) -> Result<(), BundleError> {
        let mut actual = self.file_blob_digests();
        for f in &self.manifest.files {
            match actual.get(f.blob.as_str()) {
                Some(Ok(d)) if *d == f.blob => {}
                Some(Ok(d)) => {
                    return Err(BundleError::Digest {
                        what: format!("file `{}`", f.path),
                        expected: f.blob.clone(),
                        actual: d.clone(),
                    });
                }
                Some(Err(_)) => {
                    if let Some(Err(e)) = actual.remove(f.blob.as_str()) {
                        return Err(e);
                    }
                }
                None => return Err(BundleError::Layout(format!("file `{}` was not checked", f.path))),
            }
        }
        // Each path's own uncompressed digest, also when paths share a blob.
        for f in &self.manifest.files {
            if f.compression == Compression::Zstd {
                self.check_uncompressed(f)?;
            }
        }
        Ok(())
    }

    /// The actual SHA-256 (`sha256:<hex>`) of every distinct file blob, keyed by the digest the manifest
    /// gives it: a caller compares the two. A blob that cannot be read maps to the error.
    ///
    /// Blobs are hashed on up to as many threads as the machine has cores, largest first; a large blob
    /// gets a cache-warming helper thread when a core is free for it ([`crate::digest::sha256_warmed`]).
    pub fn file_blob_digests(&self) -> HashMap<&str, Result<String, BundleError>> {
        // One job per distinct blob; a blob shared by two paths is hashed once.
        let mut jobs: Vec<&FileEntry> = Vec::new();
        {
            let mut seen = std::collections::HashSet::new();
            for f in &self.manifest.files {
                if seen.insert(f.blob.as_str()) {
                    jobs.push(f);
                }
            }
        }
        jobs.sort_by_key(|f| std::cmp::Reverse(f.size));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = cores.min(jobs.len()).max(1);
        // Warm only when every large blob's hasher and helper can have a core; small blobs are over
        // before it would matter.
        let large = jobs.iter().filter(|f| f.size >= crate::digest::WARM_ABOVE as u64).count();
        let warm = cores >= 2 * large;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            while let Some(f) = jobs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                done.push((f.blob.as_str(), self.hash_blob(&f.blob, warm)));
            }
            done
        };
        let finished: Vec<Vec<(&str, Result<String, BundleError>)>> = if workers == 1 {
            vec![work()]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
                let mut all = vec![work()];
                for h in handles {
                    // A worker only panics on a bug; its blobs are then missing, which callers treat
                    // as unchecked.
                    all.push(h.join().unwrap_or_default());
                }
                all
            })
        };
        finished.into_iter().flatten().collect()
    }

    fn hash_blob(&self, digest: &str, warm: bool) -> Result<String, BundleError> {
        let stored = self.blob(digest)?;
        let d = if warm && stored.len() >= crate::digest::WARM_ABOVE {
            crate::digest::sha256_warmed(stored)
        } else {
            crate::digest::sha256(stored)
        };
        Ok(ferry_digest::Sha256Digest::from(d).to_string())
    }

    fn check_uncompressed(&self, f: &FileEntry) -> Result<(), BundleError> {
        let plain = self.file_entry(f)?;
        let actual = ferry_digest::Sha256Digest::of(&plain).hex();
        if actual != f.sha256 {
            return Err(BundleError::Digest {
                what: format!("file `{}` (uncompressed)", f.path),
                expected: format!("{}{}", ferry_digest::SHA256_PREFIX, f.sha256),
                actual: format!("{}{actual}", ferry_digest::SHA256_PREFIX),
            });
        }
        Ok(())
    }

    /// The bytes of a file of the file view: borrowed from the map when stored uncompressed.
    pub fn file(&self, path: &str) -> Result<Cow<'_, [u8]>, BundleError> {
        let f = self.manifest.file(path).ok_or_else(|| BundleError::NoSuchFile(path.to_owned()))?;
        self.file_entry(f)
    }

    fn file_entry(&self, f: &FileEntry) -> Result<Cow<'_, [u8]>, BundleError> {
        let stored = self.blob(&f.blob)?;
        match f.compression {
            Compression::None => Ok(Cow::Borrowed(stored)),
            Compression::Zstd => {
                let offset = self.blob_offset(&f.blob).unwrap_or_default();
                check_single_frame(f, stored, offset)?;
                let cap = usize::try_from(f.size)
                    .map_err(|_| BundleError::TooLarge { path: f.path.clone(), declared: f.size })?;
                // A frame that inflates past its declared size fails here instead of exhausting memory.
                let out = zstd::bulk::decompress(stored, cap).map_err(|e| {
                    if e.to_string().contains("Destination buffer is too small") {
                        BundleError::TooLarge { path: f.path.clone(), declared: f.size }
                    } else {
                        BundleError::Decompress { path: f.path.clone(), message: e.to_string() }
                    }
                })?;
                if out.len() as u64 != f.size {
                    return Err(BundleError::Decompress {
                        path: f.path.clone(),
                        message: format!("inflates to {} bytes, declared {}", out.len(), f.size),
                    });
                }
                Ok(Cow::Owned(out))
            }
        }
    }

    /// Writes the file view into `dir`, which must not exist or be empty. The files are written into a
    /// temporary directory beside `dir` and renamed into place, so a failure leaves nothing behind.
    /// Digests are verified first. `extra` files (such as `model.sig`) are written next to the view.
    pub fn unpack(&self, dir: &Path, extra: &[(String, Vec<u8>)]) -> Result<(), BundleError> {
        self.verify_digests()?;
        match std::fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => {
                let mut it = std::fs::read_dir(dir).map_err(|e| BundleError::io(dir, e))?;
                if it.next().is_some() {
                    return Err(BundleError::Target {
                        path: dir.to_path_buf(),
                        message: "directory is not empty".into(),
                    });
                }
            }
            Ok(_) => {
                return Err(BundleError::Target {
                    path: dir.to_path_buf(),
                    message: "exists and is not a directory".into(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BundleError::io(dir, e)),
        }
        // Built under a temporary name beside `dir` (with a new directory's permissions) and renamed into
        // place; removed on any error, and by the next write there if this process is killed.
        let tmp = ferry_atomic::AtomicDir::create(dir).map_err(|e| BundleError::io(dir, e))?;
        let files = self
            .manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), None))
            .chain(extra.iter().map(|(p, b)| (p.as_str(), Some(b.as_slice()))));
        for (path, given) in files {
            ferry_spec::check_relative_path(path).map_err(|e| BundleError::Layout(e.to_string()))?;
            let target = tmp.path().join(path);
            if let Some(p) = target.parent() {
                std::fs::create_dir_all(p).map_err(|e| BundleError::io(p, e))?;
            }
            let bytes = match given {
                Some(b) => Cow::Borrowed(b),
                None => self.file(path)?,
            };
            // create_new: a second entry for the same path (or a path under a file) is an error, not an overwrite.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(|e| BundleError::io(&target, e))?;
            std::io::Write::write_all(&mut f, &bytes).map_err(|e| BundleError::io(&target, e))?;
        }
        // An empty `dir` is replaced atomically; one that filled up meanwhile is an error.
        tmp.commit().map_err(|e| BundleError::io(dir, e))?;
        Ok(())
    }

    /// Writes this bundle with `referrer` added to `out`, which may be the bundle's own path: the new
    /// file is written beside it and renamed into place, so readers see the old bundle or the new one,
    /// and an interrupted or failed write leaves the original as it was. Signed content is untouched:
    /// the bundle manifest and every blob keep their bytes and digests. Returns the digest of the
    /// referrer manifest. Adding a referrer that is already there adds nothing (and writes nothing when
    /// `out` is this bundle's file).
    ///
    /// File blobs are not hashed here: a referrer is about the manifest (a signature covers the file
    /// digests the manifest records), and every reader that trusts a blob hashes it
    /// ([`Bundle::verify_digests`]). Every member before `index.json` is kept byte for byte, in place;
    /// the referrer's blobs and the new index follow. That prefix is copied by the kernel (its extents
    /// cloned where the file system shares them), so adding a signature to a 1 GiB bundle costs about one
    /// copy in the page cache (`spec/FORMAT.md`, section 5).
    ///
    /// Concurrent writers to the same bundle in place do not lose each other's referrers: the write
    /// holds an exclusive lock on the bundle's directory, and a bundle that another writer replaced
    /// since this one was opened is opened again under the lock and the referrer added to it (refused
    /// when its bundle manifest is no longer this one's).
    pub fn write_with_referrer(&self, out: &Path, referrer: &Referrer) -> Result<String, BundleError> {
        if !self.is_file(out) {
            return self.write_with_referrer_unlocked(out, referrer);
        }
        let _lock = DirLock::acquire(out)?;
        if self.same_inode(out) {
            return self.write_with_referrer_unlocked(out, referrer);
        }
        let current = Bundle::open(out)?;
        if current.manifest_digest() != self.manifest_digest() {
            return Err(BundleError::Target {
                path: out.to_path_buf(),
                message: format!(
                    "the bundle was replaced by another one (bundle manifest {}, not {}) while signing",
                    current.manifest_digest(),
                    self.manifest_digest()
                ),
            });
        }
        current.write_with_referrer_unlocked(out, referrer)
    }

    /// Whether `path` is still the very file (device and inode) this bundle was opened from.
    fn same_inode(&self, path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            match (self.data.file().map(File::metadata), std::fs::metadata(path)) {
                (Some(Ok(mine)), Ok(theirs)) => mine.dev() == theirs.dev() && mine.ino() == theirs.ino(),
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            true
        }
    }

    fn write_with_referrer_unlocked(&self, out: &Path, referrer: &Referrer) -> Result<String, BundleError> {
        let index_entry =
            self.members.get("index.json").ok_or_else(|| BundleError::Missing("index.json".into()))?;
        let bytes = self.data.bytes();
        let mut index: Index = json(
            &bytes[index_entry.offset as usize..(index_entry.offset + index_entry.size) as usize],
            "index.json",
            "an OCI image index",
        )?;
        let subject = self.manifest_desc.clone();
        let (desc, _) = writer::referrer_manifest(&subject, referrer)?;
        let present = index.manifests.iter().any(|d| d.digest == desc.digest);
        if present && self.is_file(out) {
            return Ok(desc.digest);
        }
        if self.members.values().any(|e| e.offset > index_entry.offset) {
            return Err(BundleError::Layout("`index.json` is not the last member".into()));
        }
        let blobs = self
            .members
            .values()
            .filter(|e| e.kind == Kind::File)
            .filter_map(|e| {
                e.name
                    .strip_prefix("blobs/sha256/")
                    .map(|hex| format!("{}{hex}", ferry_digest::SHA256_PREFIX))
            })
            .collect();
        let prefix = index_entry.offset - tar::BLOCK;
        // Signing in place keeps the bundle's permissions.
        let permissions = if self.is_file(out) {
            Some(std::fs::metadata(out).map_err(|e| BundleError::io(out, e))?.permissions())
        } else {
            None
        };
        let mut t = TarOut::extend(out, permissions, self.data.file(), bytes, prefix, blobs)?;
        let desc = writer::write_referrer(&mut t, &subject, referrer)?;
        if !present {
            index.manifests.push(desc.clone());
        }
        t.finish(&index)?;
        Ok(desc.digest)
    }

    /// Whether `path` names the file this bundle was opened from.
    fn is_file(&self, path: &Path) -> bool {
        match (&self.path, std::fs::canonicalize(path)) {
            (Some(mine), Ok(other)) => std::fs::canonicalize(mine).is_ok_and(|m| m == other),
            _ => false,
        }
    }
}

/// An exclusive advisory lock (`flock`) on the directory of a bundle being replaced in place, released
/// on drop. A directory, not the bundle: the bundle's inode changes at every rename.
struct DirLock(Option<File>);

impl DirLock {
    fn acquire(bundle: &Path) -> Result<DirLock, BundleError> {
        let dir = match bundle.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Where a directory cannot be opened as a file (not Linux), writers are not serialised.
        let Ok(file) = File::open(&dir) else { return Ok(DirLock(None)) };
        file.lock().map_err(|e| BundleError::io(&dir, e))?;
        Ok(DirLock(Some(file)))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.unlock();
        }
    }
}

/// The magic number that starts a zstd frame (skippable frames have others).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A compressed file's blob (at byte `offset` of the bundle) must be exactly what the writer makes: one
/// zstd frame, not a skippable one, declaring the manifest's size as its content size, with nothing after
/// it. A second frame or trailing bytes would be content that the digest of the uncompressed file does
/// not describe.
fn check_single_frame(f: &FileEntry, stored: &[u8], offset: u64) -> Result<(), BundleError> {
    let err = |message: String| BundleError::Decompress { path: f.path.clone(), message };
    if !stored.starts_with(&ZSTD_MAGIC) {
        return Err(err(format!("the blob at byte {offset} does not start with a zstd frame")));
    }
    let frame = zstd::zstd_safe::find_frame_compressed_size(stored).map_err(|code| {
        err(format!("unreadable zstd frame at byte {offset}: {}", zstd::zstd_safe::get_error_name(code)))
    })?;
    if frame != stored.len() {
        return Err(err(format!(
            "{} bytes follow the zstd frame, from byte {} (a compressed file is exactly one frame)",
            stored.len() - frame,
            offset + frame as u64
        )));
    }
    match zstd::zstd_safe::get_frame_content_size(stored) {
        Ok(Some(n)) if n == f.size => Ok(()),
        Ok(Some(n)) => Err(err(format!(
            "the zstd frame at byte {offset} declares {n} bytes of content, the manifest {}",
            f.size
        ))),
        Ok(None) => Err(err(format!("the zstd frame at byte {offset} does not declare its content size"))),
        Err(_) => Err(err(format!("unreadable zstd frame header at byte {offset}"))),
    }
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], member: &str, what: &str) -> Result<T, BundleError> {
    serde_json::from_slice(bytes).map_err(|e| BundleError::Json {
        member: member.to_owned(),
        what: what.to_owned(),
        message: e.to_string(),
    })
}

/// The bundle manifest is not covered by a signature (its config, the Ferry manifest, is), so it must be
/// exactly what the writer derives from the Ferry manifest: an edited annotation (the title or version a
/// registry shows) or an extra field would otherwise pass unnoticed.
fn check_image_canonical(manifest: &Manifest, image: &ImageManifest, raw: &[u8]) -> Result<(), BundleError> {
    let mut expected = image.clone();
    expected.schema_version = 2;
    expected.media_type = media::OCI_MANIFEST.to_owned();
    expected.artifact_type = Some(media::ARTIFACT_TYPE.to_owned());
    expected.subject = None;
    expected.config.media_type = media::FERRY_MANIFEST.to_owned();
    expected.config.artifact_type = None;
    expected.config.annotations = BTreeMap::new();
    expected.annotations = BTreeMap::from([
        (media::TITLE.to_owned(), manifest.model.name.clone()),
        ("org.opencontainers.image.version".to_owned(), manifest.model.version.clone()),
    ]);
    for layer in &mut expected.layers {
        layer.artifact_type = None;
        let title = layer.annotations.get(media::TITLE).cloned().unwrap_or_default();
        layer.annotations = BTreeMap::from([(media::TITLE.to_owned(), title)]);
    }
    let canonical =
        ferry_spec::to_canonical_json(&expected).map_err(|e| BundleError::Encode(e.to_string()))?;
    if canonical != raw {
        return Err(BundleError::Layout(
            "the bundle manifest is not the canonical OCI manifest of its Ferry manifest (an annotation or \
             field was changed)"
                .into(),
        ));
    }
    Ok(())
}

/// The Ferry manifest's file list and the OCI layers must describe the same blobs.
fn check_files(manifest: &Manifest, image: &ImageManifest) -> Result<(), BundleError> {
    if manifest.files.len() != image.layers.len() {
        return Err(BundleError::Layout(format!(
            "the Ferry manifest lists {} files but the OCI manifest has {} layers",
            manifest.files.len(),
            image.layers.len()
        )));
    }
    for w in manifest.files.windows(2) {
        if w[0].path >= w[1].path {
            return Err(BundleError::Layout(format!("files are not sorted and unique at `{}`", w[1].path)));
        }
    }
    // The one set of file-view path rules, also enforced at pack time: a bundle `verify` accepts is one
    // `unpack` and `sign` accept.
    ferry_spec::check_file_view(manifest.files.iter().map(|f| f.path.as_str()))?;
    for (f, l) in manifest.files.iter().zip(&image.layers) {
        if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(BundleError::Layout(format!(
                "file `{}`: sha256 `{}` is not 64 lower-case hex digits",
                f.path,
                ferry_spec::display::escape(&f.sha256)
            )));
        }
        let title = l.annotations.get(media::TITLE).map(String::as_str);
        let expected_type = match f.compression {
            Compression::None => media::FILE,
            Compression::Zstd => media::FILE_ZSTD,
        };
        if title != Some(f.path.as_str()) || l.digest != f.blob || l.media_type != expected_type {
            return Err(BundleError::Layout(format!(
                "OCI layer {} does not match file `{}`",
                l.digest, f.path
            )));
        }
        if f.compression == Compression::None
            && (l.size != f.size || ferry_digest::strip_prefix(&f.blob) != Some(f.sha256.as_str()))
        {
            return Err(BundleError::Layout(format!(
                "file `{}`: declared size or digest disagrees with its layer",
                f.path
            )));
        }
    }
    if manifest.file(&manifest.entrypoint).is_none() {
        return Err(BundleError::Layout(format!(
            "entrypoint `{}` is not a file of the bundle",
            manifest.entrypoint
        )));
    }
    Ok(())
}
