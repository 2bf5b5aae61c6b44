//! Drift: `[reference]` profiled at pack, `verify --data` with `drift.features` and
//! `drift.predictions`, `ferry drift`, checked against Evidently, and hostile reference samples.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const SAMPLES: [&str; 3] = ["same", "income_shift", "new_home_category"];

fn sample(name: &str) -> PathBuf {
    fixture("credit-drift").join("samples").join(format!("{name}.csv"))
}

fn packed(dir: &Path) -> PathBuf {
    let out = dir.join("drift.ferry");
    pack(&fixture("credit-drift"), &out);
    out
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()
}

#[test]
fn verify_data_passes_the_same_distribution_and_fails_a_shift_naming_the_feature() {
    let dir = tempdir();
    let bundle = packed(dir.path());
    // Byte-deterministic: the same sample packs to the same profile and the same bundle.
    let again = dir.path().join("again.ferry");
    pack(&fixture("credit-drift"), &again);
    assert_eq!(std::fs::read(&bundle).unwrap(), std::fs::read(&again).unwrap());
    // `inspect` shows the profile: its sample and every column with its method.
    let o = run(&["inspect", bundle.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(text.contains("\nreference profile reference/profile.json\n  sample sha256:"), "{text}");
    assert!(text.contains("(4000 rows)"), "{text}");
    assert!(
        text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["feature", "home_ownership", "categorical", "js", "0.1"]),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["prediction", "probability", "numeric", "psi", "0.25"]),
        "{text}"
    );

    let expect = [
        ("same", None),
        ("income_shift", Some("annual_income")),
        ("new_home_category", Some("home_ownership")),
    ];
    for (name, drifted) in expect {
        let data = sample(name);
        let o =
            run(&["verify", bundle.to_str().unwrap(), "--data", data.to_str().unwrap(), "--format", "json"]);
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        let features = check(&report, "drift.features");
        let predictions = check(&report, "drift.predictions");
        assert_eq!(check(&report, "contract.data")["status"], "passed", "{name}: {features}");
        match drifted {
            None => {
                assert_eq!(code(&o), 0, "{name}: {}", stdout(&o));
                assert_eq!(features["status"], "passed", "{features}");
                assert_eq!(predictions["status"], "passed", "{predictions}");
            }
            Some(feature) => {
                assert_eq!(code(&o), 1, "{name}: {}", stdout(&o));
                assert_eq!(features["status"], "failed", "{features}");
                let message = features["message"].as_str().unwrap();
                assert!(message.starts_with("1 of 14 features drifted"), "{message}");
                assert!(message.contains(&format!("`{feature}`")), "{message}");
                let evidence = features["evidence"].as_array().unwrap();
                let ev = evidence.iter().find(|e| e["column"] == feature).unwrap();
                assert_eq!(ev["kind"], "drift");
                assert_eq!(ev["decision"], "drift");
                assert!(!ev["moved"].as_array().unwrap().is_empty(), "{ev}");
            }
        }
        // The text report names the feature too.
        let o = run(&["verify", bundle.to_str().unwrap(), "--data", data.to_str().unwrap()]);
        if let Some(feature) = drifted {
            assert!(stdout(&o).contains(feature), "{}", stdout(&o));
        }
    }
}

