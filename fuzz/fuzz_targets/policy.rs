//! `ferry_spec::policy::Policy::from_toml_str` (a `release.toml` passed to `ferry verify --policy`),
//! then the lookups the verifier makes on a valid policy.
#![no_main]

use ferry_spec::policy::{CheckId, Policy};
use ferry_spec::{DType, GoldenSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::from_toml_str(text) else {
        return;
    };
    let _ = policy.trust.required_signatures();
    let _ = policy.trust.is_configured();
    for id in ["artifact.format", "artifact.signature", "artifact.trust", "golden.outputs", "perf.latency"] {
        if let Some(c) = CheckId::from_id(id) {
            let _ = policy.level(c);
        }
    }
    // Tolerance lookups for every golden set and output the policy names.
    for (set_name, g) in &policy.tolerance.golden {
        let set = GoldenSet {
            name: set_name.clone(),
            file: None,
            inputs: None,
            expected: None,
            records: None,
            decisions: None,
            rtol: None,
            atol: None,
            outputs: Default::default(),
        };
        for output in g.outputs.keys().chain(policy.tolerance.outputs.keys()) {
            let _ = policy.tolerance(&set, output, DType::Float32);
            let _ = policy.tolerance(&set, output, DType::Float16);
        }
    }
});
