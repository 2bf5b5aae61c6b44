//! The set-up of the benchmarks that measure large bundles (`ferry-packager`'s `pack`, `ferry`'s
//! `verify`, `ferry-cli`'s `sign`): a synthetic source whose model keeps its weights in ONNX external data
//! (`ferry_packager::synthetic`), in a temporary directory, sized by the environment.

use std::path::PathBuf;
use std::str::FromStr;
use tempfile::TempDir;

/// A synthetic bundle source, and where its bundle goes, in a temporary directory.
#[derive(Debug)]
pub struct Synthetic {
    /// Bytes of weights: `FERRY_BENCH_BYTES`, 1 GiB when unset or not a number.
    pub bytes: u64,
    /// Measured rounds: `FERRY_BENCH_ROUNDS`, 5 when unset or not a number.
    pub rounds: usize,
    /// The source, `src/` in [`dir`](Self::dir): `ferry.toml`, `model.onnx` and `weights.bin`.
    pub src: PathBuf,
    /// The bundle, `bench.ferry` in [`dir`](Self::dir); written by [`Synthetic::packed`], not by
    /// [`Synthetic::source`].
    pub bundle: PathBuf,
    /// The temporary directory holding both; removed, weights and all, when dropped.
    pub dir: TempDir,
}

impl Synthetic {
    /// Writes the source and packs nothing (for a benchmark that times packing itself).
    pub fn source() -> Self {
        let bytes = env_or("FERRY_BENCH_BYTES", 1 << 30);
        let rounds = env_or("FERRY_BENCH_ROUNDS", 5);
        let dir = crate::tempdir();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        ferry_packager::synthetic::source(&src, bytes).unwrap();
        let bundle = dir.path().join("bench.ferry");
        Synthetic { bytes, rounds, src, bundle, dir }
    }

    /// Writes the source and packs it into [`bundle`](Self::bundle) through `ferry_packager::pack`.
    pub fn packed() -> Self {
        let s = Self::source();
        crate::pack_to(&s.src, &s.bundle);
        s
    }
}

/// The environment variable `name` parsed, or `default` when it is unset or does not parse.
fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
