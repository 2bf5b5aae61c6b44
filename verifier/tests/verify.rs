//! The check suite against real bundles: the fixtures pass, and every check fails for the right reason
//! on a bundle broken in one specific way. Golden and perf checks run ONNX Runtime
//! (`scripts/fetch-onnxruntime` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::Bundle;
use ferry_onnx::OnnxDim;
use ferry_onnx::encode::ModelBuilder;
use ferry_spec::DType;
use ferry_testkit::{copy_source, find, fixture, flip_byte_at, pack, rewrite, root};
use ferry_verifier::{
    CheckId, Evidence, Format, Level, Outcome, Policy, Report, SignatureCheck, Status, VerifyError,
    VerifyOptions, render, verify,
};
use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

fn run(bundle: &Path) -> Report {
    verify(bundle, &VerifyOptions::default()).unwrap()
}

fn run_with(bundle: &Path, policy: &str) -> Report {
    let options =
        VerifyOptions { policy: Policy::from_toml_str(policy).unwrap(), ..VerifyOptions::default() };
    verify(bundle, &options).unwrap()
}

fn status(r: &Report, id: CheckId) -> Status {
    r.check(id).unwrap().status
}

fn evidence(r: &Report, id: CheckId) -> &[Evidence] {
    &r.check(id).unwrap().evidence
}

/// Every check's status, for a readable assertion message.
fn statuses(r: &Report) -> String {
    r.checks.iter().map(|c| format!("{} {}: {}\n", c.id, c.status, c.message)).collect()
}

// --- the fixtures pass --------------------------------------------------------------------------------

#[test]
fn credit_risk_passes_every_check_and_the_report_is_deterministic() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let r = run(&bundle);
    assert!(r.passed, "{}", statuses(&r));
    assert_eq!(r.exit_code, 0);
    let ids: Vec<CheckId> = r.checks.iter().map(|c| c.id).collect();
    assert_eq!(ids, CheckId::ALL, "checks are in the fixed order");
    for id in CheckId::ALL {
        let expected = match id {
            CheckId::ArtifactSignature
            | CheckId::ArtifactTrust
            | CheckId::ArtifactTransform
            | CheckId::ContractRecords
            | CheckId::ContractData
            | CheckId::PerfLatency
            | CheckId::RebuildIdentical
            | CheckId::DriftFeatures
            | CheckId::DriftPredictions => Status::Skipped,
            _ => Status::Passed,
        };
        assert_eq!(status(&r, id), expected, "{id}\n{}", statuses(&r));
    }
    assert_eq!(r.check(CheckId::PerfLatency).unwrap().level, Level::Skip);
    assert!(
        r.check(CheckId::ArtifactSignature).unwrap().message.contains("no signature checking configured")
    );
    // Golden evidence records how close every output came.
    let golden = r.check(CheckId::GoldenOutputs).unwrap();
    let names: Vec<&str> = golden.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["smoke", "edge"], "golden sets in bundle order");
    for case in &golden.cases {
        assert!(
            matches!(&case.evidence[..], [Evidence::Output { passed: true, output, .. }] if output == "probability")
        );
    }
    assert_eq!(r.bundle.name.as_deref(), Some("credit-risk"));
    assert!(r.bundle.manifest_digest.as_deref().unwrap().starts_with("sha256:"));
    // Two runs differ only in their timings.
    let again = run(&bundle);
    assert_eq!(r.to_json_without_timings(), again.to_json_without_timings());
}

#[test]
fn text_embedding_passes() {
    let (_d, bundle) = pack(&fixture("text-embedding"));
    let r = run(&bundle);
    assert!(r.passed, "{}", statuses(&r));
    assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Passed);
    assert_eq!(status(&r, CheckId::ArtifactPins), Status::Passed);
}

// --- artifact ------------------------------------------------------------------------------------------

#[test]
fn flipped_blob_byte_fails_artifact_digest_and_skips_content_checks() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let model = std::fs::read(fixture("credit-risk/model.onnx")).unwrap();
    let bytes = std::fs::read(&bundle).unwrap();
    let at = find(&bytes, &model[model.len() / 2..model.len() / 2 + 64]);
    flip_byte_at(&bundle, at + 10);
    let r = run(&bundle);
    assert_eq!(r.exit_code, 1);
    assert_eq!(status(&r, CheckId::ArtifactLayout), Status::Passed, "the archive itself is intact");
    assert_eq!(status(&r, CheckId::ArtifactDigest), Status::Failed);
    match evidence(&r, CheckId::ArtifactDigest) {
        [Evidence::Digest { file: Some(f), expected, actual, .. }] => {
            assert_eq!(f, "model.onnx");
            assert_ne!(expected, actual);
        }
        other => panic!("{other:?}"),
    }
    assert!(r.check(CheckId::ArtifactDigest).unwrap().message.contains("`model.onnx`"));
    for id in [CheckId::ContractModelIo, CheckId::ContractGoldenInputs, CheckId::GoldenOutputs] {
        let c = r.check(id).unwrap();
        assert_eq!(c.status, Status::Skipped, "{id}");
        assert!(c.message.contains("artifact.digest failed"), "{}", c.message);
    }
}

#[test]
fn flipped_byte_in_a_compressed_blob_names_the_file() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let b = Bundle::open(&bundle).unwrap();
    let entry = b.manifest().file("config.schema.json").unwrap().clone();
    let stored = b.blob(&entry.blob).unwrap().to_vec();
    drop(b);
    let bytes = std::fs::read(&bundle).unwrap();
    let at = find(&bytes, &stored);
    flip_byte_at(&bundle, at + stored.len() / 2);
    let r = run(&bundle);
    assert_eq!(status(&r, CheckId::ArtifactDigest), Status::Failed);
    assert!(
        matches!(evidence(&r, CheckId::ArtifactDigest), [Evidence::Digest { file: Some(f), blob, .. }] if f == "config.schema.json" && *blob == entry.blob)
    );
}

