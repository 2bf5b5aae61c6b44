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

/// A source with one input `x` of `dtype` and `shape` carrying the TOML `extra` lines, and one output.
fn source_with(dtype: &str, shape: &str, extra: &str) -> Result<ferry_spec::Source, String> {
    let text = format!(
        "[model]\nname = \"a\"\nversion = \"1.0.0\"\nonnx = \"m.onnx\"\n\n[[inputs]]\nname = \"x\"\ndtype = \"{dtype}\"\nshape = {shape}\n{extra}\n\n[[outputs]]\nname = \"y\"\ndtype = \"float32\"\nshape = [1]\n"
    );
    ferry_spec::Source::from_toml_str(&text).map_err(|e| e.to_string())
}

#[test]
fn whole_tensor_value_rules_are_validated_naming_the_key() {
    let ok = source_with("int64", "[\"batch\", \"seq\"]", "values = { min = 0, max = 999 }").unwrap();
    let values = ok.inputs[0].values.clone().unwrap();
    assert_eq!((values.min, values.max, values.nullable), (Some(0.0), Some(999.0), false));
    for (dtype, extra, needle) in [
        ("int64", "values = { min = 5, max = 1 }", "inputs[0].values.min"),
        ("int64", "values = { nullable = true }", "inputs[0].values.nullable"),
        ("float32", "values = { allowed = [] }", "inputs[0].values.allowed"),
        ("string", "values = { min = 0 }", "inputs[0].values"),
        ("int64", "values = { minimum = 0 }", "unknown field `minimum`"),
    ] {
        let err = source_with(dtype, "[3]", extra).unwrap_err();
        assert!(err.contains(needle), "{extra}: {err}");
    }
    // On an output they would never be checked, so they are refused.
    let text = "[model]\nname = \"a\"\nversion = \"1.0.0\"\nonnx = \"m.onnx\"\n\n[[inputs]]\nname = \"x\"\ndtype = \"float32\"\nshape = [1]\n\n[[outputs]]\nname = \"y\"\ndtype = \"float32\"\nshape = [1]\nvalues = { min = 0 }\n";
    let err = ferry_spec::Source::from_toml_str(text).unwrap_err().to_string();
    assert!(err.contains("outputs[0].values") && err.contains("constrain inputs"), "{err}");
}
