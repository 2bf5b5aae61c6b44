//! Reading the files a user names (`ferry.toml`, policies, keys, configuration files, request tensors,
//! reports) without hanging or reading without bound.
//!
//! This is the one home of Ferry's checked file reading. It lives in `ferry-spec` because that is the
//! lowest crate every crate that reads user files (tensor, packager, runtime, verifier, trust, keyless and
//! the `ferry` CLI) already depends on; it is the only I/O in this crate.
//!
//! A file is opened without blocking (`O_NONBLOCK`: opening a FIFO with no writer would otherwise wait
//! forever) and without becoming a controlling terminal (`O_NOCTTY`), then `fstat`ed: only a regular file
//! is read, so a FIFO, a socket, a device (`/dev/zero`, `/dev/stdin`) or a directory is refused by name
//! before a byte is read. The check is on the opened descriptor, so the file cannot be swapped between the
//! check and the read. Reads are bounded: by the caller's limit for files small by nature
//! ([`SMALL_FILE_LIMIT`]) and always by the size `fstat` reported, so a file that grows while it is read
//! is refused rather than followed.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The limit for files that are small by nature: `ferry.toml`, policies, keys, signatures, trusted roots,
/// configuration files and schemas, verifier reports.
pub const SMALL_FILE_LIMIT: u64 = 16 << 20;

/// No limit beyond the size of the regular file itself (request tensors, data samples, models).
pub const NO_LIMIT: u64 = u64::MAX;

/// Why a user-named file was not read. Displays as `PATH: REASON`; [`FileError::reason`] is the reason
/// alone, for errors that name the file themselves.
#[derive(Debug)]
pub enum FileError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path names something other than a regular file.
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is: "a FIFO (named pipe)", "a directory", "a character device", ...
        kind: &'static str,
    },
    /// The file is larger than what it holds can reasonably need.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the bytes stop being UTF-8.
        source: std::str::Utf8Error,
    },
}

impl FileError {
    /// The file at fault.
    pub fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. }
            | FileError::NotUtf8 { path, .. } => path,
        }
    }

    /// What is wrong, without the path.
    pub fn reason(&self) -> String {
        match self {
            FileError::Io { source, .. } => source.to_string(),
            FileError::NotRegular { kind, .. } => format!("is {kind}, not a regular file"),
            FileError::TooLarge { size, limit, .. } => {
                format!("is {size} bytes, more than the {limit}-byte limit for this file")
            }
            FileError::NotUtf8 { source, .. } => format!("not UTF-8 text: {source}"),
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path().display(), self.reason())
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { source, .. } => Some(source),
            FileError::NotUtf8 { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What a file of type `ft` is, in words, or `None` for a regular file.
pub fn describe_type(ft: std::fs::FileType) -> Option<&'static str> {
    if ft.is_file() {
        return None;
    }
    if ft.is_dir() {
        return Some("a directory");
    }
    if ft.is_symlink() {
        return Some("a symbolic link");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if ft.is_socket() {
            return Some("a socket");
        }
        if ft.is_char_device() {
            return Some("a character device");
        }
        if ft.is_block_device() {
            return Some("a block device");
        }
    }
    Some("not a regular file")
}

/// The flags every checked open uses beyond read-only: never block on a FIFO, never acquire a terminal,
/// never leak the descriptor into a child.
#[cfg(unix)]
fn open_flags() -> i32 {
    use rustix::fs::OFlags;
    // The bits are small positive constants; the cast cannot truncate.
    #[allow(clippy::cast_possible_wrap)]
    let bits = (OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC).bits() as i32;
    bits
}

/// Opens `path` (following symbolic links: it is the user's own path) and returns the file and its size,
/// refusing anything but a regular file. Never blocks on a FIFO.
pub fn open_regular(path: &Path) -> Result<(File, u64), FileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, open_flags());
    let file = options.open(path).map_err(|source| FileError::Io { path: path.to_path_buf(), source })?;
    let size = check_regular(&file, path)?;
    Ok((file, size))
}

/// `fstat`s an open file and returns its size when it is a regular file.
pub fn check_regular(file: &File, path: &Path) -> Result<u64, FileError> {
    let meta = file.metadata().map_err(|source| FileError::Io { path: path.to_path_buf(), source })?;
    if let Some(kind) = describe_type(meta.file_type()) {
        return Err(FileError::NotRegular { path: path.to_path_buf(), kind });
    }
    Ok(meta.len())
}

/// Reads a regular file of at most `limit` bytes (see [`SMALL_FILE_LIMIT`], [`NO_LIMIT`]).
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let (file, size) = open_regular(path)?;
    read_open(file, size, path, limit)
}

/// Reads a regular UTF-8 text file of at most `limit` bytes.
pub fn read_to_string(path: &Path, limit: u64) -> Result<String, FileError> {
    let bytes = read(path, limit)?;
    String::from_utf8(bytes)
        .map_err(|e| FileError::NotUtf8 { path: path.to_path_buf(), source: e.utf8_error() })
}

/// Reads an already opened regular file whose `fstat` size was `size`: at most `limit` bytes, and never
/// more than `size` (a file that grows while it is read is refused). `path` names it in errors.
pub fn read_open(file: File, size: u64, path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let too_large = |size: u64| FileError::TooLarge { path: path.to_path_buf(), size, limit };
    if size > limit {
        return Err(too_large(size));
    }
    let capacity = usize::try_from(size).map_err(|_| too_large(size))?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(capacity).map_err(|e| FileError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::OutOfMemory, e.to_string()),
    })?;
    // One byte more than the file held when it was opened tells a file that grew.
    file.take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io { path: path.to_path_buf(), source })?;
    if bytes.len() as u64 > size {
        return Err(FileError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!("the file grew past {size} bytes while it was read")),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn tempdir() -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "ferry-spec-file-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_a_regular_file_within_its_limit() {
        let d = tempdir();
        let p = d.join("a.toml");
        std::fs::write(&p, "x = 1\n").unwrap();
        assert_eq!(read_to_string(&p, SMALL_FILE_LIMIT).unwrap(), "x = 1\n");
        let e = read(&p, 3).unwrap_err();
        assert!(matches!(e, FileError::TooLarge { size: 6, limit: 3, .. }), "{e}");
        assert!(e.to_string().starts_with(&format!("{}: is 6 bytes", p.display())), "{e}");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn refuses_directories_and_devices() {
        let d = tempdir();
        let e = read(&d, NO_LIMIT).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: is a directory, not a regular file", d.display()));
        #[cfg(unix)]
        {
            let e = read(Path::new("/dev/zero"), NO_LIMIT).unwrap_err();
            assert_eq!(e.to_string(), "/dev/zero: is a character device, not a regular file");
        }
        std::fs::remove_dir_all(d).unwrap();
    }

    /// A FIFO with no writer would block `open(2)` forever without `O_NONBLOCK`.
    #[cfg(target_os = "linux")]
    #[test]
    fn refuses_a_fifo_without_blocking() {
        let d = tempdir();
        let p = d.join("ferry.toml");
        rustix::fs::mkfifoat(rustix::fs::CWD, &p, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let e = read_to_string(&p, SMALL_FILE_LIMIT).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: is a FIFO (named pipe), not a regular file", p.display()));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn refuses_non_utf8_text() {
        let d = tempdir();
        let p = d.join("k.pem");
        std::fs::write(&p, b"\xff\xfe").unwrap();
        assert!(matches!(read_to_string(&p, SMALL_FILE_LIMIT), Err(FileError::NotUtf8 { .. })));
        std::fs::remove_dir_all(d).unwrap();
    }
}