#[test]
fn tampered_manifest_cannot_be_opened_and_fails_artifact_digest() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let bytes = std::fs::read(&bundle).unwrap();
    let at = find(&bytes, br#""format_version":2"#);
    flip_byte_at(&bundle, at + 3);
    let r = run(&bundle);
    assert_eq!(r.exit_code, 1, "read but refused: exit 1, not 2");
    assert_eq!(status(&r, CheckId::ArtifactDigest), Status::Failed, "{}", statuses(&r));
    assert!(matches!(evidence(&r, CheckId::ArtifactDigest), [Evidence::Digest { file: None, .. }]));
    assert!(r.check(CheckId::ArtifactDigest).unwrap().message.contains("the Ferry manifest"));
    assert_eq!(r.bundle.name, None);
    for id in [CheckId::ArtifactFormat, CheckId::ArtifactLayout, CheckId::GoldenOutputs] {
        assert_eq!(status(&r, id), Status::Skipped, "{id}");
        assert!(r.check(id).unwrap().message.contains("could not be opened"));
    }
}

#[test]
fn truncated_bundle_fails_artifact_layout_even_when_the_policy_skips_it() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(&bundle, &bytes[..bytes.len() / 2]).unwrap();
    for policy in ["", "[checks]\n\"artifact.layout\" = \"skip\""] {
        let r = run_with(&bundle, policy);
        assert_eq!(r.exit_code, 1);
        let c = r.check(CheckId::ArtifactLayout).unwrap();
        assert_eq!(c.status, Status::Failed);
        assert_eq!(c.level, Level::Required);
        assert!(
            matches!(&c.evidence[..], [Evidence::Member { message, .. }] if message.contains("truncated")),
            "{:?}",
            c.evidence
        );
        assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Skipped);
    }
}

#[test]
fn unexpected_member_fails_artifact_layout() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    // Append a stray tar member in place of the end-of-archive blocks.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let end = bytes.len() - 1024;
    bytes.truncate(end);
    let mut header = vec![0u8; 512];
    let name = b"blobs/sha256/stray";
    header[..name.len()].copy_from_slice(name);
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(b"00000000000\0");
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&[0u8; 1024]);
    std::fs::write(&bundle, &bytes).unwrap();
    let r = run(&bundle);
    assert_eq!(status(&r, CheckId::ArtifactLayout), Status::Failed, "{}", statuses(&r));
    let text = evidence(&r, CheckId::ArtifactLayout)[0].describe();
    assert!(text.contains("stray") || text.contains("tar"), "{text}");
}

#[test]
fn unsupported_format_version_fails_artifact_format() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let out = d.path().join("v2.ferry");
    rewrite(&bundle, &out, |m, _| m.format_version = ferry_spec::FORMAT_VERSION + 1);
    let r = run(&out);
    assert_eq!(r.exit_code, 1);
    assert_eq!(status(&r, CheckId::ArtifactFormat), Status::Failed);
    assert_eq!(evidence(&r, CheckId::ArtifactFormat), [Evidence::FormatVersion { found: 3, supported: 2 }]);
}

#[test]
fn manifest_breaking_format_rules_fails_artifact_format() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let out = d.path().join("bad.ferry");
    rewrite(&bundle, &out, |m, _| {
        m.model.version = "not-semver".into();
    });
    let r = run(&out);
    assert_eq!(status(&r, CheckId::ArtifactFormat), Status::Failed);
    assert!(
        matches!(
            evidence(&r, CheckId::ArtifactFormat),
            [Evidence::Schema { document, pointer, rule, .. }] if document == "manifest" && pointer == "/model/version" && rule == "format"
        ),
        "{:?}",
        evidence(&r, CheckId::ArtifactFormat)
    );
}

#[test]
fn pins_that_do_not_fit_fail_artifact_pins() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let out = d.path().join("pins.ferry");
    rewrite(&bundle, &out, |m, _| {
        m.pins.onnxruntime = ">=9.0.0".into();
        m.pins.onnx.ir_version += 1;
    });
    let r = run(&out);
    assert_eq!(status(&r, CheckId::ArtifactPins), Status::Failed);
    let ev = evidence(&r, CheckId::ArtifactPins);
    assert!(ev.iter().any(|e| matches!(e, Evidence::Pin { pin, required, found } if pin == "onnxruntime" && required == ">=9.0.0" && found.contains("1.31"))), "{ev:?}");
    assert!(ev.iter().any(|e| matches!(e, Evidence::Pin { pin, .. } if pin == "onnx.ir_version")), "{ev:?}");
    // The runtime refuses such a bundle too, so the golden sets cannot run.
    assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Failed);
}

#[test]
fn signature_check_is_pluggable() {
    struct Refuse;
    impl SignatureCheck for Refuse {
        fn check(&self, b: &Bundle, trust: &ferry_spec::policy::Trust, keys: &[PathBuf]) -> Outcome {
            assert_eq!(trust.required_signatures(), 1);
            assert_eq!(keys.len(), 1);
            Outcome::failed(
                "no signature from an allowed key",
                vec![Evidence::Signature {
                    signer: None,
                    referrer: None,
                    message: format!("{} referrers", b.referrers().len()),
                }],
            )
        }
        fn trust(&self, _: &Bundle, trust: &ferry_spec::policy::Trust) -> Outcome {
            Outcome::failed(
                format!("{} signatures required, none found", trust.required_signatures()),
                Vec::new(),
            )
        }
    }
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let options = VerifyOptions {
        policy: Policy::from_toml_str("[trust]\nkeys = [\"release.pub\"]").unwrap(),
        keys: vec!["ci.pub".into()],
        signatures: Some(Arc::new(Refuse)),
        ..VerifyOptions::default()
    };
    let r = verify(&bundle, &options).unwrap();
    assert_eq!(status(&r, CheckId::ArtifactSignature), Status::Failed);
    assert_eq!(status(&r, CheckId::ArtifactTrust), Status::Failed);
    assert_eq!(r.exit_code, 1);
}