#[test]
fn ferry_drift_agrees_with_evidently() {
    let dir = tempdir();
    let bundle = packed(dir.path());
    let unpacked = dir.path().join("unpacked");
    let o = run(&["unpack", bundle.to_str().unwrap(), unpacked.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let profile = unpacked.join("reference/profile.json");
    for name in SAMPLES {
        let data = sample(name);
        let o =
            run(&["drift", bundle.to_str().unwrap(), "--data", data.to_str().unwrap(), "--format", "json"]);
        assert_eq!(code(&o), if name == "same" { 0 } else { 1 }, "{}", stderr(&o));
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["rows"], 2000);
        assert_eq!(report["predictions"][0]["name"], "probability");
        let json = dir.path().join(format!("{name}.json"));
        std::fs::write(&json, &o.stdout).unwrap();
        if !python_has("evidently, scipy, pandas") {
            eprintln!("skipping the Evidently comparison: evidently is not installed");
            continue;
        }
        let script = root().join("drift/tests/evidently_check.py");
        let reference = fixture("credit-drift").join("reference/train_sample.csv");
        let out = std::process::Command::new("python3")
            .args([&script, &profile, &json, &reference, &data])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: Ferry and Evidently disagree:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The text format: one line per column, the drifted one marked, exit 1.
    let o = run(&["drift", bundle.to_str().unwrap(), "--data", sample("income_shift").to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    let line = text.lines().find(|l| l.contains("annual_income")).unwrap();
    assert!(line.trim_start().starts_with("DRIFT"), "{text}");
    assert!(text.ends_with("drift in 1 column\n"), "{text}");
}

/// A source directory like credit-drift, with its ferry.toml edited and its reference sample replaced.
fn source_with(dir: &Path, edit: impl FnOnce(String) -> String, sample: Option<&str>) -> PathBuf {
    let src = dir.join("src");
    copy_dir(&fixture("credit-drift"), &src);
    std::fs::remove_dir_all(src.join("samples")).unwrap();
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    std::fs::write(src.join("ferry.toml"), edit(toml)).unwrap();
    if let Some(s) = sample {
        std::fs::write(src.join("reference/train_sample.csv"), s).unwrap();
    }
    src
}

fn pack_fails(src: &Path, needle: &str) {
    let out = src.parent().unwrap().join("out.ferry");
    let o = run(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains(needle), "expected {needle:?} in: {}", stderr(&o));
    assert!(!out.exists(), "a refused pack left {}", out.display());
}

#[test]
fn hostile_reference_samples_are_refused_naming_what_is_wrong() {
    let header = std::fs::read_to_string(fixture("credit-drift").join("reference/train_sample.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let row = "34,72000,0.18,0.22,7,0,,12000,36,6,2,1,0,8400";

    // NaN among fixed bin edges (TOML spells it `nan`).
    let dir = tempdir();
    let src = source_with(
        dir.path(),
        |t| {
            t.replace(
                "[reference.features.loan_term_months]",
                "[reference.features.age]\nedges = [nan, 30.0]\n\n[reference.features.loan_term_months]",
            )
        },
        None,
    );
    pack_fails(&src, "key `reference.features.age.edges[0]`: NaN is not a finite edge");

    // A million categories: a categorical column with more distinct values than a category can be.
    let dir = tempdir();
    let mut text = header.clone() + "\n";
    for i in 0..1_000_000u32 {
        text.push_str(&format!("34,{},0.18,0.22,7,0,,12000,36,6,2,1,0,8400\n", 1000 + i));
    }
    let src = source_with(
        dir.path(),
        |t| {
            t.replace("[reference.features.loan_term_months]", "[reference.features.annual_income]\nkind = \"categorical\"\n\n[reference.features.loan_term_months]")
        },
        Some(&text),
    );
    pack_fails(&src, "column `annual_income`: more than 10000 distinct values");

    // A column missing, a truncated quote, an infinite value, no records.
    let dir = tempdir();
    let src = source_with(
        dir.path(),
        |t| t,
        Some(&format!("{}\n{}\n", header.replace("annual_income", "income"), row)),
    );
    pack_fails(&src, "the reference sample has no column `annual_income`");
    let dir = tempdir();
    let src = source_with(dir.path(), |t| t, Some(&format!("{header}\n{row}\n34,\"72000,0.18\n")));
    pack_fails(&src, "line 3: a quoted field is never closed");
    let dir = tempdir();
    let src = source_with(dir.path(), |t| t, Some(&format!("{header}\n{}\n", row.replace("72000", "inf"))));
    pack_fails(&src, "column `annual_income`, record 0: inf is not a value a profile can hold");
    let dir = tempdir();
    let src = source_with(dir.path(), |t| t, Some(&format!("{header}\n")));
    pack_fails(&src, "the reference sample has no records");
    // A settings key that names no feature.
    let dir = tempdir();
    let src = source_with(
        dir.path(),
        |t| {
            t.replace(
                "[reference.features.loan_term_months]",
                "[reference.features.salary]\nmethod = \"ks\"\n\n[reference.features.loan_term_months]",
            )
        },
        None,
    );
    pack_fails(&src, "column `salary`: [reference.features] names no declared feature");
}

#[test]
fn a_bundle_without_a_reference_skips_drift_and_ferry_drift_says_why() {
    let dir = tempdir();
    let bundle = dir.path().join("credit.ferry");
    pack(&fixture("credit-risk"), &bundle);
    let data = sample("same");
    let o = run(&["verify", bundle.to_str().unwrap(), "--data", data.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(check(&report, "drift.features")["status"], "skipped");
    let o = run(&["drift", bundle.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("the bundle has no reference profile"), "{}", stderr(&o));
}
