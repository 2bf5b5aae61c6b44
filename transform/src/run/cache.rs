//! The compilation cache: Cranelift's output for a component, kept on disk under the component's SHA-256
//! and the engine's fingerprint, so a second process opening the same bundle does not compile again.
//!
//! Loading compiled code runs it as native code, so the cache is trusted like the user's own files: its
//! directory and files must belong to the user running Ferry and be writable by no one else, or they are
//! ignored. Each file ends with the SHA-256 of what precedes it, so a truncated or damaged file is
//! recompiled, never loaded.

use ferry_cache::PrivateDir;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;
use wasmtime::component::Component;

/// Compiled code is a few megabytes per component (the largest, CPython's, about 60 MB); anything far
/// beyond that is not something this cache wrote.
const COMPILED_LIMIT: u64 = 1 << 30;

pub(crate) struct CacheDir {
    dir: PrivateDir,
    /// Changes whenever compiled code from one engine cannot be loaded by another (wasmtime version,
    /// compiler settings, CPU features).
    fingerprint: String,
}

impl CacheDir {
    pub(crate) fn open(dir: &Path, engine: &wasmtime::Engine) -> io::Result<CacheDir> {
        let dir = PrivateDir::open(dir)?;
        // `DefaultHasher::new()` uses fixed keys: the same engine settings give the same fingerprint in
        // every process of one Ferry build, and a different Rust may only cost a recompile.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let fingerprint = format!("{:016x}", h.finish());
        Ok(CacheDir { dir, fingerprint })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, digest: &[u8; 32]) -> String {
        format!("{}-{}.cwasm", hex::encode(digest), self.fingerprint)
    }

    /// The compiled component, if the cache holds an intact one of this engine.
    pub(crate) fn load(&self, engine: &wasmtime::Engine, digest: &[u8; 32]) -> Option<Component> {
        let bytes = self.dir.read(&self.file(digest), COMPILED_LIMIT)?;
        let (code, tail) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if ferry_digest::sha256(code) != tail {
            return None;
        }
        self.deserialize(engine, code).ok()
    }

    /// Keeps `compiled` for the next process; a cache that cannot be written is skipped.
    pub(crate) fn store(&self, digest: &[u8; 32], compiled: &[u8]) {
        let mut bytes = Vec::with_capacity(compiled.len() + 32);
        bytes.extend_from_slice(compiled);
        bytes.extend_from_slice(&ferry_digest::sha256(compiled));
        let _ = self.dir.write(&self.file(digest), &bytes);
    }

    /// Code this engine compiled (in this process, or in an earlier one, checked by [`CacheDir::load`]).
    #[allow(unsafe_code)]
    pub(crate) fn deserialize(&self, engine: &wasmtime::Engine, code: &[u8]) -> wasmtime::Result<Component> {
        // SAFETY: `Component::deserialize` runs `code` as native code without checking it is what
        // Cranelift made. Here `code` is either what `Engine::precompile_component` returned in this
        // process, or a cache file that belongs to this user, is writable by no one else, and still has
        // the SHA-256 that was written with it; wasmtime itself refuses code of another version or
        // engine configuration.
        unsafe { Component::deserialize(engine, code) }
    }
}
