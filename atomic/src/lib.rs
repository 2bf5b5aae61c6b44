//! Atomic writes: the one place where Ferry puts a file or a directory on disk.
//!
//! Every output Ferry writes (bundles, signed bundles, unpacked directories, scaffolded sources, verify
//! reports, tensor files, keys) is built where no reader can see it and then appears whole under its
//! name, or not at all, whatever happens to the process meanwhile (an error, a panic, SIGINT, SIGTERM,
//! SIGKILL, a full disk).
//!
//! **Why a crate of its own.** The writers live in `ferry-bundle`, `ferry-tensor`, `ferry-packager`,
//! `ferry-verifier` and the CLI, and `ferry-tensor` does not (and should not) depend on `ferry-bundle`.
//! The only crate they all share is `ferry-spec`, which is the format as types (its one piece of I/O is
//! reading the files a user names); writing files atomically is platform code (`O_TMPFILE`, `linkat`,
//! `flock`) that has nothing to do with the format. This crate depends on no other Ferry crate, so it
//! sits below every writer and can be reasoned about (and tested) on its own.
//!
//! **Files** ([`AtomicFile`]). On Linux the content goes into an *unnamed* file (`O_TMPFILE`) in the
//! target's directory. The kernel frees an unnamed file when its last descriptor closes, so a process
//! killed by any signal, SIGKILL included, leaves nothing behind. On commit the file is linked
//! (`linkat` through `/proc/self/fd`, or `AT_EMPTY_PATH`) to the target name when that name is free;
//! `linkat` cannot replace a file, so otherwise it is linked to a unique temporary name and renamed over
//! the target at once. Elsewhere (other systems, file systems without `O_TMPFILE`, no `/proc`) it is a
//! named temporary file beside the target, removed when the writer is dropped without a commit.
//!
//! **Directories** ([`AtomicDir`]). `O_TMPFILE` cannot make directories: a directory is built under a
//! temporary name beside the target and renamed into place (over an empty directory, atomically).
//!
//! **Left-overs.** Every temporary name starts with [`TEMP_PREFIX`] (`.ferry-partial-`), and a writer
//! holds an exclusive lock (`flock`) on its temporary file or directory for as long as it lives.
//! Creating a writer first removes, from the target's directory, every such entry whose lock is free
//! (its writer is gone: SIGKILL, power loss) and that is older than [`GRACE`] (the instant between
//! creating an entry and locking it). What a killed process can leave (a named temporary file where
//! `O_TMPFILE` is missing, a half-built directory, a file caught between its link and its rename) is
//! therefore removed by the next write into the same directory. The temporary names of earlier Ferry
//! versions (`.ferry-unpack-`, `.ferry-init-`, `.ferry-key-`, `.ferry-report-`) are cleaned the same way.
//!
//! **Permissions.** A new file gets `0666` less the umask, a new directory `0777` less the umask: the
//! kernel applies the umask when it creates them, so it is never read here (reading the umask means
//! setting it, which races with every other thread). [`Options::permissions`] gives exact permissions
//! instead: a bundle signed in place keeps its own, a private key is `0600`.
//!
//! **Durability.** With [`Options::sync`] the file is `fsync`ed before it gets its name, and its
//! directory after. Keys, reports and tensor files are synced; bundles are not (`spec/FORMAT.md` §1,
//! "Writing").

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// The start of every temporary name this crate gives a file or directory.
pub const TEMP_PREFIX: &str = ".ferry-partial-";

/// Temporary names of earlier Ferry versions, cleaned up like [`TEMP_PREFIX`] ones.
const LEGACY_PREFIXES: &[&str] = &[".ferry-unpack-", ".ferry-init-", ".ferry-key-", ".ferry-report-"];

/// How old an unlocked temporary entry must be before it counts as left over: a writer locks its entry
/// microseconds after creating it, so anything unlocked and older than this has no writer.
pub const GRACE: Duration = Duration::from_secs(2);

/// How an [`AtomicFile`] is committed.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `fsync` the file before it gets its name and the directory after (keys, reports); bundles are
    /// not synced (`spec/FORMAT.md` §1).
    pub sync: bool,
    /// Refuse to replace an existing file: the check and the naming are one atomic step, so two
    /// writers cannot both succeed (keys).
    pub no_clobber: bool,
    /// Exact permissions for the file; without them it gets a new file's (`0666` less the umask).
    pub permissions: Option<fs::Permissions>,
}

/// A file being written; it appears under its target name only on [`AtomicFile::commit`].
///
/// Dropped without a commit (an error, a panic), it leaves nothing behind; killed, it leaves nothing on
/// Linux and a locked `.ferry-partial-*` file elsewhere, which the next writer in that directory removes.
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    target: PathBuf,
    dir: PathBuf,
    options: Options,
    temp: Temp,
}

