//! The verified-digest cache never answers for a file whose bytes changed, and ignores anything in its
//! directory it did not write for this user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_cache::{Location, PrivateDir, Remembered, VerifiedDigests};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A short racy margin, so tests need not wait two seconds for a file to age (the real one is tested
/// by `a_file_changed_moments_ago_is_not_remembered`).
const MARGIN: Duration = Duration::from_millis(30);

fn cache(dir: &Path) -> VerifiedDigests {
    VerifiedDigests::at(&dir.join("verified")).unwrap().with_margin(MARGIN)
}

/// Writes a file and lets it age past [`MARGIN`] (and past a clock tick, so the next write gets another
/// ctime).
fn data(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("model.bin");
    std::fs::write(&path, bytes).unwrap();
    std::thread::sleep(MARGIN + Duration::from_millis(15));
    path
}

/// Records `value` for the file as it is now; returns whether a later recall finds it.
fn remember(cache: &VerifiedDigests, path: &Path, value: &str) -> bool {
    let file = File::open(path).unwrap();
    match cache.recall("blob", path, &file) {
        Remembered::Known(_) => panic!("known before it was remembered"),
        Remembered::Unknown(ticket) => cache.remember(ticket, &file, value),
    }
    known(cache, path).as_deref() == Some(value)
}

fn known(cache: &VerifiedDigests, path: &Path) -> Option<String> {
    let file = File::open(path).unwrap();
    match cache.recall("blob", path, &file) {
        Remembered::Known(v) => Some(v),
        Remembered::Unknown(_) => None,
    }
}

fn overwrite(path: &Path, offset: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn an_unchanged_file_is_remembered_under_its_kind_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path());
    let path = dir.path().join("model.bin");
    std::fs::write(&path, b"weights").unwrap();
    // (A new link changes the file's ctime, so it is made before the file is remembered.)
    let link = dir.path().join("alias.bin");
    std::fs::hard_link(&path, &link).unwrap();
    std::thread::sleep(MARGIN * 2);
    assert!(remember(&c, &path, "sha256:aa"));
    // Another kind, or the same file under another name, is another fact.
    let file = File::open(&path).unwrap();
    assert!(matches!(c.recall("onnxruntime", &path, &file), Remembered::Unknown(_)));
    assert_eq!(known(&c, &link), None);
    // A second cache on the same directory (another process) sees it.
    assert_eq!(known(&cache(dir.path()), &path).as_deref(), Some("sha256:aa"));
}

#[test]
fn a_file_changed_moments_ago_is_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let c = VerifiedDigests::at(&dir.path().join("verified")).unwrap();
    let path = data(dir.path(), b"weights");
    assert!(!remember(&c, &path, "sha256:aa"), "a write in the same clock tick could go unseen");
}

#[test]
fn any_write_forgets_the_file_even_with_its_old_times_put_back() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path());
    let path = data(dir.path(), b"weights");
    assert!(remember(&c, &path, "v"));
    let before = std::fs::metadata(&path).unwrap();
    // The same size, the same modification time: only ctime tells.
    std::thread::sleep(Duration::from_millis(20));
    overwrite(&path, 0, b"W");
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_times(std::fs::FileTimes::new().set_modified(before.modified().unwrap())).unwrap();
    drop(f);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), before.modified().unwrap());
    assert_eq!(known(&c, &path), None);
}

#[test]
fn a_file_replaced_by_rename_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path());
    let path = data(dir.path(), b"weights");
    assert!(remember(&c, &path, "v"));
    let other = dir.path().join("other.bin");
    std::fs::write(&other, b"weights").unwrap();
    std::fs::rename(&other, &path).unwrap();
    assert_eq!(known(&c, &path), None);
}

#[test]
fn a_file_changed_while_it_was_checked_is_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path());
    let path = data(dir.path(), b"weights");
    let file = File::open(&path).unwrap();
    let Remembered::Unknown(ticket) = c.recall("blob", &path, &file) else { panic!("known") };
    std::thread::sleep(Duration::from_millis(20));
    overwrite(&path, 1, b"E");
    c.remember(ticket, &file, "v");
    assert_eq!(known(&c, &path), None);
}

#[test]
fn entries_not_private_to_this_user_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path());
    let path = data(dir.path(), b"weights");
    assert!(remember(&c, &path, "v"));
    let entry = std::fs::read_dir(c.path()).unwrap().next().unwrap().unwrap().path();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o620)).unwrap();
    assert_eq!(known(&c, &path), None, "a group-writable entry");
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(known(&c, &path).as_deref(), Some("v"));

    // A symbolic link in place of the entry, to a file with the right contents.
    let elsewhere = dir.path().join("planted");
    std::fs::copy(&entry, &elsewhere).unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    assert_eq!(known(&c, &path), None, "a link");

    // A directory others may write to is not a cache at all.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(PrivateDir::open(&open).is_err());
    assert!(VerifiedDigests::open(&Location::Dir(open)).is_none());
    assert!(VerifiedDigests::open(&Location::Off).is_none());
}

#[test]
fn damaged_or_oversized_entries_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path());
    let path = data(dir.path(), b"weights");
    assert!(remember(&c, &path, "v"));
    let entry = std::fs::read_dir(c.path()).unwrap().next().unwrap().unwrap().path();
    let good = std::fs::read(&entry).unwrap();
    for bad in [
        good[..good.len() / 2].to_vec(),
        b"{}".to_vec(),
        String::from_utf8(good.clone()).unwrap().replace("\"version\":1", "\"version\":2").into_bytes(),
        [good.clone(), vec![b' '; 70_000]].concat(),
    ] {
        std::fs::write(&entry, &bad).unwrap();
        assert_eq!(known(&c, &path), None, "{}", String::from_utf8_lossy(&bad[..bad.len().min(80)]));
    }
}

#[test]
fn the_cache_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(dir.path());
    for i in 0..4100 {
        std::fs::write(c.path().join(format!("{i:064x}")), b"{}").unwrap();
    }
    let path = data(dir.path(), b"weights");
    assert!(remember(&c, &path, "v"), "the newest entry survives pruning");
    let left = std::fs::read_dir(c.path()).unwrap().count();
    assert!((2000..=2100).contains(&left), "{left} entries left");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Whatever is done to a remembered file, if its bytes differ afterwards, it is not known.
    #[test]
    fn changed_bytes_are_never_known(
        len in 1usize..4096,
        ops in proptest::collection::vec((0u8..3, proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path());
        let original = vec![7u8; len];
        let path = data(dir.path(), &original);
        proptest::prop_assert!(remember(&c, &path, "v"));
        for (op, at, byte) in ops {
            let at = u64::from(at) % len as u64;
            match op {
                0 => overwrite(&path, at, &[byte]),
                1 => OpenOptions::new().write(true).open(&path).unwrap().set_len(at).unwrap(),
                _ => {
                    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
                    f.write_all(&[byte]).unwrap();
                }
            }
        }
        if std::fs::read(&path).unwrap() != original {
            proptest::prop_assert_eq!(known(&c, &path), None);
        }
    }
}
