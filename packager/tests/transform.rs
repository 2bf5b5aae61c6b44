//! Feature transforms at pack time (§3.7): the components checked and pinned, the source tree bundled,
//! the build's locked dependencies recorded, all of it in the SBOM; hostile components refused naming the
//! key and the file. A bundle without `[transform]` has none of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_packager::provenance::{Bom, SBOM_PATH};
use ferry_spec::Manifest;
use ferry_testkit::{copy_dir, copy_source, fixture, tempdir};
use std::path::Path;

const CREDIT_WASM: &str = "transforms/credit.wasm";

fn edit_toml(src: &Path, from: &str, to: &str) {
    let p = src.join("ferry.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "ferry.toml lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// Packs `src` and returns the bundle's manifest, SBOM (typed and raw) and file list.
fn packed(src: &Path) -> (Manifest, Bom, String, Vec<String>) {
    let (_dir, out) = ferry_testkit::pack(src);
    let bundle = ferry_bundle::Bundle::open(&out).unwrap();
    bundle.verify_digests().unwrap();
    let manifest = bundle.manifest().clone();
    let sbom = bundle.file(SBOM_PATH).unwrap();
    let typed: Bom = serde_json::from_slice(&sbom).unwrap();
    // The SBOM reads back through its types and writes again byte for byte.
    assert_eq!(ferry_spec::to_canonical_json(&typed).unwrap(), sbom.to_vec());
    let files = manifest.files.iter().map(|f| f.path.clone()).collect();
    (manifest, typed, String::from_utf8(sbom.to_vec()).unwrap(), files)
}

fn refused(src: &Path, needles: &[&str]) -> String {
    let e = ferry_packager::load(src).unwrap_err().to_string();
    for n in needles {
        assert!(e.contains(n), "error lacks {n:?}:\n{e}");
    }
    e
}

#[test]
fn credit_application_records_its_pins_and_bundles_its_source() {
    let (manifest, bom, _, files) = packed(&fixture("credit-application"));
    let t = manifest.transform.expect("a transform section");
    assert_eq!(t.section.prepare.as_deref(), Some(CREDIT_WASM));
    assert_eq!(t.section.decide.as_deref(), Some(CREDIT_WASM));
    assert_eq!(t.components.len(), 1, "one file, pinned once");
    let c = &t.components[0];
    let bytes = std::fs::read(fixture("credit-application").join(CREDIT_WASM)).unwrap();
    assert_eq!(c.path, CREDIT_WASM);
    assert_eq!(c.size, bytes.len() as u64);
    assert_eq!(c.sha256, ferry_bundle::digest::Sha256Digest::of(&bytes).hex());
    assert_eq!(c.wit, "ferry:transform@0.1.0");
    for e in ["prepare", "decide"] {
        assert!(c.exports.iter().any(|x| x == e), "exports {:?}", c.exports);
    }
    // The interface, and the types the world `use`s from it, imported by name at the top level.
    assert!(c.imports.iter().any(|i| i == "ferry:transform/types@0.1.0"), "{:?}", c.imports);
    assert!(
        c.imports
            .iter()
            .all(|i| ferry_transform::allowed_import(i) || ["tensor", "refusal"].contains(&i.as_str())),
        "{:?}",
        c.imports
    );
    let entry = manifest.files.iter().find(|f| f.path == CREDIT_WASM).unwrap();
    assert_eq!(entry.sha256, c.sha256, "the pin is the bundled file");

    let build = t.build.expect("a componentize-py tree");
    assert_eq!(build.kind, "componentize-py");
    for f in [
        "transforms/src/app.py",
        "transforms/src/credit_decisions.py",
        "transforms/src/credit_features.py",
        "transforms/src/wit/credit.wit",
        "records.schema.json",
        "results.schema.json",
        "golden/applications.jsonl",
        "golden/applications.decisions.jsonl",
    ] {
        assert!(files.iter().any(|p| p == f), "{f} not bundled: {files:?}");
    }

    let comp = bom.components.iter().find(|x| x.name == CREDIT_WASM).expect("the component in the SBOM");
    assert_eq!(comp.kind, "application");
    assert_eq!(comp.hashes[0].alg, "SHA-256");
    assert_eq!(comp.hashes[0].content, c.sha256);
    assert_eq!(comp.property("ferry:wit"), Some("ferry:transform@0.1.0"));
    let bundle = bom.dependencies.iter().find(|d| d.reference == "bundle").unwrap();
    assert!(bundle.depends_on.contains(&format!("transform:{CREDIT_WASM}")), "{bundle:?}");
}

#[test]
fn the_source_tree_skips_caches_and_hidden_files_and_refuses_links() {
    let src = copy_source("credit-application");
    let s = src.path().join("transforms/src");
    std::fs::create_dir_all(s.join("__pycache__")).unwrap();
    std::fs::write(s.join("__pycache__/app.cpython-312.pyc"), b"cache").unwrap();
    std::fs::create_dir_all(s.join(".git")).unwrap();
    std::fs::write(s.join(".git/HEAD"), b"ref").unwrap();
    std::fs::write(s.join(".DS_Store"), b"x").unwrap();
    std::fs::write(s.join("README.md"), b"notes").unwrap();
    let loaded = ferry_packager::load(src.path()).unwrap();
    let under: Vec<&str> =
        loaded.files.keys().map(String::as_str).filter(|p| p.starts_with("transforms/src/")).collect();
    assert_eq!(
        under,
        [
            "transforms/src/README.md",
            "transforms/src/app.py",
            "transforms/src/credit_decisions.py",
            "transforms/src/credit_features.py",
            "transforms/src/wit/credit.wit",
        ]
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/passwd", s.join("wit/passwd")).unwrap();
        refused(src.path(), &["wit/passwd", "symbolic link", "transform.source"]);
        std::fs::remove_file(s.join("wit/passwd")).unwrap();
        let other = tempdir();
        std::fs::rename(&s, other.path().join("src")).unwrap();
        std::os::unix::fs::symlink(other.path().join("src"), &s).unwrap();
        refused(src.path(), &["transforms/src", "symbolic link", "transform.source"]);
    }
}

#[test]
fn a_prepare_component_without_prepare_is_refused_naming_the_key_and_export() {
    let src = copy_source("credit-application");
    std::fs::copy(fixture("transforms/hostile/liar.wasm"), src.path().join("transforms/liar.wasm")).unwrap();
    edit_toml(src.path(), "prepare = \"transforms/credit.wasm\"", "prepare = \"transforms/liar.wasm\"");
    refused(
        src.path(),
        &[
            "transforms/liar.wasm",
            "key `transform.prepare`",
            "does not export `prepare`",
            "it exports",
            "`decide`",
        ],
    );
}

#[test]
fn garbage_and_core_modules_are_not_components() {
    let src = copy_source("credit-application");
    let wasm = src.path().join(CREDIT_WASM);
    std::fs::write(&wasm, b"PK\x03\x04 not a component").unwrap();
    refused(src.path(), &[CREDIT_WASM, "key `transform.prepare`", "not a valid WebAssembly component"]);
    // The smallest core module: magic and version 1.
    std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
    refused(
        src.path(),
        &[CREDIT_WASM, "key `transform.prepare`", "a core WebAssembly module, not a component"],
    );
    std::fs::remove_file(&wasm).unwrap();
    refused(src.path(), &["transform.prepare", CREDIT_WASM, "does not exist"]);
}

#[test]
fn an_invalid_records_schema_is_refused() {
    let src = copy_source("credit-application");
    std::fs::write(src.path().join("records.schema.json"), br#"{"type": 12}"#).unwrap();
    refused(src.path(), &["records.schema.json", "transform.records", "not a valid JSON Schema"]);
}

#[test]
fn a_cargo_source_records_its_locked_packages() {
    let src = copy_source("credit-application");
    std::fs::copy(fixture("transforms/tokenizer.wasm"), src.path().join("transforms/tokenizer.wasm"))
        .unwrap();
    std::fs::remove_dir_all(src.path().join("transforms/src")).unwrap();
    copy_dir(&fixture("transforms/tokenizer"), &src.path().join("transforms/tokenizer"));
    // Whatever a local build left behind stays out.
    let _ = std::fs::remove_dir_all(src.path().join("transforms/tokenizer/target"));
    std::fs::create_dir_all(src.path().join("transforms/tokenizer/target/release")).unwrap();
    std::fs::write(src.path().join("transforms/tokenizer/target/release/junk"), b"x").unwrap();
    edit_toml(src.path(), "prepare = \"transforms/credit.wasm\"", "prepare = \"transforms/tokenizer.wasm\"");
    edit_toml(src.path(), "source = \"transforms/src\"", "source = \"transforms/tokenizer\"");
    // The golden features came from credit.wasm's prepare; the tokenizer's would differ, but packing
    // never runs a transform.
    let (manifest, bom, sbom, files) = packed(src.path());
    let t = manifest.transform.unwrap();
    assert_eq!(
        t.components.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
        [CREDIT_WASM, "transforms/tokenizer.wasm"],
        "sorted by path"
    );
    let build = t.build.unwrap();
    assert_eq!(build.kind, "cargo");
    let lock = std::fs::read_to_string(fixture("transforms/tokenizer/Cargo.lock")).unwrap();
    assert_eq!(build.packages.len(), lock.matches("[[package]]").count());
    let mut sorted = build.packages.clone();
    sorted.sort();
    assert_eq!(sorted, build.packages);
    let root = build.packages.iter().find(|p| p.name == "ferry-tokenizer").unwrap();
    assert_eq!((root.version.as_str(), root.source.as_str()), ("0.1.0", ""));
    let registry = build.packages.iter().find(|p| !p.source.is_empty()).expect("a registry package");
    assert_eq!(registry.checksum.len(), 64);
    let purl = format!("pkg:cargo/{}@{}", registry.name, registry.version);
    let c = bom.components.iter().find(|c| c.purl.as_deref() == Some(purl.as_str())).expect("its purl");
    assert_eq!(c.hashes[0].content, registry.checksum);
    assert!(sbom.contains("\"purl\""));
    assert!(files.iter().any(|f| f == "transforms/tokenizer/Cargo.lock"));
    assert!(files.iter().any(|f| f == "transforms/tokenizer/src/lib.rs"));
    assert!(!files.iter().any(|f| f.contains("/target/")), "{files:?}");
}

#[test]
fn a_bundle_without_transforms_has_no_transform_key() {
    let (manifest, _, sbom, _) = packed(&fixture("credit-risk"));
    assert!(manifest.transform.is_none());
    let json = serde_json::to_value(&manifest).unwrap();
    assert!(json.get("transform").is_none(), "{json}");
    assert!(!sbom.contains("purl") && !sbom.contains("transform:"), "{sbom}");
}

#[test]
fn packing_transforms_is_deterministic() {
    let a = copy_source("credit-application");
    let b = tempdir();
    copy_dir(a.path(), &b.path().join("elsewhere"));
    let (_da, oa) = ferry_testkit::pack(a.path());
    let (_db, ob) = ferry_testkit::pack(&b.path().join("elsewhere"));
    assert!(std::fs::read(oa).unwrap() == std::fs::read(ob).unwrap(), "bundles differ");
}
