//! The compilation cache: Cranelift's output for a component, kept on disk under the component's SHA-256
//! and the engine's fingerprint, so a second process opening the same bundle does not compile again.
//!
//! Loading compiled code runs it as native code, so the cache is trusted like the user's own files: its
//! directory and files must belong to the user running Ferry and be writable by no one else, or they are
//! ignored. Each file ends with the SHA-256 of what precedes it, so a truncated or damaged file is
//! recompiled, never loaded.

use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

pub(crate) struct CacheDir {
    dir: PathBuf,
    /// Changes whenever compiled code from one engine cannot be loaded by another (wasmtime version,
    /// compiler settings, CPU features).
    fingerprint: String,
}

impl CacheDir {
    pub(crate) fn open(dir: &Path, engine: &wasmtime::Engine) -> io::Result<CacheDir> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        owned_and_private(&std::fs::metadata(dir)?)?;
        // `DefaultHasher::new()` uses fixed keys: the same engine settings give the same fingerprint in
        // every process of one Ferry build, and a different Rust may only cost a recompile.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let fingerprint = format!("{:016x}", h.finish());
        Ok(CacheDir { dir: dir.to_owned(), fingerprint })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex::encode(digest), self.fingerprint))
    }

    /// The compiled component, if the cache holds an intact one of this engine.
    pub(crate) fn load(&self, engine: &wasmtime::Engine, digest: &[u8; 32]) -> Option<Component> {
        let path = self.file(digest);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || owned_and_private(&meta).is_err() {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
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
        let options = ferry_atomic::Options {
            permissions: Some(std::fs::Permissions::from_mode(0o600)),
            ..ferry_atomic::Options::default()
        };
        let _ = ferry_atomic::write(&self.file(digest), &bytes, options);
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

/// The file or directory belongs to the effective user and no one else may write to it.
fn owned_and_private(meta: &std::fs::Metadata) -> io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, "the cache is not private to this user"));
    }
    Ok(())
}
