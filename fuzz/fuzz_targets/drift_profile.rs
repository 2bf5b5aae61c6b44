//! `ferry_drift::Profile::from_json` on arbitrary bytes (the JSON, every column's consistency, the
//! t-digest's DataSketches serialisation), then, for a profile that reads, what every consumer does with
//! it: a streaming profile fed a tensor, its window compared, and a sample observed and compared.
#![no_main]

use ferry_drift::{DriftPolicy, Live, Observed, Profile};
use ferry_tensor::{Tensor, TensorData, TensorMap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = Profile::from_json(data) else {
        return;
    };
    let _ = profile.to_json();
    let values: Vec<Option<f64>> = (0..64).map(|i| (i % 7 != 0).then(|| f64::from(i) * 1.5 - 20.0)).collect();
    let observed: Vec<Observed> = profile.features.iter().map(|c| Observed::of(c, &values)).collect();
    let _ = ferry_drift::compare(&profile.features, &observed, &DriftPolicy::default());
    let live = Live::new(profile.clone());
    let mut map = TensorMap::new();
    for c in profile.columns() {
        let width = c.index.saturating_add(1).min(64);
        map.insert(c.tensor.clone(), Tensor { shape: vec![2, width], data: TensorData::F32(vec![1.0; 2 * width]) });
    }
    live.observe(&map, &map);
    let _ = live.compare(&live.snapshot(), &DriftPolicy::default());
});
