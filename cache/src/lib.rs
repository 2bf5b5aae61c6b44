//! What a Ferry process may remember between runs, and the rules that make remembering safe.
//!
//! Two things are worth keeping: code Cranelift compiled for a feature transform (`ferry-transform`),
//! and the outcome of hashing a large file (a bundle's blobs, the ONNX Runtime library), so that a
//! process opening the same unchanged file does not hash it again ([`VerifiedDigests`]).
//!
//! Both are trusted like the user's own files: a cache can make Ferry skip a check or run native code,
//! so it is used only where its directory and files belong to the user running Ferry and no one else
//! may write to them ([`PrivateDir`]). Anything else found there (another owner, a group-writable file,
//! a symbolic link, a file too large or damaged) is ignored, never an error: a cache that cannot be
//! used only costs the work it would have saved.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod verified;

pub use verified::{FileIdentity, RACY_MARGIN, Remembered, Ticket, VerifiedDigests};

/// The kind under which a bundle's full digest check is remembered: its manifest digest, shared by
/// every consumer (the runtime, a registry push), so a bundle checked by one is known to the others.
pub const BUNDLE_KIND: &str = "bundle";

/// Where a cache is kept.
///
/// ```
/// use ferry_cache::Location;
/// let here = Location::Dir("/var/cache/scorer".into());
/// assert_eq!(here.resolve("verified"), Some("/var/cache/scorer/verified".into()));
/// assert_eq!(Location::Off.resolve("verified"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Location {
    /// The user's cache: `$XDG_CACHE_HOME/ferry` when that is an absolute path, else
    /// `$HOME/.cache/ferry` ([`user_dir`]); no disk cache when neither is set.
    #[default]
    User,
    /// This directory, created owner-only if missing.
    Dir(PathBuf),
    /// No disk cache.
    Off,
}

impl Location {
    /// The directory for the cache named `name` (`transforms`, `verified`) at this location, or `None`
    /// when there is none.
    pub fn resolve(&self, name: &str) -> Option<PathBuf> {
        match self {
            Location::User => user_dir().map(|d| d.join(name)),
            Location::Dir(dir) => Some(dir.join(name)),
            Location::Off => None,
        }
    }

    /// The cache named `name`, opened as a [`PrivateDir`] after its root: a root others may write to
    /// could have the cache directory swapped under it.
    pub fn private_dir(&self, name: &str) -> Option<PrivateDir> {
        let dir = self.resolve(name)?;
        PrivateDir::open(dir.parent()?).ok()?;
        PrivateDir::open(&dir).ok()
    }
}

/// The per-user cache directory: `$XDG_CACHE_HOME/ferry` when that is an absolute path (the XDG rule:
/// a relative one is ignored), else `$HOME/.cache/ferry`; `None` when the environment names no home.
pub fn user_dir() -> Option<PathBuf> {
    let base =
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute()).or_else(|| {
            std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("ferry"))
}

/// The largest cache file [`PrivateDir::read`] reads unless told otherwise: entries are small, and a
/// cache must never be a way to make Ferry allocate without bound.
pub const DEFAULT_READ_LIMIT: u64 = 64 << 10;

/// A cache directory that belongs to the effective user and that no one else may write to.
#[derive(Debug, Clone)]
pub struct PrivateDir {
    dir: PathBuf,
}

impl PrivateDir {
    /// Opens `dir`, creating it (and missing parents) with mode `0700`. Fails when it exists but
    /// belongs to another user or is writable by group or others: such a directory is not used.
    pub fn open(dir: &Path) -> io::Result<PrivateDir> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let meta = std::fs::symlink_metadata(dir)?;
        if !meta.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the cache path is not a directory"));
        }
        owned_and_private(&meta)?;
        Ok(PrivateDir { dir: dir.to_owned() })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The contents of the file `name`, if it is a regular file (not a link) of the effective user that
    /// no one else may write, and at most `limit` bytes.
    pub fn read(&self, name: &str, limit: u64) -> Option<Vec<u8>> {
        use std::io::Read as _;
        let path = self.dir.join(name);
        let file = open_no_follow(&path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || owned_and_private(&meta).is_err() || meta.len() > limit {
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
        // `take` bounds the read even if the file grows after the check.
        file.take(limit).read_to_end(&mut bytes).ok()?;
        Some(bytes)
    }

    /// Writes the file `name` atomically with mode `0600`: a reader sees the old contents or the new,
    /// never a mix, and a process killed midway leaves nothing.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let options = ferry_atomic::Options {
            permissions: Some(std::fs::Permissions::from_mode(0o600)),
            ..ferry_atomic::Options::default()
        };
        ferry_atomic::write(&self.dir.join(name), bytes, options)
    }
}

/// Opens without following a final symbolic link: a link planted in the cache could otherwise point
/// at a file the user owns but never meant as a cache entry.
fn open_no_follow(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(path)
}

/// The file or directory belongs to the effective user and no one else may write to it.
pub fn owned_and_private(meta: &std::fs::Metadata) -> io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the cache is not private to this user (another owner, or writable by group or others)",
        ));
    }
    Ok(())
}
