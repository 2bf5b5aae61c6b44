//! Packing a source through the real packager (`ferry_packager::pack`), not the command line.

use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Packs the source `src` into `model.ferry` in a fresh temporary directory; keep the directory alive.
pub fn pack(src: &Path) -> (TempDir, PathBuf) {
    let dir = crate::tempdir();
    let out = dir.path().join("model.ferry");
    pack_to(src, &out);
    (dir, out)
}

/// Packs the source `src` into the bundle `out`, panicking with the packager's error on failure.
pub fn pack_to(src: &Path, out: &Path) {
    ferry_packager::pack(src, out).unwrap();
}
