//! The profile's invariants: byte-determinism, self-consistency on reading, hostile input refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_drift::{
    ColumnSpec, Decision, DriftError, DriftPolicy, Kind, Live, Method, Observed, Profile, SampleInfo,
    compare, profile_column,
};
use ferry_tensor::{Tensor, TensorData, TensorMap};
use proptest::prelude::*;

fn profile_of(numeric: &[Option<f64>], codes: &[Option<f64>]) -> Profile {
    let num = profile_column(&ColumnSpec::new("features", "income", 0, Kind::Numeric), numeric).unwrap();
    let cat = profile_column(&ColumnSpec::new("features", "home", 1, Kind::Categorical), codes).unwrap();
    Profile {
        profile_version: ferry_drift::PROFILE_VERSION,
        sample: SampleInfo {
            digest: ferry_drift::sample_digest(b"sample"),
            rows: numeric.len() as u64,
            path: None,
        },
        features: vec![num, cat],
        predictions: vec![],
    }
}

fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(f64::NAN)),
        8 => (-1e6f64..1e6).prop_map(Some),
        4 => (0u8..5).prop_map(|v| Some(f64::from(v))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The same sample gives the same bytes, the bytes read back to the same profile, and that profile
    /// writes the same bytes again.
    #[test]
    fn profiles_are_byte_deterministic(
        numeric in proptest::collection::vec(value(), 0..600),
        codes in proptest::collection::vec(prop_oneof![Just(None), (0u8..30).prop_map(|v| Some(f64::from(v)))], 0..600),
    ) {
        let a = profile_of(&numeric, &codes).to_json().unwrap();
        let b = profile_of(&numeric.clone(), &codes.clone()).to_json().unwrap();
        prop_assert_eq!(&a, &b);
        let back = Profile::from_json(&a).unwrap();
        prop_assert_eq!(back.to_json().unwrap(), a);
    }

    /// Data drawn like the reference is never called drifted by PSI; the statistics are finite.
    #[test]
    fn a_sample_compared_with_itself_is_stable(numeric in proptest::collection::vec(value(), 1..400)) {
        let p = profile_of(&numeric, &numeric.iter().map(|v| v.map(|x| (x.abs() % 3.0).floor())).collect::<Vec<_>>());
        let observed = Observed::of(&p.features[0], &numeric);
        let d = compare(&p.features[..1], &[observed], &DriftPolicy::default()).unwrap();
        if p.features[0].present() > 0 {
            prop_assert!(d[0].psi.abs() < 1e-12, "psi {}", d[0].psi);
            prop_assert!(d[0].js.abs() < 1e-7, "js {}", d[0].js);
            prop_assert_eq!(d[0].decision, Decision::Stable);
        }
    }

    /// Reading never panics, whatever the bytes.
    #[test]
    fn reading_arbitrary_json_never_panics(text in ".{0,400}") {
        let _ = Profile::from_json(text.as_bytes());
    }
}

fn corrupt(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Profile, DriftError> {
    let numeric: Vec<Option<f64>> = (0..100).map(|i| Some(f64::from(i))).collect();
    let codes: Vec<Option<f64>> = (0..100).map(|i| Some(f64::from(i % 3))).collect();
    let mut v: serde_json::Value =
        serde_json::from_slice(&profile_of(&numeric, &codes).to_json().unwrap()).unwrap();
    edit(&mut v);
    Profile::from_json(&serde_json::to_vec(&v).unwrap())
}

#[test]
fn inconsistent_profiles_are_refused() {
    let e = corrupt(|v| v["features"][0]["bins"]["edges"][2] = serde_json::json!(1e300)).unwrap_err();
    assert!(e.to_string().contains("column `income`: bin edges are not strictly increasing at 3"), "{e}");
    let e = corrupt(|v| v["features"][0]["bins"]["edges"][2] = serde_json::Value::Null).unwrap_err();
    assert!(e.to_string().starts_with("reference profile: invalid type: null"), "{e}");
    let e = corrupt(|v| v["features"][0]["bins"]["counts"][0] = serde_json::json!(7)).unwrap_err();
    assert!(e.to_string().contains("bins: counts add up to"), "{e}");
    let e = corrupt(|v| v["features"][0]["sketch"] = serde_json::json!("AAAA")).unwrap_err();
    assert!(e.to_string().contains("column `income`: sketch"), "{e}");
    let e = corrupt(|v| v["features"][1]["method"] = serde_json::json!("ks")).unwrap_err();
    assert!(e.to_string().contains("method `ks` does not apply"), "{e}");
    let e = corrupt(|v| v["profile_version"] = serde_json::json!(2)).unwrap_err();
    assert!(e.to_string().contains("profile_version 2 is not supported"), "{e}");
    let e = corrupt(|v| v["sample"]["digest"] = serde_json::json!("sha256:zz")).unwrap_err();
    assert!(e.to_string().contains("sample digest"), "{e}");
    let e = corrupt(|v| v["features"][0]["surprise"] = serde_json::json!(1)).unwrap_err();
    assert!(e.to_string().contains("unknown field `surprise`"), "{e}");
    // A million categories listed.
    let e = corrupt(|v| {
        let c = &mut v["features"][1]["categories"];
        c["values"] = (0..1_000_000).map(f64::from).collect();
        c["counts"] = vec![0u64; 1_000_000].into();
        c["proportions"] = vec![0.0; 1_000_000].into();
    })
    .unwrap_err();
    assert!(e.to_string().contains("1000000 categories: a profile lists at most 1000"), "{e}");
}

#[test]
fn hostile_samples_are_refused() {
    // A million distinct values in a categorical column: refused once past the bound, naming it.
    let many: Vec<Option<f64>> = (0..1_000_000).map(|i| Some(f64::from(i))).collect();
    let e = profile_column(&ColumnSpec::new("features", "home_ownership", 10, Kind::Categorical), &many)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "column `home_ownership`: more than 10000 distinct values: too many for a categorical column (declare it numeric)"
    );
    // NaN among fixed bin edges (TOML can spell `nan`).
    let mut spec = ColumnSpec::new("features", "income", 1, Kind::Numeric);
    spec.edges = Some(vec![0.0, f64::NAN, 10.0]);
    let e = profile_column(&spec, &[Some(1.0)]).unwrap_err();
    assert_eq!(e.to_string(), "column `income`: bin edge 1 is NaN");
    spec.edges = Some(vec![5.0, 1.0]);
    assert!(profile_column(&spec, &[Some(1.0)]).unwrap_err().to_string().contains("not strictly increasing"));
    // An infinite value, named by record.
    let e = profile_column(
        &ColumnSpec::new("features", "income", 1, Kind::Numeric),
        &[Some(1.0), Some(f64::INFINITY)],
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "column `income`, record 1: inf is not a value a profile can hold");
    // A method that does not fit, a threshold out of range.
    let mut spec = ColumnSpec::new("features", "home", 0, Kind::Categorical);
    spec.method = Some(Method::Ks);
    assert!(profile_column(&spec, &[Some(1.0)]).is_err());
    spec.method = Some(Method::Chi2);
    spec.threshold = Some(2.0);
    assert!(
        profile_column(&spec, &[Some(1.0)]).unwrap_err().to_string().contains("threshold 2 is out of range")
    );
}