// --- contract ------------------------------------------------------------------------------------------

#[test]
fn renamed_output_fails_contract_model_io() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let out = d.path().join("renamed.ferry");
    rewrite(&bundle, &out, |m, _| {
        m.outputs[0].name = "score".into();
        for g in &mut m.golden {
            let t = g.outputs.remove("probability").unwrap();
            g.outputs.insert("score".into(), t);
        }
    });
    let r = run(&out);
    assert_eq!(r.exit_code, 1);
    assert_eq!(
        status(&r, CheckId::ArtifactFormat),
        Status::Passed,
        "{:?}",
        evidence(&r, CheckId::ArtifactFormat)
    );
    assert_eq!(status(&r, CheckId::ContractModelIo), Status::Failed);
    let ev = evidence(&r, CheckId::ContractModelIo);
    let expected = [
        Evidence::Contract {
            side: "output".into(),
            tensor: "score".into(),
            field: "name".into(),
            declared: "score".into(),
            model: "-".into(),
        },
        Evidence::Contract {
            side: "output".into(),
            tensor: "probability".into(),
            field: "name".into(),
            declared: "-".into(),
            model: "probability".into(),
        },
    ];
    assert_eq!(ev, expected);
    // The golden files still carry `probability`.
    assert_eq!(status(&r, CheckId::ContractGoldenInputs), Status::Failed);
}

#[test]
fn wrong_dtype_in_the_contract_fails_contract_model_io() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let out = d.path().join("dtype.ferry");
    rewrite(&bundle, &out, |m, _| m.inputs[0].dtype = DType::Float64);
    let r = run(&out);
    assert_eq!(status(&r, CheckId::ContractModelIo), Status::Failed);
    assert_eq!(
        evidence(&r, CheckId::ContractModelIo),
        [Evidence::Contract {
            side: "input".into(),
            tensor: "features".into(),
            field: "dtype".into(),
            declared: "float64".into(),
            model: "float32".into(),
        }]
    );
    // The float32 golden inputs break the float64 contract.
    let c = r.check(CheckId::ContractGoldenInputs).unwrap();
    assert_eq!(c.status, Status::Failed);
    assert!(c.cases.iter().all(|k| k.status == Status::Failed));
}

#[test]
fn wrong_fixed_dim_fails_contract_model_io() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let out = d.path().join("dim.ferry");
    rewrite(&bundle, &out, |m, _| m.outputs[0].shape[1] = ferry_spec::Dim::Fixed(2));
    let r = run(&out);
    assert!(evidence(&r, CheckId::ContractModelIo).iter().any(
        |e| matches!(e, Evidence::Contract { field, declared, model, .. } if field == "shape[1]" && declared == "2" && model == "1")
    ), "{:?}", evidence(&r, CheckId::ContractModelIo));
}

#[test]
fn default_config_outside_its_schema_fails_contract_config_schema() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let out = d.path().join("config.ferry");
    rewrite(&bundle, &out, |_, files| {
        files.insert(
            "config.json".into(),
            br#"{"decision_threshold": 1.5, "intra_op_threads": 0, "currency": "USD"}"#.to_vec(),
        );
    });
    let r = run(&out);
    assert_eq!(r.exit_code, 1);
    assert_eq!(status(&r, CheckId::ContractConfigSchema), Status::Failed);
    match evidence(&r, CheckId::ContractConfigSchema) {
        [Evidence::Schema { document, pointer, rule, .. }] => {
            assert_eq!(document, "config.json");
            assert_eq!(pointer, "/decision_threshold");
            assert!(rule.starts_with("maximum"), "{rule}");
        }
        other => panic!("{other:?}"),
    }
    // The runtime refuses a config outside its schema as well.
    assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Failed);
}

