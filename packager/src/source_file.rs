//! Opening a file of a bundle source without leaving the source directory.
//!
//! Every read of a source file (`ferry.toml`, the model, its external data, config schema and defaults,
//! golden files, extra files, `model.sig`), at load and again when the bundle is written, goes through
//! [`open`]. A source that names `/etc/passwd` through a symbolic link, reaches out with `..`, or holds a
//! FIFO or a device where a file should be would otherwise be packed (or hang the packer) and shipped.
//!
//! The path is walked one component at a time from a descriptor of the source directory: each component
//! is looked at without following links (`statat(AT_SYMLINK_NOFOLLOW)`: a device is never opened, and the
//! refusal can say what was found) and then opened relative to its parent with `O_NOFOLLOW` (directories
//! with `O_DIRECTORY`, the file with `O_NONBLOCK`), and the file is `fstat`ed once open: whatever is
//! swapped in between the look and the open is refused by the open itself, and what is read is what was
//! checked. The source directory itself may be reached through a symbolic link (it is the user's own
//! path); only the components below it are checked.

use ferry_spec::file::FileError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Why a source file could not be opened.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Nothing at that path.
    Missing,
    /// `path` (the file or a directory on the way to it) is not what a source may hold: `reason` says why.
    Unsafe { path: PathBuf, reason: String },
    /// The file is larger than a file of its kind can need.
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    /// The file system failed.
    Io { path: PathBuf, source: std::io::Error },
}

impl Refusal {
    /// As an I/O error, for the writer (which names the file itself).
    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            Refusal::Missing => std::io::ErrorKind::NotFound.into(),
            Refusal::Unsafe { reason, .. } => std::io::Error::other(reason),
            Refusal::TooLarge { size, limit, .. } => std::io::Error::other(format!(
                "is {size} bytes, more than the {limit}-byte limit for this file"
            )),
            Refusal::Io { source, .. } => source,
        }
    }

    fn from_file_error(e: FileError) -> Refusal {
        match e {
            FileError::NotRegular { path, kind } => {
                Refusal::Unsafe { path, reason: format!("is {kind}, not a regular file") }
            }
            FileError::Io { path, source } => Refusal::Io { path, source },
            other => Refusal::Io {
                path: other.path().to_path_buf(),
                source: std::io::Error::other(other.to_string()),
            },
        }
    }
}

/// Opens `rel` (a `/`-separated path) below `root`; returns the file and its size.
pub(crate) fn open(root: &Path, rel: &str) -> Result<(File, u64), Refusal> {
    ferry_spec::check_relative_path(rel).map_err(|e| Refusal::Unsafe {
        path: root.join(rel),
        reason: format!("{e}: a source file must lie below the source directory"),
    })?;
    imp::open(root, rel)
}

/// Reads `rel` below `root`, at most `limit` bytes (see [`ferry_spec::file::read_open`]).
pub(crate) fn read(root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, Refusal> {
    let (file, size) = open(root, rel)?;
    let disk = root.join(rel);
    ferry_spec::file::read_open(file, size, &disk, limit).map_err(|e| match e {
        FileError::TooLarge { size, limit, .. } => Refusal::TooLarge { path: disk.clone(), size, limit },
        other => Refusal::from_file_error(other),
    })
}

#[cfg(unix)]
mod imp {
    use super::Refusal;
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;
    use std::fs::File;
    use std::os::fd::OwnedFd;
    use std::path::{Path, PathBuf};

    fn kind(ft: FileType) -> &'static str {
        match ft {
            FileType::RegularFile => "a regular file",
            FileType::Directory => "a directory",
            FileType::Symlink => "a symbolic link",
            FileType::Fifo => "a FIFO (named pipe)",
            FileType::Socket => "a socket",
            FileType::CharacterDevice => "a character device",
            FileType::BlockDevice => "a block device",
            _ => "not a regular file",
        }
    }

    fn io(path: &Path, e: Errno) -> Refusal {
        Refusal::Io { path: path.to_path_buf(), source: e.into() }
    }

    /// "is a symbolic link to `target`" (the target as far as it can be read).
    fn symlink_reason(dir: &OwnedFd, name: &str) -> String {
        match rustix::fs::readlinkat(dir, name, Vec::new()) {
            Ok(target) => format!("is a symbolic link to `{}`", target.to_string_lossy()),
            Err(_) => "is a symbolic link".to_owned(),
        }
    }

    pub(super) fn open(root: &Path, rel: &str) -> Result<(File, u64), Refusal> {
        // The root may itself be a symbolic link: it is the path the user gave.
        let mut dir: OwnedFd =
            rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| if e == Errno::NOENT { Refusal::Missing } else { io(root, e) })?;
        let components: Vec<&str> = rel.split('/').collect();
        let mut at: PathBuf = root.to_path_buf();
        for (i, name) in components.iter().enumerate() {
            at.push(name);
            let last = i + 1 == components.len();
            let st = match rustix::fs::statat(&dir, *name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => return Err(Refusal::Missing),
                Err(e) => return Err(io(&at, e)),
            };
            let ft = FileType::from_raw_mode(st.st_mode);
            let unsafe_ = |reason: String| Refusal::Unsafe { path: at.clone(), reason };
            if ft == FileType::Symlink {
                return Err(unsafe_(symlink_reason(&dir, name)));
            }
            if !last && ft != FileType::Directory {
                return Err(unsafe_(format!("is {}, not a directory", kind(ft))));
            }
            if last && ft != FileType::RegularFile {
                return Err(unsafe_(format!("is {}, not a regular file", kind(ft))));
            }
            let flags = if last {
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
            } else {
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
            };
            let fd = match rustix::fs::openat(&dir, *name, flags, Mode::empty()) {
                Ok(fd) => fd,
                // Swapped for a link (or a non-directory) since it was looked at.
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(unsafe_("changed into a symbolic link while it was opened".to_owned()));
                }
                Err(Errno::NOENT) => return Err(Refusal::Missing),
                Err(e) => return Err(io(&at, e)),
            };
            if last {
                let file = File::from(fd);
                let size = ferry_spec::file::check_regular(&file, &at).map_err(Refusal::from_file_error)?;
                return Ok((file, size));
            }
            dir = fd;
        }
        // `rel` passed check_relative_path, so it has at least one component.
        Err(Refusal::Missing)
    }
}

