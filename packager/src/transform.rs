//! The feature transforms of a source (`[transform]`, FORMAT.md §3.7): the source tree bundled with the
//! components, each component checked against `ferry:transform@0.1.0` and pinned by what it exports and
//! imports, and the build's locked dependencies read off the source tree.
//!
//! Nothing here runs or compiles a component: [`ferry_transform::describe`] validates it and reads its
//! outer face. The source tree is walked in sorted order and every file of it is opened later through
//! [`source_file`](crate::source_file) like any other source file, so a symbolic link, FIFO or `..`
//! anywhere in it is refused.

use crate::PackError;
use crate::source::{read_json, refused};
use crate::source_file;
use ferry_spec::config::ConfigSchema;
use ferry_spec::file::SMALL_FILE_LIMIT;
use ferry_spec::{ComponentPin, PackagePin, TransformBuild, TransformManifest, TransformSection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most a component can be. A component's own code and data segments, not a model's weights: the
/// Python fixture (an interpreter and its standard library) is 18 MB.
pub(crate) const COMPONENT_LIMIT: u64 = 512 << 20;

/// The most files a transform source tree may hold (after skipping caches and hidden files).
pub(crate) const MAX_SOURCE_FILES: usize = 4096;

/// Directory names never bundled from a source tree: build outputs and caches.
const SKIPPED_DIRS: [&str; 3] = ["__pycache__", "target", "node_modules"];

/// `kind` of a Cargo build.
pub const BUILD_CARGO: &str = "cargo";
/// `kind` of a componentize-py build.
pub const BUILD_COMPONENTIZE_PY: &str = "componentize-py";

fn error(key: &str, file: &str, message: impl Into<String>) -> PackError {
    PackError::Transform { file: file.to_owned(), key: key.to_owned(), message: message.into() }
}

/// The files of `[transform] source` (relative to the source directory, sorted): every regular file
/// below it except hidden ones (`.git/`, `.venv/`, dotfiles) and build caches (`__pycache__/`, `target/`,
/// `node_modules/`). A symbolic link anywhere in the tree is refused, as everywhere in a source.
pub(crate) fn source_tree(dir: &Path, toml_path: &Path, rel: &str) -> Result<Vec<String>, PackError> {
    const KEY: &str = "transform.source";
    let root = rel.trim_end_matches('/');
    ferry_spec::check_relative_path(root)
        .map_err(|e| error(KEY, rel, format!("not a safe relative path: {e}")))?;
    // Walk the directories below the source directory without following links; the path of `root` itself
    // is checked component by component first.
    let mut at = PathBuf::from(dir);
    for part in root.split('/') {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(PackError::UnsafeFile {
                    path: at,
                    key: Some(KEY.into()),
                    reason: "is a symbolic link".into(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PackError::MissingFile {
                    path: toml_path.to_path_buf(),
                    key: KEY.into(),
                    file: rel.to_owned(),
                });
            }
            Err(e) => return Err(PackError::io(&at, e)),
        }
    }
    if !at.is_dir() {
        return Err(error(
            KEY,
            rel,
            "not a directory: `source` names the directory the components were built from",
        ));
    }
    let mut out = Vec::new();
    walk(&at, root, &mut out)?;
    out.sort();
    for f in &out {
        let (_, size) = source_file::open(dir, f).map_err(|r| refused(r, toml_path, Some(KEY), f))?;
        if size > SMALL_FILE_LIMIT {
            return Err(error(
                KEY,
                f,
                format!(
                    "is {size} bytes, more than the {SMALL_FILE_LIMIT}-byte limit for a file of a transform's source"
                ),
            ));
        }
    }
    Ok(out)
}

fn walk(disk: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), PackError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(disk).map_err(|e| PackError::io(disk, e))? {
        let entry = entry.map_err(|e| PackError::io(disk, e))?;
        let kind = entry.file_type().map_err(|e| PackError::io(entry.path(), e))?;
        entries.push((entry.file_name(), entry.path(), kind));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, path, kind) in entries {
        let Some(name) = name.to_str() else {
            return Err(error(
                "transform.source",
                &path.display().to_string(),
                "a file name that is not UTF-8",
            ));
        };
        if name.starts_with('.') {
            continue;
        }
        let child = format!("{rel}/{name}");
        if kind.is_symlink() {
            return Err(PackError::UnsafeFile {
                path,
                key: Some("transform.source".into()),
                reason: "is a symbolic link".into(),
            });
        }
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name) {
                walk(&path, &child, out)?;
            }
            continue;
        }
        ferry_spec::check_relative_path(&child)
            .map_err(|e| error("transform.source", &child, format!("not a safe bundle path: {e}")))?;
        // FIFOs, devices and sockets are refused when the file is opened.
        out.push(child);
        if out.len() > MAX_SOURCE_FILES {
            return Err(error(
                "transform.source",
                rel,
                format!("more than {MAX_SOURCE_FILES} files; leave build outputs out of the source tree"),
            ));
        }
    }
    Ok(())
}