#[test]
fn golden_input_outside_a_feature_range_fails_contract_golden_inputs() {
    let src = copy_source("credit-risk");
    let path = src.path().join("golden/edge.inputs.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["features"]["data"][14] = serde_json::json!(17.0); // row 1, `age` (min 18)
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (_d, bundle) = pack(src.path());
    let r = run(&bundle);
    let c = r.check(CheckId::ContractGoldenInputs).unwrap();
    assert_eq!(c.status, Status::Failed);
    assert_eq!(c.cases[0].status, Status::Passed);
    let edge = &c.cases[1];
    assert_eq!((edge.name.as_str(), edge.status), ("edge", Status::Failed));
    match &edge.evidence[..] {
        [Evidence::GoldenTensor { set, file, tensor, feature, index, value, .. }] => {
            assert_eq!(set, "edge");
            assert_eq!(file, "golden/edge.inputs.json");
            assert_eq!(tensor.as_deref(), Some("features"));
            assert_eq!(feature.as_deref(), Some("age"));
            assert_eq!(index.as_deref(), Some(&[1, 0][..]));
            assert_eq!(value.as_deref(), Some("17.0"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn data_file_breaking_feature_constraints_fails_contract_data() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let names = [
        "age",
        "annual_income",
        "debt_to_income",
        "credit_utilization",
        "num_open_accounts",
        "num_delinquencies_2y",
        "months_since_last_delinquency",
        "loan_amount",
        "loan_term_months",
        "employment_length_years",
        "home_ownership",
        "has_mortgage",
        "inquiries_6m",
        "revolving_balance",
    ];
    let good = "30,50000,0.3,0.2,5,0,,10000,36,4,1,0,1,2000";
    let mut csv = format!("id,{}\n", names.join(","));
    for i in 0..8 {
        csv.push_str(&format!("{i},{good}\n"));
    }
    csv.push_str("8,17,50000,0.3,0.2,5,0,,10000,48,4,1,0,1,2000\n"); // age below min, term not allowed
    csv.push_str("9,\"30\",50000,0.3,0.2,5,0,12,10000,36,4,1,0,1,\"n/a\"\n"); // text where a number belongs
    let data = d.path().join("sample.csv");
    std::fs::write(&data, csv).unwrap();
    let options = VerifyOptions { data: Some(data.clone()), ..VerifyOptions::default() };
    let r = verify(&bundle, &options).unwrap();
    assert_eq!(r.exit_code, 1);
    assert_eq!(status(&r, CheckId::ContractData), Status::Failed);
    let ev = evidence(&r, CheckId::ContractData);
    let find = |feature: &str, rule: &str| {
        ev.iter()
            .find(|e| matches!(e, Evidence::Feature { feature: f, rule: r, .. } if f == feature && r == rule))
            .unwrap_or_else(|| panic!("no {feature}/{rule} in {ev:?}"))
            .clone()
    };
    assert_eq!(
        find("age", "min"),
        Evidence::Feature {
            input: "features".into(),
            feature: "age".into(),
            column: Some("age".into()),
            rule: "min".into(),
            rows: 1,
            total_rows: 10,
            share: ferry_verifier::Num(0.1),
            first_record: Some(8),
            first_line: Some(10),
            value: Some("17".into()),
        }
    );
    // The record is counted from 0, as `ferry run` counts the rows of a batch (`at [8, 0]`); the line
    // from 1, as editors count them.
    assert_eq!(
        find("age", "min").describe(),
        "input `features`, feature `age` (column `age`): 1 of 10 rows (10.00%) breaks rule `min`; first at record 8 (line 10): 17"
    );
    assert!(matches!(find("loan_term_months", "allowed"), Evidence::Feature { rows: 1, .. }));
    assert!(matches!(
        find("revolving_balance", "type"),
        Evidence::Feature { first_record: Some(9), first_line: Some(11), .. }
    ));
    assert_eq!(ev.len(), 3, "{ev:?}");

    // A policy may tolerate a share of bad rows; the evidence stays in the report.
    let options = VerifyOptions {
        data: Some(data),
        policy: Policy::from_toml_str("[data]\nmax_violation_share = 0.1").unwrap(),
        ..VerifyOptions::default()
    };
    let r = verify(&bundle, &options).unwrap();
    assert_eq!(status(&r, CheckId::ContractData), Status::Passed, "{}", statuses(&r));
    assert_eq!(evidence(&r, CheckId::ContractData).len(), 3);
}

#[test]
fn json_lines_data_and_missing_columns() {
    let (d, bundle) = pack(&fixture("credit-risk"));
    let data = d.path().join("sample.jsonl");
    std::fs::write(&data, "{\"age\": 40, \"months_since_last_delinquency\": null}\n\n{\"age\": null}\n")
        .unwrap();
    let r = verify(&bundle, &VerifyOptions { data: Some(data), ..VerifyOptions::default() }).unwrap();
    assert_eq!(status(&r, CheckId::ContractData), Status::Failed);
    let ev = evidence(&r, CheckId::ContractData);
    // The second record is on the third line: blank lines are not records.
    assert!(ev.iter().any(|e| matches!(e, Evidence::Feature { feature, rule, rows: 1, first_record: Some(1), first_line: Some(3), .. } if feature == "age" && rule == "null")), "{ev:?}");
    assert!(ev.iter().any(|e| matches!(e, Evidence::Feature { feature, rule, column: None, rows: 2, .. } if feature == "annual_income" && rule == "column")), "{ev:?}");
    assert!(
        !ev.iter().any(
            |e| matches!(e, Evidence::Feature { feature, .. } if feature == "months_since_last_delinquency")
        ),
        "nullable"
    );
}

// --- golden --------------------------------------------------------------------------------------------

/// The credit-risk source with one expected value of the `edge` set moved by `delta`.
fn off_by(delta: f64) -> (TempDir, PathBuf, f64) {
    let src = copy_source("credit-risk");
    let path = src.path().join("golden/edge.expected.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let original = doc["probability"]["data"][1].as_f64().unwrap();
    doc["probability"]["data"][1] = serde_json::json!(original + delta);
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = src.path().join("off.ferry");
    ferry_packager::pack(src.path(), &out).unwrap();
    (src, out, original)
}

#[test]
fn golden_off_by_more_than_its_tolerance_fails_golden_outputs() {
    let (_src, bundle, original) = off_by(0.01);
    let r = run(&bundle);
    assert_eq!(r.exit_code, 1);
    let c = r.check(CheckId::GoldenOutputs).unwrap();
    assert_eq!(c.status, Status::Failed);
    assert!(c.message.contains("`edge`"), "{}", c.message);
    assert_eq!(c.cases[0].status, Status::Passed, "smoke is untouched");
    let edge = &c.cases[1];
    assert_eq!(edge.status, Status::Failed);
    match &edge.evidence[..] {
        [
            Evidence::Output {
                set,
                output,
                passed: false,
                rtol,
                atol,
                elements: 3,
                mismatches: 1,
                max_abs,
                max_rel,
                first_mismatch,
                expected,
                actual,
                problem: None,
            },
        ] => {
            assert_eq!((set.as_str(), output.as_str()), ("edge", "probability"));
            assert_eq!((rtol.0, atol.0), (1e-4, 1e-5), "the bundle's tolerances");
            assert!((max_abs.0 - 0.01).abs() < 1e-6, "{max_abs:?}");
            assert!(
                (max_rel.0 - 0.01 / (original + 0.01)).abs() < 1e-3,
                "relative to the expected value: {max_rel:?}"
            );
            assert_eq!(first_mismatch.as_deref(), Some(&[1, 0][..]));
            let e: f64 = expected.as_deref().unwrap().parse().unwrap();
            let a: f64 = actual.as_deref().unwrap().parse().unwrap();
            assert!((e - (original + 0.01)).abs() < 1e-6 && (a - original).abs() < 1e-6, "{e} {a}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn policy_tolerances_and_levels_apply() {
    let (_src, bundle, _) = off_by(0.01);
    // A looser tolerance for that one set makes it pass.
    let r = run_with(&bundle, "[tolerance.golden.edge]\natol = 0.05");
    assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Passed, "{}", statuses(&r));
    assert!(
        matches!(&r.check(CheckId::GoldenOutputs).unwrap().cases[1].evidence[0], Evidence::Output { atol, .. } if atol.0 == 0.05)
    );
    // A tolerance for another output or set does not.
    let r = run_with(&bundle, "[tolerance.golden.smoke]\natol = 0.05");
    assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Failed);
    // `warn` reports the failure without failing the verification.
    let r = run_with(&bundle, "[checks]\n\"golden.outputs\" = \"warn\"");
    let c = r.check(CheckId::GoldenOutputs).unwrap();
    assert_eq!((c.status, c.severity), (Status::Warning, ferry_verifier::Severity::Warning));
    assert_eq!(c.cases[1].status, Status::Warning);
    assert_eq!((r.passed, r.exit_code, r.summary.warnings), (true, 0, 1));
    // `skip` does not run it.
    let r = run_with(&bundle, "[checks]\n\"golden.outputs\" = \"skip\"");
    assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Skipped);
    assert_eq!(r.exit_code, 0);
}

/// A bundle source around `y = Sqrt(x)`, float32 `[batch, 2]`, with the given golden sets
/// (name, inputs, expected; JSON `null` is NaN).
fn sqrt_source(sets: &[(&str, &str, &str)]) -> TempDir {
    let dir = TempDir::new().unwrap();
    let shape = [OnnxDim::Param("batch".into()), OnnxDim::Value(2)];
    let model = ModelBuilder::new(17)
        .input("x", DType::Float32, &shape)
        .output("y", DType::Float32, &shape)
        .node("Sqrt", &["x"], &["y"])
        .build();
    std::fs::write(dir.path().join("model.onnx"), model).unwrap();
    let mut toml = String::from(
        "[model]\nname = \"sqrt\"\nversion = \"1.0.0\"\nonnx = \"model.onnx\"\n\n\
         [[inputs]]\nname = \"x\"\ndtype = \"float32\"\nshape = [\"batch\", 2]\n\
         [[inputs.features]]\nname = \"a\"\nnullable = true\n[[inputs.features]]\nname = \"b\"\nnullable = true\n\n\
         [[outputs]]\nname = \"y\"\ndtype = \"float32\"\nshape = [\"batch\", 2]\n",
    );
    std::fs::create_dir_all(dir.path().join("golden")).unwrap();
    for (name, inputs, expected) in sets {
        let t = |key: &str, data: &str| {
            format!("{{\"{key}\": {{\"dtype\": \"float32\", \"shape\": [1, 2], \"data\": {data}}}}}")
        };
        std::fs::write(dir.path().join(format!("golden/{name}.in.json")), t("x", inputs)).unwrap();
        std::fs::write(dir.path().join(format!("golden/{name}.out.json")), t("y", expected)).unwrap();
        toml.push_str(&format!(
            "\n[[golden]]\nname = \"{name}\"\ninputs = \"golden/{name}.in.json\"\nexpected = \"golden/{name}.out.json\"\n"
        ));
    }
    std::fs::write(dir.path().join("ferry.toml"), toml).unwrap();
    dir
}

#[test]
fn nan_where_a_number_was_expected_fails_golden_outputs() {
    let src =
        sqrt_source(&[("nan-ok", "[4.0, null]", "[2.0, null]"), ("nan-bad", "[4.0, -1.0]", "[2.0, 1.0]")]);
    let (_d, bundle) = pack(src.path());
    let r = run(&bundle);
    let c = r.check(CheckId::GoldenOutputs).unwrap();
    assert_eq!(c.status, Status::Failed, "{}", statuses(&r));
    assert_eq!(c.cases[0].status, Status::Passed, "NaN equals NaN: {:?}", c.cases[0]);
    match &c.cases[1].evidence[..] {
        [Evidence::Output { passed: false, mismatches: 1, first_mismatch, expected, actual, .. }] => {
            assert_eq!(first_mismatch.as_deref(), Some(&[0, 1][..]));
            assert_eq!(expected.as_deref(), Some("1"));
            assert_eq!(actual.as_deref(), Some("NaN"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.exit_code, 1);
}

/// A bundle source around `y = Identity(x)`, int64 `[batch, 1]`, with one golden set `ints`: input
/// `inputs`, expected `expected` (JSON arrays of one row each).
fn int_identity_source(inputs: &str, expected: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    let shape = [OnnxDim::Param("batch".into()), OnnxDim::Value(1)];
    let model = ModelBuilder::new(17)
        .input("x", DType::Int64, &shape)
        .output("y", DType::Int64, &shape)
        .node("Identity", &["x"], &["y"])
        .build();
    std::fs::write(dir.path().join("model.onnx"), model).unwrap();
    std::fs::create_dir_all(dir.path().join("golden")).unwrap();
    let t = |key: &str, data: &str| {
        format!("{{\"{key}\": {{\"dtype\": \"int64\", \"shape\": [1, 1], \"data\": {data}}}}}")
    };
    std::fs::write(dir.path().join("golden/ints.in.json"), t("x", inputs)).unwrap();
    std::fs::write(dir.path().join("golden/ints.out.json"), t("y", expected)).unwrap();
    std::fs::write(
        dir.path().join("ferry.toml"),
        "[model]\nname = \"ints\"\nversion = \"1.0.0\"\nonnx = \"model.onnx\"\n\n\
         [[inputs]]\nname = \"x\"\ndtype = \"int64\"\nshape = [\"batch\", 1]\n\n\
         [[outputs]]\nname = \"y\"\ndtype = \"int64\"\nshape = [\"batch\", 1]\n\n\
         [[golden]]\nname = \"ints\"\ninputs = \"golden/ints.in.json\"\nexpected = \"golden/ints.out.json\"\n",
    )
    .unwrap();
    dir
}

/// Issue 12, item 5: an integer output that is 1 where 0 was expected has an absolute error of 1 (and an
/// infinite relative one), in the evidence and in every rendering of it; it was reported as 0.
#[test]
fn an_integer_output_off_by_one_reports_an_error_of_one() {
    let src = int_identity_source("[1]", "[0]");
    let (_d, bundle) = pack(src.path());
    let r = run(&bundle);
    let c = r.check(CheckId::GoldenOutputs).unwrap();
    assert_eq!(c.status, Status::Failed, "{}", statuses(&r));
    let ev = &c.cases[0].evidence;
    match &ev[..] {
        [
            Evidence::Output {
                passed: false,
                mismatches: 1,
                max_abs,
                max_rel,
                first_mismatch,
                expected,
                actual,
                ..
            },
        ] => {
            assert_eq!((max_abs.0, max_rel.0), (1.0, f64::INFINITY));
            assert_eq!(first_mismatch.as_deref(), Some(&[0, 0][..]));
            assert_eq!((expected.as_deref(), actual.as_deref()), (Some("0"), Some("1")));
        }
        other => panic!("{other:?}"),
    }
    let line = "golden set `ints`, output `y`: 1 of 1 element out of tolerance; first at [0, 0]: expected 0, got 1; \
                max abs error 1, max rel error inf (rtol 0, atol 0)";
    assert_eq!(ev[0].describe(), line);
    for f in [Format::Human, Format::Junit] {
        let text = render(&r, f);
        assert!(text.contains("max abs error 1, max rel error inf"), "{f:?}:\n{text}");
    }
    let json: Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    let golden = json["checks"].as_array().unwrap().iter().find(|c| c["id"] == "golden.outputs").unwrap();
    let e = &golden["cases"][0]["evidence"][0];
    assert_eq!((&e["max_abs"], &e["max_rel"]), (&serde_json::json!(1.0), &serde_json::json!("inf")));
    // Equal integers: no error.
    let src = int_identity_source("[7]", "[7]");
    let (_d, bundle) = pack(src.path());
    let r = run(&bundle);
    assert_eq!(status(&r, CheckId::GoldenOutputs), Status::Passed, "{}", statuses(&r));
}

/// Issue 12, item 5: one of anything is counted in the singular, with its verb ("1 golden set reproduces
/// its outputs", "1 file matches its digest", "1 row respects …", "1 field").
#[test]
fn counts_of_one_are_singular() {
    let message = |r: &Report, id: CheckId| r.check(id).unwrap().message.clone();
    let src = sqrt_source(&[("one", "[4.0, 9.0]", "[2.0, 3.0]")]);
    let (d, bundle) = pack(src.path());
    let r = run(&bundle);
    assert_eq!(message(&r, CheckId::GoldenOutputs), "1 golden set reproduces its outputs");
    assert_eq!(message(&r, CheckId::ContractGoldenInputs), "1 golden set conforms to the contract");
    let r = run_with(&bundle, "[perf]\np50_ms = 10000\niterations = 1\nwarmup = 0");
    assert_eq!(message(&r, CheckId::PerfLatency), "1 golden set stays within p50 10000 ms");
    let human = render(&r, Format::Human);
    assert!(human.contains(" ms (1 call)\n"), "{human}");
    let two = sqrt_source(&[("one", "[4.0, 9.0]", "[2.0, 3.0]"), ("two", "[1.0, 4.0]", "[1.0, 2.0]")]);
    let (_d2, bundle2) = pack(two.path());
    let r = run(&bundle2);
    assert_eq!(message(&r, CheckId::GoldenOutputs), "2 golden sets reproduce their outputs");
    assert_eq!(message(&r, CheckId::ContractGoldenInputs), "2 golden sets conform to the contract");
    let r = run_with(&bundle2, "[perf]\np50_ms = 10000\niterations = 2\nwarmup = 0");
    assert_eq!(message(&r, CheckId::PerfLatency), "2 golden sets stay within p50 10000 ms");
    assert!(render(&r, Format::Human).contains(" ms (2 calls)\n"));
    let n = Bundle::open(&bundle2).unwrap().manifest().files.len();
    assert_eq!(message(&r, CheckId::ArtifactDigest), format!("{n} files match their digests"));
    let bare = d.path().join("bare.ferry");
    rewrite(&bundle, &bare, |m, files| {
        m.golden.clear();
        files.retain(|p, _| p == "model.onnx");
    });
    let r = run(&bare);
    assert_eq!(message(&r, CheckId::ArtifactDigest), "1 file matches its digest", "{}", statuses(&r));

    let data = |name: &str, text: &str, policy: &str| {
        let path = d.path().join(name);
        std::fs::write(&path, text).unwrap();
        let options = VerifyOptions {
            data: Some(path),
            policy: Policy::from_toml_str(policy).unwrap(),
            ..VerifyOptions::default()
        };
        let r = verify(&bundle, &options).unwrap();
        let c = r.check(CheckId::ContractData).unwrap().clone();
        (c.message, c.evidence.iter().map(Evidence::describe).collect::<Vec<_>>())
    };
    let (m, _) = data("one.csv", "a,b\n1,2\n", "");
    assert_eq!(m, "1 row respects the constraints of 2 features");
    let (m, _) = data("two.csv", "a,b\n1,2\n3,4\n", "");
    assert_eq!(m, "2 rows respect the constraints of 2 features");
    let (m, ev) = data("short.csv", "a,b\n1\n", "");
    assert_eq!(ev, ["line 2: 1 field, but the header has 2"], "{m}");
    let (m, ev) = data("text.csv", "a,b\nx,2\n", "");
    assert!(m.starts_with("1 feature constraint broken in `") && m.ends_with("` (1 row)"), "{m}");
    assert_eq!(
        ev,
        [
            "input `x`, feature `a` (column `a`): 1 of 1 row (100.00%) breaks rule `type`; first at record 0 (line 2): \"x\""
        ]
    );
    let (m, _) = data("text.csv", "a,b\nx,2\n", "[data]\nmax_violation_share = 1.0");
    assert_eq!(m, "1 row checked; 1 constraint broken by at most 100% of rows, within the policy");
}

// --- perf ----------------------------------------------------------------------------------------------

#[test]
fn perf_latency_runs_only_when_a_policy_asks() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let r = run_with(&bundle, "[perf]\np50_ms = 10000\np99_ms = 10000\niterations = 20\nwarmup = 1");
    let c = r.check(CheckId::PerfLatency).unwrap();
    assert_eq!(c.status, Status::Passed, "{}", c.message);
    assert_eq!(c.timings.latency.len(), 2);
    assert!(
        c.timings.latency.iter().all(|t| t.iterations == 20 && t.p50_ms <= t.p99_ms && t.min_ms <= t.p50_ms)
    );

    let r = run_with(&bundle, "[perf]\np50_ms = 0.000001\niterations = 5\nwarmup = 0");
    let c = r.check(CheckId::PerfLatency).unwrap();
    assert_eq!(c.status, Status::Failed);
    assert_eq!(r.exit_code, 1);
    assert!(
        matches!(&c.cases[0].evidence[..], [Evidence::Latency { set, percentile, iterations: 5, .. }] if set == "smoke" && percentile == "p50")
    );
    // Measured numbers stay out of the deterministic part of the report.
    assert!(!c.message.contains("0.0") && !c.cases[0].message.contains("ms,"), "{}", c.cases[0].message);
}

// --- rebuild -------------------------------------------------------------------------------------------

#[test]
fn rebuild_is_identical_for_the_same_source_and_names_the_file_that_changed() {
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let options = VerifyOptions { rebuild: Some(fixture("credit-risk")), ..VerifyOptions::default() };
    let r = verify(&bundle, &options).unwrap();
    assert_eq!(status(&r, CheckId::RebuildIdentical), Status::Passed, "{}", statuses(&r));

    let src = copy_source("credit-risk");
    std::fs::write(
        src.path().join("config.json"),
        br#"{"decision_threshold": 0.6, "intra_op_threads": 0, "currency": "USD"}"#,
    )
    .unwrap();
    let options = VerifyOptions { rebuild: Some(src.path().to_path_buf()), ..VerifyOptions::default() };
    let r = verify(&bundle, &options).unwrap();
    assert_eq!(status(&r, CheckId::RebuildIdentical), Status::Failed);
    assert_eq!(r.exit_code, 1);
    let ev = evidence(&r, CheckId::RebuildIdentical);
    assert!(matches!(&ev[0], Evidence::Rebuild { file: None, offset: Some(_), .. }));
    assert!(
        ev.iter().any(|e| matches!(e, Evidence::Rebuild { file: Some(f), message, .. } if f == "config.json" && message == "content differs")),
        "{ev:?}"
    );
}

// --- errors (exit code 2) ------------------------------------------------------------------------------

#[test]
fn unreadable_inputs_are_errors_not_findings() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing.ferry");
    assert!(matches!(verify(&missing, &VerifyOptions::default()), Err(VerifyError::Read { .. })));
    assert!(matches!(verify(dir.path(), &VerifyOptions::default()), Err(VerifyError::NotAFile { .. })));
    let (_d, bundle) = pack(&fixture("credit-risk"));
    let bad_data = VerifyOptions { data: Some(dir.path().join("x.parquet")), ..VerifyOptions::default() };
    assert!(matches!(verify(&bundle, &bad_data), Err(VerifyError::Data { .. })));
    let missing_data = VerifyOptions { data: Some(dir.path().join("x.csv")), ..VerifyOptions::default() };
    assert!(matches!(verify(&bundle, &missing_data), Err(VerifyError::Data { .. })));
    let bad_src = VerifyOptions { rebuild: Some(dir.path().to_path_buf()), ..VerifyOptions::default() };
    assert!(matches!(verify(&bundle, &bad_src), Err(VerifyError::Rebuild { .. })));
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[checks]\n\"golden.output\" = \"warn\"\n").unwrap();
    let e = ferry_verifier::load_policy(&policy).unwrap_err();
    assert!(matches!(e, VerifyError::Policy { .. }) && e.to_string().contains("golden.output"), "{e}");
}

// --- reports -------------------------------------------------------------------------------------------

/// A report with failures, warnings, passes and skips, for the renderers.
fn mixed_report() -> (TempDir, Report) {
    let (src, bundle, _) = off_by(0.01);
    let r =
        run_with(&bundle, "[checks]\n\"artifact.pins\" = \"warn\"\n\"contract.config-schema\" = \"skip\"");
    // Make one warning: the pins check under `warn` failing is simulated by a bad pin.
    let out = src.path().join("mixed.ferry");
    rewrite(&bundle, &out, |m, _| m.pins.onnx.producer_name = "someone-else".into());
    let r2 = run_with(&out, "[checks]\n\"artifact.pins\" = \"warn\"\n\"contract.config-schema\" = \"skip\"");
    assert_eq!(status(&r2, CheckId::ArtifactPins), Status::Warning);
    drop(r);
    (src, r2)
}

/// Full-text snapshots of every rendering of [`mixed_report`].
#[path = "verify/snapshots.rs"]
mod snapshots;

#[test]
fn json_report_validates_against_the_published_schema() {
    let (_src, r) = mixed_report();
    let path = root().join("spec/schema/verify-report.schema.json");
    let generated = ferry_verifier::report_schema();
    if std::env::var_os("FERRY_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "{} is stale; run FERRY_BLESS=1 cargo test -p ferry-verifier",
        path.display()
    );
    let schema: Value = serde_json::from_str(&published).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let json: Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(&json).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The schema is strict enough to catch a wrong key.
    let mut broken = json.clone();
    broken["checks"][0]["status"] = Value::String("fine".into());
    assert!(!validator.is_valid(&broken));
    // And the JSON reads back into the same report.
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn junit_has_one_testcase_per_check_and_golden_set_and_one_failure_per_failure() {
    let (_src, r) = mixed_report();
    let xml = render(&r, Format::Junit);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    let cases: Vec<roxmltree::Node<'_, '_>> =
        doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let expected_cases: usize = r.checks.iter().map(|c| c.cases.len().max(1)).sum();
    assert_eq!(cases.len(), expected_cases);
    let golden: Vec<&str> = cases
        .iter()
        .filter(|c| c.attribute("classname") == Some("golden.outputs"))
        .map(|c| c.attribute("name").unwrap())
        .collect();
    assert_eq!(golden, ["smoke", "edge"]);
    let failures: Vec<roxmltree::Node<'_, '_>> =
        doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    let failed_subjects: usize = r
        .checks
        .iter()
        .map(|c| {
            if c.cases.is_empty() {
                usize::from(c.status == Status::Failed)
            } else {
                c.cases.iter().filter(|k| k.status == Status::Failed).count()
            }
        })
        .sum();
    assert_eq!(failures.len(), failed_subjects);
    assert_eq!(failures.len(), 1, "only the edge golden set fails");
    let f = failures[0];
    assert_eq!(f.parent().unwrap().attribute("name"), Some("edge"));
    assert_eq!(f.attribute("type"), Some("golden.outputs"));
    assert!(f.text().unwrap().contains("first at [1, 0]"), "{:?}", f.text());
    assert_eq!(suites.attribute("failures"), Some("1"));
    let skipped = doc.descendants().filter(|n| n.has_tag_name("skipped")).count();
    assert_eq!(suites.attribute("skipped"), Some(skipped.to_string().as_str()));
    assert!(
        doc.descendants()
            .any(|n| n.has_tag_name("system-out") && n.text().unwrap_or("").starts_with("warning:"))
    );
}

#[test]
fn sarif_has_the_required_fields() {
    let (_src, r) = mixed_report();
    let sarif: Value = serde_json::from_str(&render(&r, Format::Sarif)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-schema-2.1.0"));
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "ferry");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), CheckId::ALL.len());
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let rule = res["ruleId"].as_str().unwrap();
        assert!(CheckId::from_id(rule).is_some(), "{rule}");
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], rule);
        assert!(["error", "warning", "note", "none"].contains(&res["level"].as_str().unwrap()));
        assert!(!res["message"]["text"].as_str().unwrap().is_empty());
        assert!(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string());
    }
    let errors: Vec<&Value> = results.iter().filter(|r| r["level"] == "error").collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["ruleId"], "golden.outputs");
    assert!(results.iter().any(|r| r["level"] == "warning" && r["ruleId"] == "artifact.pins"));
}

#[test]
fn github_annotations_and_step_summary() {
    let (_src, r) = mixed_report();
    let out = render(&r, Format::Github);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::error title=ferry verify%3A golden.outputs (edge)::output `probability`: 1 of 3"
        )),
        "{out}"
    );
    assert!(lines.iter().any(|l| l.starts_with("::warning title=ferry verify%3A artifact.pins::")), "{out}");
    assert_eq!(
        lines.last().unwrap(),
        &"::notice title=ferry verify failed::1 failed, 1 warning, 5 passed, 10 skipped"
    );
    assert!(lines.iter().all(|l| l.starts_with("::")), "one command per line: {out}");
    let md = ferry_verifier::github_step_summary(&r);
    assert!(md.contains("| `golden.outputs` · edge | ❌ failed |"), "{md}");
    assert!(md.contains("\n1 failed, 1 warning, 5 passed, 10 skipped.\n"), "{md}");
}