#[derive(Debug)]
enum Temp {
    /// An `O_TMPFILE` file: it has no name until the commit.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    Unnamed,
    /// A named temporary file beside the target, removed on drop unless committed.
    Named(PathBuf),
    /// Committed: nothing to clean up.
    Done,
}

impl AtomicFile {
    /// Starts writing `target` (in its directory, so the commit is a rename on one file system).
    pub fn create(target: &Path, options: Options) -> io::Result<AtomicFile> {
        if target.file_name().is_none() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file"));
        }
        let dir = parent_dir(target);
        clean_stale(&dir);
        // With exact permissions to come, start owner-only so no one opens a named file meanwhile.
        let mode = if options.permissions.is_some() { 0o600 } else { 0o666 };
        let (file, temp) = match unnamed(&dir, mode) {
            Some(file) => (file, Temp::Unnamed),
            None => {
                let (file, path) = create_named(&dir, mode)?;
                (file, Temp::Named(path))
            }
        };
        // Best effort: where locks are unsupported, `clean_stale` cannot take one either, so it never
        // removes this file.
        let _ = file.try_lock();
        let this = AtomicFile { file, target: target.to_path_buf(), dir, options, temp };
        if let Some(p) = &this.options.permissions {
            this.file.set_permissions(p.clone())?;
        }
        Ok(this)
    }

    /// The file being written.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file being written, mutably (to seek, truncate or write).
    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Gives the file its name: the target appears whole, replacing any file there (unless
    /// [`Options::no_clobber`], which then fails with [`io::ErrorKind::AlreadyExists`]).
    pub fn commit(mut self) -> io::Result<()> {
        if self.options.sync {
            self.file.sync_all()?;
        }
        match std::mem::replace(&mut self.temp, Temp::Done) {
            Temp::Unnamed => self.commit_unnamed()?,
            Temp::Named(path) => {
                if let Err(e) = commit_named(&path, &self.target, self.options.no_clobber) {
                    let _ = fs::remove_file(&path);
                    return Err(e);
                }
            }
            Temp::Done => {}
        }
        if self.options.sync {
            sync_dir(&self.dir);
        }
        Ok(())
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn commit_unnamed(&self) -> io::Result<()> {
        match link_unnamed(&self.file, &self.target) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && !self.options.no_clobber => {}
            Err(e) => return Err(e),
        }
        // `linkat` never replaces: link to a fresh name, then rename that over the target.
        let mut tries = 0;
        let temp = loop {
            let temp = self.dir.join(temp_name());
            match link_unnamed(&self.file, &temp) {
                Ok(()) => break temp,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 100 => tries += 1,
                Err(e) => return Err(e),
            }
        };
        fs::rename(&temp, &self.target).inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn commit_unnamed(&self) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "unnamed files exist only on Linux"))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Temp::Named(path) = &self.temp {
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes `bytes` to `target` atomically ([`AtomicFile`]).
pub fn write(target: &Path, bytes: &[u8], options: Options) -> io::Result<()> {
    let mut f = AtomicFile::create(target, options)?;
    f.write_all(bytes)?;
    f.commit()
}

/// A directory being built; it appears under its target name only on [`AtomicDir::commit`], and is
/// removed when dropped without one.
#[derive(Debug)]
pub struct AtomicDir {
    temp: PathBuf,
    target: PathBuf,
    /// The lock that tells [`clean_stale`] this directory has a live writer.
    _lock: Option<File>,
    done: bool,
}

impl AtomicDir {
    /// Starts building `target` under a temporary name beside it, with a new directory's permissions
    /// (`0777` less the umask, not a temporary directory's `0700`).
    pub fn create(target: &Path) -> io::Result<AtomicDir> {
        if target.file_name().is_none() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a directory"));
        }
        let dir = parent_dir(target);
        clean_stale(&dir);
        let mut tries = 0;
        loop {
            let temp = dir.join(temp_name());
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o777);
            match builder.create(&temp) {
                Ok(()) => {
                    let lock = lock_dir(&temp);
                    return Ok(AtomicDir { temp, target: target.to_path_buf(), _lock: lock, done: false });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 100 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Where to build the directory's content.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// The path the directory will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the directory into place. The target must not exist or be an empty directory (which is
    /// replaced atomically); anything else is an error and the temporary directory is removed.
    pub fn commit(mut self) -> io::Result<()> {
        #[cfg(not(unix))]
        if fs::symlink_metadata(&self.target).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir(&self.target)?;
        }
        fs::rename(&self.temp, &self.target)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.temp);
        }
    }
}

