//! The Ferry manifest (a bundle's config blob) as the reader parses it (`bundle/src/reader.rs`: JSON,
//! `format_version`, then `ferry_spec::Manifest`), then what the verifier and runtime do with a parsed
//! one: the `ferry.toml` rules on its source view, path checks, the pins' semver, and the canonical
//! JSON writer (which must reproduce a manifest that parses to the same value).
#![no_main]

use ferry_spec::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if value.get("format_version").and_then(|v| v.as_u64()) != Some(u64::from(ferry_spec::FORMAT_VERSION)) {
        return;
    }
    let Ok(m) = serde_json::from_value::<Manifest>(value) else {
        return;
    };
    for f in &m.files {
        let _ = ferry_spec::check_relative_path(&f.path);
        let _ = m.file(&f.path);
    }
    for t in m.inputs.iter().chain(&m.outputs) {
        let _ = m.input(&t.name);
        let _ = m.output(&t.name);
        let _ = t.shape_string();
    }
    let _ = semver::VersionReq::parse(&m.pins.onnxruntime);
    let _ = semver::Version::parse(&m.pins.ferry_version);
    // The verifier's `artifact.format`: the manifest seen as the source it was packed from.
    let source = m.source_view();
    let _ = source.validate();
    let canonical = ferry_spec::to_canonical_json(&m).expect("a parsed manifest serializes");
    let again: Manifest = serde_json::from_slice(&canonical).expect("canonical JSON of a manifest parses");
    assert_eq!(
        ferry_spec::to_canonical_json(&again).expect("a parsed manifest serializes"),
        canonical,
        "canonical JSON is not stable"
    );
});
