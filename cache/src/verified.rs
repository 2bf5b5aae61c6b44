//! Digests already verified, keyed by file identity: a process that opens an unchanged 10 GB bundle (or
//! the 29 MB ONNX Runtime library) learns what hashing it would find without hashing it.
//!
//! # Why an unchanged identity means unchanged bytes
//!
//! An entry records, for one path, what the kernel says about the open file: device, inode, size,
//! modification time and status-change time (`ctime`), to the nanosecond. Any write to the file, any
//! `truncate`, and any `utimes` that puts the old modification time back sets `ctime` to the current
//! time, and no unprivileged call can set `ctime` back. Replacing the file (a rename over it) changes
//! the inode. So a file whose identity equals the recorded one holds the bytes that were hashed, unless
//! someone with root (who can change the clock or the disk) made it so.
//!
//! One gap remains, the one Git calls "racy clean": timestamps have a granularity (a kernel tick, 2 s
//! on FAT), so a write in the same tick as the last one, *after* the file was hashed, may leave the
//! identity unchanged. An entry is therefore written only when the file's last change is at least
//! [`RACY_MARGIN`] older than the moment hashing began; a file written moments ago is hashed again
//! next time, and remembered then.

use crate::{DEFAULT_READ_LIMIT, Location, PrivateDir};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How much older than the start of hashing a file's last change must be for the result to be
/// remembered: above every local file system's timestamp granularity (FAT's 2 s included).
pub const RACY_MARGIN: Duration = Duration::from_secs(2);

/// Beyond this many entries the oldest half is dropped when a new one is written: one entry per
/// (kind, path) of a few hundred bytes, so the cache stays under a few megabytes however many
/// temporary bundles a CI job opens.
const MAX_ENTRIES: usize = 4096;

const ENTRY_VERSION: u32 = 1;

/// What the kernel says about an open file's contents: equal identities mean equal bytes (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileIdentity {
    /// The identity of an open file (`fstat`, so it describes the file this handle reads, whatever is at
    /// its path now).
    pub fn of(file: &File) -> std::io::Result<FileIdentity> {
        let m = file.metadata()?;
        Ok(FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// The later of the last modification and the last status change, if after the epoch.
    fn last_change(&self) -> Option<SystemTime> {
        let at = |(s, ns): (i64, i64)| {
            SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(u64::try_from(s).ok()?))?
                .checked_add(Duration::from_nanos(u64::try_from(ns).ok()?))
        };
        Some(at(self.mtime)?.max(at(self.ctime)?))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    version: u32,
    kind: String,
    path: PathBuf,
    identity: FileIdentity,
    value: String,
}

/// The verified-digest cache in a [`PrivateDir`].
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use ferry_cache::{Remembered, VerifiedDigests};
/// let dir = tempfile::tempdir()?;
/// let cache = VerifiedDigests::at(&dir.path().join("verified"))?;
/// let path = dir.path().join("model.bin");
/// std::fs::write(&path, b"weights")?;
/// let file = std::fs::File::open(&path)?;
/// match cache.recall("blob", &path, &file) {
///     Remembered::Known(digest) => println!("already verified: {digest}"),
///     Remembered::Unknown(ticket) => {
///         let digest = hex::encode(ferry_digest::sha256(&std::fs::read(&path)?));
///         // Not remembered yet: the file changed less than two seconds ago.
///         cache.remember(ticket, &file, &digest);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedDigests {
    dir: PrivateDir,
    margin: Duration,
}

/// What [`VerifiedDigests::recall`] found.
#[derive(Debug)]
pub enum Remembered {
    /// The value recorded when this file, with this identity, was last checked.
    Known(String),
    /// Nothing usable: check the file, then hand the ticket to [`VerifiedDigests::remember`].
    Unknown(Ticket),
}

/// A file's identity and the time it was taken, before the file is hashed.
#[derive(Debug)]
pub struct Ticket {
    name: String,
    kind: String,
    path: PathBuf,
    identity: Option<FileIdentity>,
    started: SystemTime,
}

impl VerifiedDigests {
    /// The cache at `location` (its `verified` directory), or `None` when the location is
    /// [`Location::Off`], names no directory, or the directory is not private to this user.
    pub fn open(location: &Location) -> Option<VerifiedDigests> {
        Some(VerifiedDigests { dir: location.private_dir("verified")?, margin: RACY_MARGIN })
    }