/// Removes the temporary entries in `dir` that no live writer holds (see the crate documentation) and
/// returns how many it removed. Errors are ignored: cleaning is a courtesy, never a reason to fail.
pub fn clean_stale(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(TEMP_PREFIX) || LEGACY_PREFIXES.iter().any(|p| name.starts_with(p))) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        let old =
            meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= GRACE);
        if !old || !(meta.is_file() || (cfg!(unix) && meta.is_dir())) {
            continue;
        }
        // A lock we can take means no writer holds it. Keep it until the entry is gone.
        let Ok(handle) = File::open(&path) else { continue };
        if handle.try_lock().is_err() {
            continue;
        }
        let gone = if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A fresh temporary name: the prefix and 64 random bits (std's per-process random hash keys, mixed with
/// the process id and a counter).
fn temp_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{TEMP_PREFIX}{:016x}", h.finish())
}

/// An unnamed file in `dir`, or `None` where that is not possible here (then a named one is used).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn unnamed(dir: &Path, mode: u32) -> Option<File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    // The commit links the file through /proc/self/fd; without /proc, only a privileged process could
    // (AT_EMPTY_PATH), so use a named file from the start.
    if !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    // Any failure (EOPNOTSUPP: a file system without O_TMPFILE; EISDIR: a kernel before 3.11) falls back;
    // a real error (no such directory, no permission) then comes from creating the named file.
    let fd = openat(CWD, dir, flags, Mode::from_raw_mode(mode)).ok()?;
    Some(File::from(fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unnamed(_dir: &Path, _mode: u32) -> Option<File> {
    None
}

/// Gives an unnamed file the name `to`; fails with `AlreadyExists` if `to` exists.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn link_unnamed(file: &File, to: &Path) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD, linkat};
    use std::os::fd::AsRawFd as _;
    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    match linkat(CWD, proc.as_str(), CWD, to, AtFlags::SYMLINK_FOLLOW) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::EXIST => Err(e.into()),
        // /proc refused (an unusual mount): AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH on older
        // kernels. If that fails too, the first error is the informative one.
        Err(e) => linkat(file, "", CWD, to, AtFlags::EMPTY_PATH).map_err(|_| e.into()),
    }
}