/// Checks one component's bytes for the keys naming it (`transform.prepare`, `transform.decide` or both)
/// and returns its pin.
pub fn pin_component(keys: &[&str], file: &str, bytes: &[u8]) -> Result<ComponentPin, PackError> {
    let first = keys.first().copied().unwrap_or("transform.prepare");
    let info = ferry_transform::describe(bytes)
        .map_err(|e| error(first, file, format!("not a valid WebAssembly component: {e}")))?;
    for key in keys {
        let export = key.trim_start_matches("transform.");
        if !info.exports.iter().any(|e| e == export) {
            let has = if info.exports.is_empty() {
                "nothing".to_owned()
            } else {
                info.exports.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
            };
            return Err(error(
                key,
                file,
                format!(
                    "the component does not export `{export}` (it exports {has}); build it for the `{export}` world of {}",
                    ferry_transform::WIT_PACKAGE
                ),
            ));
        }
    }
    let foreign = info.foreign_imports();
    if !foreign.is_empty() {
        return Err(error(
            first,
            file,
            format!(
                "the component imports {}, which no transform sandbox provides (only WASI 0.2 interfaces and `ferry:transform/types@0.1.x`)",
                foreign.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(ComponentPin {
        path: file.to_owned(),
        sha256: ferry_bundle::digest::Sha256Digest::of(bytes).hex(),
        size: bytes.len() as u64,
        wit: ferry_transform::WIT_PACKAGE.to_owned(),
        exports: info.exports,
        imports: info.imports,
    })
}

/// Checks the transform section's files and returns the manifest's `transform`: every component pinned
/// (sorted by path), the record and result schemas compiled, and the build read off `tree` (the files of
/// `source`).
pub(crate) fn manifest(
    dir: &Path,
    toml_path: &Path,
    section: &TransformSection,
    tree: &[String],
) -> Result<TransformManifest, PackError> {
    let mut components = Vec::new();
    for file in section.components() {
        let keys: Vec<&str> =
            [("transform.prepare", &section.prepare), ("transform.decide", &section.decide)]
                .into_iter()
                .filter(|(_, f)| f.as_deref() == Some(file))
                .map(|(k, _)| k)
                .collect();
        let bytes = source_file::read(dir, file, COMPONENT_LIMIT)
            .map_err(|r| refused(r, toml_path, keys.first().copied(), file))?;
        components.push(pin_component(&keys, file, &bytes)?);
    }
    components.sort_by(|a, b| a.path.cmp(&b.path));
    for (key, file) in [("transform.records", &section.records), ("transform.results", &section.results)] {
        if let Some(file) = file {
            schema(dir, toml_path, key, file)?;
        }
    }
    let build = match &section.source {
        Some(root) => build(dir, toml_path, root.trim_end_matches('/'), tree)?,
        None => None,
    };
    Ok(TransformManifest { section: section.clone(), components, build })
}

/// A record or result schema, compiled by the same rule as the config schema.
pub(crate) fn schema(dir: &Path, toml_path: &Path, key: &str, file: &str) -> Result<ConfigSchema, PackError> {
    let value = read_json(dir, toml_path, key, file)?;
    ConfigSchema::compile(&value).map_err(|e| error(key, file, format!("not a valid JSON Schema: {e}")))
}

/// The build pins of a source tree: a Cargo crate (`Cargo.lock` at its root or one level down), or a
/// componentize-py tree (a `requirements*.txt`, or `*.py` files beside a `wit/` directory).
fn build(
    dir: &Path,
    toml_path: &Path,
    root: &str,
    tree: &[String],
) -> Result<Option<TransformBuild>, PackError> {
    let below = |f: &str| f.strip_prefix(root).and_then(|r| r.strip_prefix('/')).map(str::to_owned);
    let relative: Vec<(String, String)> =
        tree.iter().filter_map(|f| below(f).map(|r| (f.clone(), r))).collect();
    let depth = |r: &str| r.matches('/').count();
    let name_of = |r: &str| r.rsplit('/').next().unwrap_or(r).to_owned();
    let read_text = |file: &str| -> Result<String, PackError> {
        let bytes = source_file::read(dir, file, SMALL_FILE_LIMIT)
            .map_err(|r| refused(r, toml_path, Some("transform.source"), file))?;
        String::from_utf8(bytes).map_err(|_| error("transform.source", file, "not UTF-8 text"))
    };

    let locks: Vec<&String> = relative
        .iter()
        .filter(|(_, r)| name_of(r) == "Cargo.lock" && depth(r) <= 1)
        .map(|(f, _)| f)
        .collect();
    // The root's lock when there is one, else every lock one level down (a workspace of crates).
    let root_lock: Vec<&String> =
        locks.iter().copied().filter(|f| below(f).is_some_and(|r| depth(&r) == 0)).collect();
    let locks = if root_lock.is_empty() { locks } else { root_lock };
    if !locks.is_empty() {
        let mut packages = Vec::new();
        for lock in locks {
            packages.extend(cargo_lock(lock, &read_text(lock)?)?);
        }
        packages.sort();
        packages.dedup();
        let toolchain =
            match relative.iter().find(|(_, r)| r == "rust-toolchain.toml" || r == "rust-toolchain") {
                Some((f, _)) => rust_toolchain(&read_text(f)?),
                None => String::new(),
            };
        return Ok(Some(TransformBuild { kind: BUILD_CARGO.into(), toolchain, packages }));
    }

    let requirements: Vec<&String> = relative
        .iter()
        .filter(|(_, r)| {
            let n = name_of(r);
            n.starts_with("requirements") && n.ends_with(".txt")
        })
        .map(|(f, _)| f)
        .collect();
    let python = relative.iter().any(|(_, r)| r.ends_with(".py"))
        && relative.iter().any(|(_, r)| r.starts_with("wit/"));
    if requirements.is_empty() && !python {
        return Ok(None);
    }
    let mut toolchain = String::new();
    let mut packages = Vec::new();
    for file in requirements {
        let text = read_text(file)?;
        for pin in requirements_pins(&text) {
            if pin.name == BUILD_COMPONENTIZE_PY {
                if toolchain.is_empty() {
                    toolchain = format!("{BUILD_COMPONENTIZE_PY} {}", pin.version);
                }
            } else {
                packages.push(pin);
            }
        }
    }
    packages.sort();
    packages.dedup();
    Ok(Some(TransformBuild { kind: BUILD_COMPONENTIZE_PY.into(), toolchain, packages }))
}

/// The `[[package]]` entries of a `Cargo.lock`: name, version, source and checksum, as locked.
pub fn cargo_lock(file: &str, text: &str) -> Result<Vec<PackagePin>, PackError> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        version: String,
        #[serde(default)]
        source: String,
        #[serde(default)]
        checksum: String,
    }
    let lock: Lock = toml::from_str(text).map_err(|e| {
        error("transform.source", file, format!("not a readable Cargo.lock: {}", e.message()))
    })?;
    Ok(lock
        .package
        .into_iter()
        .map(|p| PackagePin { name: p.name, version: p.version, source: p.source, checksum: p.checksum })
        .collect())
}

/// `rust-toolchain.toml`'s `[toolchain] channel` (or a legacy `rust-toolchain` file's line), as `rust X`.
fn rust_toolchain(text: &str) -> String {
    let channel = match toml::from_str::<toml::Table>(text) {
        Ok(t) => t
            .get("toolchain")
            .and_then(|t| t.get("channel"))
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default(),
        Err(_) => text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("")
            .to_owned(),
    };
    if channel.is_empty() { channel } else { format!("rust {channel}") }
}

/// The `name==version` pins of a pip requirements file, names normalized (PEP 503: lower case, runs of
/// `-`, `_` and `.` as one `-`), each with its first `--hash=sha256:` as `sha256:<hex>` when it has one.
/// Lines without an exact pin (ranges, URLs, options) are not pins and are skipped.
pub fn requirements_pins(text: &str) -> Vec<PackagePin> {
    // Continuation lines (`\` at the end) make one logical line.
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = match line.find(" #").or_else(|| line.starts_with('#').then_some(0)) {
            Some(i) => &line[..i],
            None => line,
        };
        let trimmed = line.trim_end();
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    logical.push(current);
    let mut out = Vec::new();
    for line in logical {
        let mut words = line.split_whitespace();
        let Some(spec) = words.next() else { continue };
        if spec.starts_with('-') {
            continue;
        }
        let spec = spec.split(';').next().unwrap_or(spec);
        let Some((name, version)) = spec.split_once("==") else { continue };
        let name = name.split('[').next().unwrap_or(name).trim();
        let version = version.split(',').next().unwrap_or(version).trim();
        if name.is_empty() || version.is_empty() || version.contains('*') {
            continue;
        }
        let checksum = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("--hash=sha256:"))
            .map(|h| format!("sha256:{}", h.to_ascii_lowercase()))
            .unwrap_or_default();
        out.push(PackagePin {
            name: normalize_python_name(name),
            version: version.to_owned(),
            source: "pypi".into(),
            checksum,
        });
    }
    out
}

fn normalize_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The package URL of a build pin (`pkg:cargo/name@version`, `pkg:pypi/name@version`).
pub fn purl(kind: &str, pin: &PackagePin) -> String {
    let ty = if kind == BUILD_CARGO { "cargo" } else { "pypi" };
    format!("pkg:{ty}/{}@{}", pin.name, pin.version)
}

/// Golden records and decisions (`.jsonl`): every record a JSON object satisfying the records schema,
/// every decision a JSON value satisfying the results schema, one decision per record.
pub(crate) fn check_golden_lines(
    dir: &Path,
    toml_path: &Path,
    source: &ferry_spec::Source,
) -> Result<(), PackError> {
    let Some(t) = &source.transform else { return Ok(()) };
    let records_schema = match &t.records {
        Some(f) => Some(schema(dir, toml_path, "transform.records", f)?),
        None => None,
    };
    let results_schema = match &t.results {
        Some(f) => Some(schema(dir, toml_path, "transform.results", f)?),
        None => None,
    };
    for (i, g) in source.golden.iter().enumerate() {
        let mut counts = BTreeMap::new();
        for (side, file, compiled) in
            [("records", &g.records, &records_schema), ("decisions", &g.decisions, &results_schema)]
        {
            let Some(file) = file else { continue };
            let key = format!("golden[{i}].{side}");
            let err = |message: String| PackError::Golden { file: file.clone(), key: key.clone(), message };
            let bytes = source_file::read(dir, file, ferry_spec::file::NO_LIMIT)
                .map_err(|r| refused(r, toml_path, Some(&key), file))?;
            let text = std::str::from_utf8(&bytes).map_err(|_| err("not UTF-8 text".into()))?;
            let mut n = 0usize;
            for (line_no, line) in ferry_contract::records::lines(text) {
                n += 1;
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| err(format!("line {line_no}: not JSON: {e}")))?;
                if side == "records" && !value.is_object() {
                    return Err(err(format!("line {line_no}: a record must be a JSON object")));
                }
                if let Some(s) = compiled
                    && let Err(v) = s.validate(&value)
                {
                    let schema_file = if side == "records" { &t.records } else { &t.results };
                    return Err(err(format!(
                        "line {line_no}: fails `{}`: {}",
                        schema_file.as_deref().unwrap_or_default(),
                        v.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    )));
                }
            }
            counts.insert(side, n);
        }
        if let (Some(r), Some(d)) = (counts.get("records"), counts.get("decisions"))
            && r != d
        {
            return Err(PackError::Golden {
                file: g.decisions.clone().unwrap_or_default(),
                key: format!("golden[{i}].decisions"),
                message: format!("{d} decisions for {r} records: one per record, in order"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn imports_a_sandbox_provides() {
        use ferry_transform::allowed_import;
        assert!(allowed_import("wasi:io/streams@0.2.6"));
        assert!(allowed_import("ferry:transform/types@0.1.0"));
        assert!(allowed_import("ferry:transform/types@0.1.3"));
        assert!(!allowed_import("ferry:transform/types@0.2.0"));
        assert!(!allowed_import("wasi:http/outgoing-handler@0.3.0"));
        assert!(!allowed_import("evil:net/socket@1.0.0"));
        assert!(!allowed_import("ferry:transform/@0.1.0"));
    }

    #[test]
    fn requirements_pins_read_exact_pins_with_hashes() {
        let text = "# build\ncomponentize-py==0.17.2\nNumPy==2.1.0 \\\n    --hash=sha256:ABCD \\\n    --hash=sha256:ef01\nrequests>=2\n-r other.txt\nZope.Interface[extra]==6.0 ; python_version > '3'\n";
        let pins = requirements_pins(text);
        let got: Vec<(String, String, String)> =
            pins.into_iter().map(|p| (p.name, p.version, p.checksum)).collect();
        assert_eq!(
            got,
            [
                ("componentize-py".into(), "0.17.2".into(), String::new()),
                ("numpy".into(), "2.1.0".into(), "sha256:abcd".into()),
                ("zope-interface".into(), "6.0".into(), String::new()),
            ]
        );
    }

    #[test]
    fn cargo_lock_packages_as_locked() {
        let text = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"b\"\nversion = \"1.2.3\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ff\"\n";
        let pins = cargo_lock("Cargo.lock", text).unwrap();
        assert_eq!(pins.len(), 2);
        assert_eq!(pins[1].checksum, "ff");
        assert_eq!(purl(BUILD_CARGO, &pins[1]), "pkg:cargo/b@1.2.3");
        assert!(cargo_lock("Cargo.lock", "[[package]]\nname = 1\n").is_err());
    }

    #[test]
    fn garbage_is_not_a_component() {
        let e = pin_component(&["transform.prepare"], "t.wasm", b"not wasm").unwrap_err().to_string();
        assert!(e.contains("t.wasm") && e.contains("transform.prepare"), "{e}");
        // A core module (magic, version 1) is refused as one.
        let e = pin_component(&["transform.decide"], "m.wasm", b"\0asm\x01\0\0\0").unwrap_err().to_string();
        assert!(e.contains("core WebAssembly module"), "{e}");
    }
}
