//! `ferry_bundle::tar::parse`, the strict ustar reader under `Bundle::open`, on arbitrary bytes. The
//! reader slices the archive with the offsets it returns, so every member must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = ferry_bundle::tar::parse(data) else {
        return;
    };
    for e in &entries {
        let end = e.offset.checked_add(e.size).expect("member end overflows");
        assert!(end <= data.len() as u64, "member `{}` ends at {end}, past the archive ({})", e.name, data.len());
    }
});
