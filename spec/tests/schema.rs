//! The committed JSON Schemas must match the types they are generated from.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn committed_schemas_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, text) in ferry_spec::schemas() {
        assert!(text.len() > 100, "{name} rendered empty");
        let path = dir.join(name);
        if bless {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(on_disk) if on_disk == text => {}
            _ => stale.push(name),
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas in spec/schema: {stale:?}; run FERRY_BLESS=1 cargo test -p ferry-spec"
    );
}

#[test]
fn fixture_sources_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    for f in ["credit-risk", "text-embedding"] {
        let text = std::fs::read_to_string(root.join(f).join("ferry.toml")).unwrap();
        ferry_spec::Source::from_toml_str(&text).unwrap();
    }
}

#[test]
fn unknown_keys_are_named() {
    let err = ferry_spec::Source::from_toml_str(
        "[model]\nname = \"a\"\nversion = \"1.0.0\"\nonnx = \"m.onnx\"\nlicence = \"MIT\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `licence`"), "{err}");
}
