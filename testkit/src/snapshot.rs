//! The one blessing helper for full-text snapshots of rendered output (verifier reports, audits).
//!
//! A test renders, normalises what legitimately varies (timings, temporary paths, versions), and
//! calls [`check`]. With `FERRY_BLESS=1` in the environment the rendering is written as the snapshot
//! instead; review the diff of the snapshot files before committing it.

use std::path::Path;

/// Whether this run accepts renderings as the new snapshots (`FERRY_BLESS=1`).
pub fn blessing() -> bool {
    std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the snapshot `dir/name`, or writes it there when [`blessing`]. Returns what
/// differs: the first differing line (1-based) with both versions of it, and how to accept the change.
pub fn check(dir: &Path, name: &str, actual: &str) -> Option<String> {
    let path = dir.join(name);
    if blessing() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => return Some(format!("{}: {e}; rerun with FERRY_BLESS=1 to accept", path.display())),
    };
    if expected == actual {
        return None;
    }
    // `split('\n')`, not `lines()`: a missing or extra final newline is a difference too.
    let (old, new): (Vec<&str>, Vec<&str>) = (expected.split('\n').collect(), actual.split('\n').collect());
    let at = (0..old.len().max(new.len())).find(|&i| old.get(i) != new.get(i)).unwrap_or(0);
    let show = |line: Option<&&str>| line.map_or_else(|| "<end of file>".to_owned(), |l| format!("{l:?}"));
    Some(format!(
        "{} differs from the rendering, first at line {}:\n- snapshot: {}\n+ rendered: {}\nrerun with FERRY_BLESS=1 to accept",
        path.display(),
        at + 1,
        show(old.get(at)),
        show(new.get(at)),
    ))
}