    /// The cache in `dir`, created owner-only if missing.
    pub fn at(dir: &Path) -> std::io::Result<VerifiedDigests> {
        Ok(VerifiedDigests { dir: PrivateDir::open(dir)?, margin: RACY_MARGIN })
    }

    /// The same cache with another racy margin: for tests, which cannot wait for a file to age.
    #[doc(hidden)]
    pub fn with_margin(mut self, margin: Duration) -> VerifiedDigests {
        self.margin = margin;
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// What checking `file` (open at `path`) found last time, if its identity has not changed since.
    /// `kind` names what was recorded (`bundle`, `onnxruntime`), so one file can carry several facts.
    pub fn recall(&self, kind: &str, path: &Path, file: &File) -> Remembered {
        let started = SystemTime::now();
        let identity = FileIdentity::of(file).ok();
        let name = entry_name(kind, path);
        let known = identity.and_then(|id| {
            let bytes = self.dir.read(&name, DEFAULT_READ_LIMIT)?;
            let entry: Entry = serde_json::from_slice(&bytes).ok()?;
            (entry.version == ENTRY_VERSION
                && entry.kind == kind
                && entry.path == path
                && entry.identity == id)
                .then_some(entry.value)
        });
        match known {
            Some(value) => Remembered::Known(value),
            None => Remembered::Unknown(Ticket {
                name,
                kind: kind.to_owned(),
                path: path.to_owned(),
                identity,
                started,
            }),
        }
    }

    /// Whether `file` (open at `path`) is known, by its unchanged identity, to have been fully checked
    /// with the outcome `expected` (a bundle's manifest digest). Otherwise runs `check` and, when it
    /// passes, remembers `expected` for the next process. `Ok(true)` means the cache answered and
    /// nothing was checked. The one way every caller (the runtime opening a bundle, a registry push)
    /// skips the hashing of an unchanged file.
    pub fn check_or_recall<E>(
        &self,
        kind: &str,
        path: &Path,
        file: &File,
        expected: &str,
        check: impl FnOnce() -> Result<(), E>,
    ) -> Result<bool, E> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let ticket = match self.recall(kind, &path, file) {
            Remembered::Known(value) if value == expected => return Ok(true),
            Remembered::Known(_) => None,
            Remembered::Unknown(ticket) => Some(ticket),
        };
        check()?;
        if let Some(ticket) = ticket {
            self.remember(ticket, file, expected);
        }
        Ok(false)
    }

    /// Records `value` (what checking the file found) for the next process, if the file is still the
    /// one the ticket identified and changed long enough before the check began (module docs). A cache
    /// that cannot be written is skipped: it only costs a hash next time.
    pub fn remember(&self, ticket: Ticket, file: &File, value: &str) {
        let Some(identity) = ticket.identity else { return };
        if FileIdentity::of(file).ok() != Some(identity) {
            return;
        }
        let Some(changed) = identity.last_change() else { return };
        if changed.checked_add(self.margin).is_none_or(|settled| settled > ticket.started) {
            return;
        }
        let entry = Entry {
            version: ENTRY_VERSION,
            kind: ticket.kind,
            path: ticket.path,
            identity,
            value: value.to_owned(),
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else { return };
        let new = !self.dir.path().join(&ticket.name).exists();
        if self.dir.write(&ticket.name, &bytes).is_ok() && new {
            self.prune();
        }
    }

    /// Drops the least recently written half of the entries once there are more than [`MAX_ENTRIES`].
    fn prune(&self) {
        let Ok(read) = std::fs::read_dir(self.dir.path()) else { return };
        let mut entries: Vec<(SystemTime, PathBuf)> = read
            .filter_map(Result::ok)
            .filter(|e| e.file_name().len() == 64)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if entries.len() <= MAX_ENTRIES {
            return;
        }
        entries.sort();
        for (_, path) in entries.iter().take(entries.len() / 2) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One entry per (kind, path): the hex SHA-256 of both, so any path makes a short, safe file name.
fn entry_name(kind: &str, path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut h = ferry_digest::Sha256::new();
    h.update(kind.as_bytes());
    h.update(&[0]);
    h.update(path.as_os_str().as_bytes());
    hex::encode(h.finalize())
}
