//! `ferry_contract::records::first_difference`: how `verify` compares a transform's JSON results with
//! a bundle's golden decisions (both untrusted). The input is `expected \0 actual \0 rtol atol`
//! (tolerances as the last 16 bytes, two little-endian f64s, when there are that many). The comparison
//! must never panic, and a value must equal itself with no tolerance at all (JSON has no NaN).
#![no_main]

use ferry_contract::records::first_difference;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (text, rtol, atol) = match data.len().checked_sub(16) {
        Some(n) => {
            let f = |b: &[u8]| f64::from_le_bytes(b.try_into().expect("8 bytes"));
            (&data[..n], f(&data[n..n + 8]), f(&data[n + 8..]))
        }
        None => (data, 1e-4, 1e-5),
    };
    let mut parts = text.splitn(2, |b| *b == 0);
    let expected = parts.next().and_then(|t| serde_json::from_slice::<Value>(t).ok());
    let actual = parts.next().and_then(|t| serde_json::from_slice::<Value>(t).ok());
    for x in [&expected, &actual].into_iter().flatten() {
        assert_eq!(first_difference(x, x, 0.0, 0.0), None, "a value differs from itself: {x}");
        let _ = first_difference(x, x, rtol, atol);
    }
    if let (Some(e), Some(a)) = (&expected, &actual) {
        let d = first_difference(e, a, rtol, atol);
        if let Some((at, _, _)) = &d {
            assert!(at.is_empty() || at.starts_with('/'), "not a JSON pointer: {at:?}");
        }
        let _ = first_difference(a, e, rtol, atol);
    }
});
