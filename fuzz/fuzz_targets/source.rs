//! `ferry_spec::Source::from_toml_str` (a bundle source's `ferry.toml`, parsed and validated), then the
//! derived views the packager uses.
#![no_main]

use ferry_spec::{DType, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(source) = Source::from_toml_str(text) else {
        return;
    };
    for p in source.named_files() {
        ferry_spec::check_relative_path(&p).expect("a validated source names only safe paths");
    }
    for t in source.inputs.iter().chain(&source.outputs) {
        let _ = t.shape_string();
    }
    for g in &source.golden {
        for o in &source.outputs {
            let _ = g.tolerance(&o.name, DType::Float32);
        }
    }
});
