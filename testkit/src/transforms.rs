//! Bundle sources with feature transforms, assembled from the committed fixtures.

use crate::fs::{copy_dir, fixture};
use std::path::{Path, PathBuf};

/// `fixtures/credit-application` with its Python component replaced by the Rust port of the same
/// transforms (`fixtures/transforms/credit.wasm`, built from `fixtures/transforms/credit/`): same model,
/// contract, schemas, configuration and goldens, the crate as `transforms/src` (so its `Cargo.lock` is
/// pinned). Written to `dest`, which is returned.
pub fn credit_application_rust(dest: &Path) -> PathBuf {
    copy_dir(&fixture("credit-application"), dest);
    std::fs::copy(fixture("transforms/credit.wasm"), dest.join("transforms/credit.wasm")).unwrap();
    let src = dest.join("transforms/src");
    std::fs::remove_dir_all(&src).unwrap();
    let crate_dir = fixture("transforms/credit");
    copy_dir(&crate_dir.join("src"), &src.join("src"));
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(crate_dir.join(file), src.join(file)).unwrap();
    }
    let toml = std::fs::read_to_string(dest.join("ferry.toml")).unwrap();
    let toml = toml.replace(
        "one Python component built by componentize-py.",
        "the same transforms ported to Rust, one no_std component (fixtures/transforms/credit).",
    );
    assert!(
        toml.contains("ported to Rust"),
        "fixtures/credit-application/ferry.toml changed its description"
    );
    std::fs::write(dest.join("ferry.toml"), toml).unwrap();
    dest.to_path_buf()
}
