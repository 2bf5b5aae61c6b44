//! `ferry_transform::describe`: what the packager and the verifier read off a bundle's WebAssembly
//! component (its exports and imports, then a full validation) without compiling it. It must never
//! panic; a component it describes must describe the same twice, and its foreign imports must be some
//! of its imports.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = ferry_transform::describe(data) else {
        return;
    };
    assert_eq!(ferry_transform::describe(data).as_ref(), Ok(&info), "describe is not deterministic");
    for i in info.foreign_imports() {
        assert!(info.imports.iter().any(|j| j == i), "foreign import {i:?} is not an import");
    }
    for i in &info.imports {
        let _ = (ferry_transform::allowed_import(i), ferry_transform::is_wasi_p2(i));
    }
});