#[test]
fn shifts_and_new_categories_are_drift() {
    let reference: Vec<Option<f64>> = (0..5000).map(|i| Some(f64::from(i % 1000))).collect();
    let codes: Vec<Option<f64>> = (0..5000).map(|i| Some(f64::from(i % 3))).collect();
    let p = profile_of(&reference, &codes);
    let same = compare(
        &p.features,
        &[Observed::of(&p.features[0], &reference[..2000]), Observed::of(&p.features[1], &codes[..2000])],
        &DriftPolicy::default(),
    )
    .unwrap();
    assert!(same.iter().all(|d| d.decision == Decision::Stable), "{same:#?}");
    let shifted: Vec<Option<f64>> = reference.iter().map(|v| v.map(|x| x * 1.5)).collect();
    let mut new_codes = codes.clone();
    for v in new_codes.iter_mut().step_by(5) {
        *v = Some(7.0);
    }
    let th = DriftPolicy { require: vec![Method::Ks, Method::Chi2], ..DriftPolicy::default() };
    let d = compare(
        &p.features,
        &[Observed::of(&p.features[0], &shifted), Observed::of(&p.features[1], &new_codes)],
        &th,
    )
    .unwrap();
    assert_eq!(d[0].decision, Decision::Drift, "{:#?}", d[0]);
    assert!(d[0].reason.starts_with("psi "), "{}", d[0].reason);
    assert!(d[0].ks.unwrap().statistic > 0.1);
    assert_eq!(d[1].decision, Decision::Drift, "{:#?}", d[1]);
    assert_eq!(d[1].moved[0].bucket, "new 7");
    assert_eq!(d[1].chi2.unwrap().p_value, 0.0);
    // All null: no data to compare, said so.
    let nulls = vec![None; 10];
    let d = compare(&p.features[..1], &[Observed::of(&p.features[0], &nulls)], &th).unwrap();
    assert_eq!(d[0].decision, Decision::NoData);
    assert_eq!(d[0].null_share, 1.0);
}

#[test]
fn the_live_profile_counts_what_the_batch_comparison_counts() {
    let reference: Vec<Option<f64>> = (0..1000).map(|i| Some(f64::from(i))).collect();
    let codes: Vec<Option<f64>> = (0..1000).map(|i| Some(f64::from(i % 3))).collect();
    let p = profile_of(&reference, &codes);
    let live = Live::new(p.clone());
    assert_eq!(live.state_bytes(), (48 + 8 * (10 + 9)) + (48 + 8 * (4 + 3)));
    let before = live.snapshot();
    let rows: Vec<(f64, f64)> = (0..300).map(|i| (f64::from(i) * 2.5, f64::from(i % 4))).collect();
    std::thread::scope(|s| {
        for chunk in rows.chunks(50) {
            let live = &live;
            s.spawn(move || {
                for (a, b) in chunk {
                    let t = Tensor { shape: vec![1, 2], data: TensorData::F32(vec![*a as f32, *b as f32]) };
                    live.observe(&TensorMap::from([("features".to_owned(), t)]), &TensorMap::new());
                }
            });
        }
    });
    live.refuse("features", Some("income"), "max");
    let window = live.snapshot().since(&before);
    assert_eq!(window.calls, 301);
    assert_eq!(window.refused, 1);
    assert_eq!(window.refusals.get(&("features".into(), "income".into(), "max".into())), Some(&1));
    let batch = Observed::of(&p.features[0], &rows.iter().map(|r| Some(r.0)).collect::<Vec<_>>());
    assert_eq!(window.features[0].buckets, batch.buckets);
    let (features, _) = live.compare(&window, &DriftPolicy::default()).unwrap();
    // Category 3 was never seen and the reference listed all of its own: counted as other, and drift.
    assert_eq!(window.features[1].buckets.last(), Some(&75));
    assert_eq!(features[1].decision, Decision::Drift);
}