fn create_named(dir: &Path, mode: u32) -> io::Result<(File, PathBuf)> {
    let mut tries = 0;
    loop {
        let path = dir.join(temp_name());
        let mut o = fs::OpenOptions::new();
        o.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, mode);
        #[cfg(not(unix))]
        let _ = mode;
        match o.open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 100 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

fn commit_named(temp: &Path, target: &Path, no_clobber: bool) -> io::Result<()> {
    if !no_clobber {
        return fs::rename(temp, target);
    }
    // A hard link fails when the target exists: the check and the naming are one step.
    match fs::hard_link(temp, target) {
        Ok(()) => {
            let _ = fs::remove_file(temp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // No hard links on this file system: check, then rename (a small race, as good as it gets).
        Err(_) => {
            if fs::symlink_metadata(target).is_ok() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the file exists"));
            }
            fs::rename(temp, target)
        }
    }
}

/// Makes a rename in `dir` durable. Best effort: not every system can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Locks a directory we just made, so [`clean_stale`] leaves it alone; `None` where directories cannot
/// be opened or locked (it is then never cleaned by another writer).
fn lock_dir(path: &Path) -> Option<File> {
    let f = File::open(path).ok()?;
    f.try_lock().ok()?;
    Some(f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn age(path: &Path) {
        let old = SystemTime::now() - GRACE - Duration::from_secs(5);
        let f = File::open(path).unwrap();
        f.set_modified(old).unwrap();
    }

    #[test]
    fn writes_replaces_and_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("a.bin");
        write(&out, b"one", Options::default()).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"one");
        write(&out, b"two", Options { sync: true, ..Options::default() }).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"two");
        assert_eq!(names(t.path()), ["a.bin"]);
    }

    #[test]
    fn nothing_appears_before_the_commit_and_nothing_stays_after_a_drop() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("a.bin");
        let mut f = AtomicFile::create(&out, Options::default()).unwrap();
        f.write_all(b"partial").unwrap();
        assert!(!out.exists());
        drop(f);
        assert!(names(t.path()).is_empty());
        #[cfg(target_os = "linux")]
        {
            // On Linux the file has no name at all while it is written.
            let f = AtomicFile::create(&out, Options::default()).unwrap();
            assert!(matches!(f.temp, Temp::Unnamed));
            assert!(names(t.path()).is_empty());
        }
    }

    #[test]
    fn no_clobber_refuses_an_existing_file() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("key.pem");
        let o = || Options { no_clobber: true, sync: true, ..Options::default() };
        write(&out, b"first", o()).unwrap();
        let e = write(&out, b"second", o()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&out).unwrap(), b"first");
        assert_eq!(names(t.path()), ["key.pem"]);
    }

    #[cfg(unix)]
    #[test]
    fn permissions_are_a_new_files_or_exact() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("a");
        write(&out, b"x", Options::default()).unwrap();
        let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        // 0666 less whatever umask the test runs under, and never owner-only like a temporary file.
        assert_eq!(mode & !0o666, 0);
        assert_eq!(mode & 0o600, 0o600);
        let exact = Options { permissions: Some(fs::Permissions::from_mode(0o751)), ..Options::default() };
        write(&out, b"y", exact).unwrap();
        assert_eq!(fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o751);
    }

    #[test]
    fn named_fallback_is_removed_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let (file, path) = create_named(t.path(), 0o666).unwrap();
        let f = AtomicFile {
            file,
            target: t.path().join("a"),
            dir: t.path().to_path_buf(),
            options: Options::default(),
            temp: Temp::Named(path.clone()),
        };
        assert!(path.exists());
        drop(f);
        assert!(names(t.path()).is_empty());
        // And committed, it replaces the target.
        let (mut file, path) = create_named(t.path(), 0o666).unwrap();
        file.write_all(b"z").unwrap();
        let f = AtomicFile {
            file,
            target: t.path().join("a"),
            dir: t.path().to_path_buf(),
            options: Options { no_clobber: true, ..Options::default() },
            temp: Temp::Named(path),
        };
        f.commit().unwrap();
        assert_eq!(names(t.path()), ["a"]);
    }

    #[test]
    fn stale_entries_are_cleaned_but_live_ones_are_kept() {
        let t = tempfile::tempdir().unwrap();
        // Left by killed writers: a named file, a half-built directory, an earlier version's key file.
        let stale_file = t.path().join(format!("{TEMP_PREFIX}dead"));
        fs::write(&stale_file, b"x").unwrap();
        age(&stale_file);
        let stale_dir = t.path().join(format!("{TEMP_PREFIX}deaddir"));
        fs::create_dir_all(stale_dir.join("sub")).unwrap();
        fs::write(stale_dir.join("sub/f"), b"x").unwrap();
        age(&stale_dir);
        let legacy = t.path().join(".ferry-key-abc");
        fs::write(&legacy, b"x").unwrap();
        age(&legacy);
        // Held by a live writer (locked), or too new to judge, or not ours.
        let live = t.path().join(format!("{TEMP_PREFIX}live"));
        fs::write(&live, b"x").unwrap();
        age(&live);
        let holder = File::open(&live).unwrap();
        holder.lock().unwrap();
        let fresh = t.path().join(format!("{TEMP_PREFIX}fresh"));
        fs::write(&fresh, b"x").unwrap();
        fs::write(t.path().join("other.txt"), b"x").unwrap();

        let live_dir = AtomicDir::create(&t.path().join("out")).unwrap();
        age(live_dir.path());
        // The creation above already cleaned once; nothing is left to clean now.
        assert_eq!(clean_stale(t.path()), 0);
        let mut expected = vec![
            format!("{TEMP_PREFIX}fresh"),
            format!("{TEMP_PREFIX}live"),
            live_dir.path().file_name().unwrap().to_string_lossy().into_owned(),
            "other.txt".to_owned(),
        ];
        if !cfg!(unix) {
            expected.push(format!("{TEMP_PREFIX}deaddir"));
        }
        expected.sort();
        assert_eq!(names(t.path()), expected);
        drop(holder);
        assert_eq!(clean_stale(t.path()), 1);
        live_dir.commit().unwrap();
        assert_eq!(names(t.path()), [format!("{TEMP_PREFIX}fresh"), "other.txt".into(), "out".into()]);
    }

    #[test]
    fn directories_appear_whole_or_not_at_all() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("out");
        let d = AtomicDir::create(&target).unwrap();
        fs::write(d.path().join("f"), b"x").unwrap();
        drop(d);
        assert!(names(t.path()).is_empty());
        // An empty target directory is replaced; a non-empty one is an error and nothing is left.
        fs::create_dir(&target).unwrap();
        let d = AtomicDir::create(&target).unwrap();
        fs::write(d.path().join("f"), b"x").unwrap();
        d.commit().unwrap();
        assert_eq!(fs::read(target.join("f")).unwrap(), b"x");
        let d = AtomicDir::create(&target).unwrap();
        assert!(d.commit().is_err());
        assert_eq!(names(t.path()), ["out"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o700, 0o700);
            assert_eq!(mode & !0o777, 0);
        }
    }
}