#[test]
fn human_report_reads_well() {
    let (_src, r) = mixed_report();
    let text = render(&r, Format::Human);
    assert!(text.starts_with("ferry verify: credit-risk 1.0.0 ("), "{text}");
    assert!(text.contains("FAIL  golden.outputs"), "{text}");
    assert!(text.contains("WARN  artifact.pins"), "{text}");
    assert!(text.contains("SKIP  contract.config-schema"), "{text}");
    assert!(text.contains("- pin `onnx.producer_name`: requires someone-else"), "{text}");
    assert!(text.trim_end().lines().last().unwrap().starts_with("FAILED: 1 failed, 1 warning, "), "{text}");
}

#[test]
fn reports_are_written_atomically() {
    let (_src, r) = mixed_report();
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("report.json");
    std::fs::write(&path, "old").unwrap();
    ferry_verifier::write_atomic(&path, render(&r, Format::Json).as_bytes()).unwrap();
    let back: Report = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back.exit_code, 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
    let e = ferry_verifier::write_atomic(&dir.path().join("no/such/dir/r.json"), b"x").unwrap_err();
    assert!(matches!(e, VerifyError::Write { .. }));
}

// --- robustness ----------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random bytes are read and refused: a report, never a panic or an error.
    #[test]
    fn random_bytes_give_a_failing_report(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("random.ferry");
        std::fs::write(&path, &bytes).unwrap();
        let r = verify(&path, &VerifyOptions::default()).unwrap();
        prop_assert_eq!(r.exit_code, 1);
        for f in Format::ALL {
            prop_assert!(!render(&r, f).is_empty());
        }
    }

    /// A real bundle with a few bytes changed never makes the verifier panic.
    #[test]
    fn mutated_bundles_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let bytes = mutation_base();
        let mut bytes = bytes.clone();
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("mutated.ferry");
        std::fs::write(&path, &bytes).unwrap();
        let options = VerifyOptions { policy: Policy::from_toml_str("[checks]\n\"golden.outputs\" = \"skip\"").unwrap(), ..VerifyOptions::default() };
        let _ = verify(&path, &options).unwrap();
    }
}

fn mutation_base() -> Vec<u8> {
    static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let (_d, bundle) = pack(&fixture("credit-risk"));
        std::fs::read(bundle).unwrap()
    })
    .clone()
}