#[cfg(not(unix))]
mod imp {
    use super::Refusal;
    use std::fs::File;
    use std::path::{Path, PathBuf};

    /// Without `openat` the walk looks at each component, then opens the whole path: a link swapped in
    /// between is not caught here, but the opened file is still required to be a regular file.
    pub(super) fn open(root: &Path, rel: &str) -> Result<(File, u64), Refusal> {
        let mut at: PathBuf = root.to_path_buf();
        for name in rel.split('/') {
            at.push(name);
            let meta = match std::fs::symlink_metadata(&at) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refusal::Missing),
                Err(source) => return Err(Refusal::Io { path: at, source }),
            };
            if meta.file_type().is_symlink() {
                return Err(Refusal::Unsafe { path: at, reason: "is a symbolic link".to_owned() });
            }
        }
        let file = File::open(&at).map_err(|source| Refusal::Io { path: at.clone(), source })?;
        let size = ferry_spec::file::check_regular(&file, &at).map_err(Refusal::from_file_error)?;
        Ok((file, size))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn unsafe_reason(r: Result<(File, u64), Refusal>) -> (PathBuf, String) {
        match r {
            Err(Refusal::Unsafe { path, reason }) => (path, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn opens_regular_files_and_refuses_links_and_specials() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/c.txt"), "hi").unwrap();
        let (_, size) = open(root, "a/b/c.txt").unwrap();
        assert_eq!(size, 2);
        assert!(matches!(open(root, "a/missing"), Err(Refusal::Missing)));

        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", root.join("a/passwd")).unwrap();
            let (path, reason) = unsafe_reason(open(root, "a/passwd"));
            assert_eq!(path, root.join("a/passwd"));
            assert_eq!(reason, "is a symbolic link to `/etc/passwd`");
            // A link as a directory on the way.
            std::os::unix::fs::symlink("b", root.join("a/l")).unwrap();
            let (path, reason) = unsafe_reason(open(root, "a/l/c.txt"));
            assert_eq!(path, root.join("a/l"));
            assert_eq!(reason, "is a symbolic link to `b`");
            rustix::fs::mkfifoat(rustix::fs::CWD, root.join("fifo"), rustix::fs::Mode::from_raw_mode(0o600))
                .unwrap();
            let (_, reason) = unsafe_reason(open(root, "fifo"));
            assert_eq!(reason, "is a FIFO (named pipe), not a regular file");
            let (_, reason) = unsafe_reason(open(root, "a/b/c.txt/x"));
            assert_eq!(reason, "is a regular file, not a directory");
            // The root itself may be a link.
            let link = d.path().with_extension("link");
            std::os::unix::fs::symlink(root, &link).unwrap();
            assert!(open(&link, "a/b/c.txt").is_ok());
            std::fs::remove_file(link).unwrap();
        }
        let (_, reason) = unsafe_reason(open(root, "../x"));
        assert!(reason.contains("contains `..`"), "{reason}");
        let (_, reason) = unsafe_reason(open(root, "a"));
        assert_eq!(reason, "is a directory, not a regular file");
    }

    #[test]
    fn reads_within_a_limit() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ferry.toml"), "0123456789").unwrap();
        assert_eq!(read(d.path(), "ferry.toml", 10).unwrap(), b"0123456789");
        assert!(matches!(read(d.path(), "ferry.toml", 4), Err(Refusal::TooLarge { size: 10, limit: 4, .. })));
    }
}
