//! `ferry verify` from the command line: exit codes and the JSON, JUnit, SARIF and GitHub reports as CI
//! systems read them. Golden checks run ONNX Runtime (`scripts/fetch-onnxruntime` installs it).

use crate::common::{code, copy_dir, root, stderr, stdout};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

fn ferry(args: &[&str]) -> Output {
    ferry_env(args, &[])
}

fn ferry_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args).env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A temporary directory with `good.ferry` (the credit-risk fixture) and `off.ferry` (the same with the
/// `edge` golden set's second expected value off by 0.01).
fn bundles() -> TempDir {
    let dir = TempDir::new().unwrap();
    let good = dir.path().join("good.ferry");
    let o =
        ferry(&["pack", root().join("fixtures/credit-risk").to_str().unwrap(), "-o", good.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let src = dir.path().join("src");
    copy_dir(&root().join("fixtures/credit-risk"), &src);
    let path = src.join("golden/edge.expected.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let v = doc["probability"]["data"][1].as_f64().unwrap();
    doc["probability"]["data"][1] = serde_json::json!(v + 0.01);
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let off = dir.path().join("off.ferry");
    let o = ferry(&["pack", src.to_str().unwrap(), "-o", off.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    dir
}

fn p(dir: &TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_owned()
}

#[test]
fn a_good_bundle_passes_with_exit_code_0() {
    let d = bundles();
    let o = ferry(&["verify", &p(&d, "good.ferry")]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ferry verify: credit-risk 1.0.0"), "{out}");
    assert!(out.contains("PASS  golden.outputs"), "{out}");
    assert!(out.trim_end().lines().last().unwrap().starts_with("PASSED"), "{out}");
}

#[test]
fn a_failed_golden_set_exits_1_and_junit_has_one_failure() {
    let d = bundles();
    let report = p(&d, "junit.xml");
    let o = ferry(&["verify", &p(&d, "off.ferry"), "--format", "junit", "--report", &report]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("FAIL  golden.outputs"), "stdout keeps the human report: {}", stdout(&o));
    assert!(stderr(&o).contains("verification failed: 1 required check failed"), "{}", stderr(&o));
    let xml = std::fs::read_to_string(&report).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(failures.len(), 1, "{xml}");
    let case = failures[0].parent().unwrap();
    assert_eq!(case.attribute("classname"), Some("golden.outputs"));
    assert_eq!(case.attribute("name"), Some("edge"));
    assert!(failures[0].attribute("message").unwrap().contains("out of tolerance"));
}

#[test]
fn json_report_matches_its_schema_and_the_exit_code() {
    let d = bundles();
    let schema: Value =
        serde_json::from_slice(&std::fs::read(root().join("spec/schema/verify-report.schema.json")).unwrap())
            .unwrap();
    let compiled = ferry_spec::config::ConfigSchema::compile(&schema).unwrap();
    for (bundle, expected) in [("good.ferry", 0), ("off.ferry", 1)] {
        let o = ferry(&["verify", &p(&d, bundle), "--format", "json"]);
        assert_eq!(code(&o), expected);
        let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
        compiled.validate(&report).unwrap_or_else(|v| panic!("{v:?}"));
        assert_eq!(report["exit_code"], expected);
        let golden =
            report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "golden.outputs").unwrap();
        assert_eq!(golden["status"], if expected == 0 { "passed" } else { "failed" });
    }
}

#[test]
fn sarif_report_has_the_required_fields() {
    let d = bundles();
    let o = ferry(&["verify", &p(&d, "off.ferry"), "--format", "sarif"]);
    assert_eq!(code(&o), 1);
    let sarif: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].is_string());
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "ferry");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let failed: Vec<&Value> = results.iter().filter(|r| r["level"] == "error").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["ruleId"], "golden.outputs");
    assert!(failed[0]["message"]["text"].as_str().unwrap().contains("edge"));
}

#[test]
fn github_format_annotates_and_appends_a_step_summary() {
    let d = bundles();
    let summary = d.path().join("summary.md");
    std::fs::write(&summary, "previous step\n").unwrap();
    let o = ferry_env(
        &["verify", &p(&d, "off.ferry"), "--format", "github"],
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l.starts_with("::error title=ferry verify%3A golden.outputs (edge)::")),
        "{out}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("previous step\n### ferry verify `credit-risk` 1.0.0: ❌ failed"), "{md}");
}

#[test]
fn a_policy_can_downgrade_a_check_to_a_warning() {
    let d = bundles();
    let policy = d.path().join("release.toml");
    std::fs::write(&policy, "[checks]\n\"golden.outputs\" = \"warn\"\n").unwrap();
    let o = ferry(&["verify", &p(&d, "off.ferry"), "--policy", policy.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("WARN  golden.outputs"));
}

#[test]
fn a_damaged_bundle_is_refused_with_exit_code_1() {
    let d = bundles();
    let bytes = std::fs::read(d.path().join("good.ferry")).unwrap();
    std::fs::write(d.path().join("cut.ferry"), &bytes[..bytes.len() / 3]).unwrap();
    let o = ferry(&["verify", &p(&d, "cut.ferry"), "--format", "json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let layout = report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "artifact.layout").unwrap();
    assert_eq!(layout["status"], "failed");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let d = bundles();
    let good = p(&d, "good.ferry");
    let bad_policy = d.path().join("bad.toml");
    std::fs::write(&bad_policy, "[checks]\n\"golden.output\" = \"warn\"\n").unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["verify".into(), p(&d, "missing.ferry")],
        vec!["verify".into(), good.clone(), "--format".into(), "xml".into()],
        vec!["verify".into(), good.clone(), "--policy".into(), bad_policy.to_str().unwrap().into()],
        vec!["verify".into(), good.clone(), "--policy".into(), p(&d, "missing.toml")],
        vec!["verify".into(), good.clone(), "--data".into(), p(&d, "missing.csv")],
        vec!["verify".into(), good.clone(), "--rebuild".into(), p(&d, "no-such-src")],
        vec!["verify".into(), good.clone(), "--report".into(), p(&d, "no/such/dir/r.json")],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = ferry(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}{}", stdout(&o), stderr(&o));
        assert!(!stderr(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn rebuild_and_data_options_reach_their_checks() {
    let d = bundles();
    let data = d.path().join("sample.jsonl");
    std::fs::write(&data, "{\"age\": 17}\n").unwrap();
    let o = ferry(&[
        "verify",
        &p(&d, "good.ferry"),
        "--rebuild",
        root().join("fixtures/credit-risk").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let find =
        |id: &str| report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(find("rebuild.identical")["status"], "passed");
    assert_eq!(find("contract.data")["status"], "failed");
}

/// Issue 12, item 5: `ferry run` and `ferry verify --data` name the same bad row alike. `run` names an
/// element by its 0-based index, as numpy does (`[3, 0]`: row 3, feature 0); `verify --data` names the
/// file's record by the same 0-based number, with the 1-based line it is on (`record 3 (line 5)`).
#[test]
fn run_and_verify_data_name_a_bad_row_alike() {
    let d = bundles();
    let names = "age,annual_income,debt_to_income,credit_utilization,num_open_accounts,num_delinquencies_2y,\
                 months_since_last_delinquency,loan_amount,loan_term_months,employment_length_years,\
                 home_ownership,has_mortgage,inquiries_6m,revolving_balance";
    let good = [30.0, 50000.0, 0.3, 0.2, 5.0, 0.0, 12.0, 10000.0, 36.0, 4.0, 1.0, 0.0, 1.0, 2000.0];
    let mut rows = vec![good; 5];
    rows[3][0] = 17.0; // `age` below its minimum of 18
    let csv: String = std::iter::once(names.to_owned())
        .chain(rows.iter().map(|r| r.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")))
        .map(|line| line + "\n")
        .collect();
    let data = d.path().join("sample.csv");
    std::fs::write(&data, csv).unwrap();
    let request = serde_json::json!({
        "features": { "dtype": "float32", "shape": [5, 14], "data": rows.concat() }
    });
    let input = d.path().join("request.json");
    std::fs::write(&input, request.to_string()).unwrap();

    let o = ferry(&["run", &p(&d, "good.ferry"), "--input", input.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("feature `age` at [3, 0]: value 17"), "{}", stderr(&o));

    let o = ferry(&["verify", &p(&d, "good.ferry"), "--data", data.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("feature `age` (column `age`): 1 of 5 rows (20.00%) breaks rule `min`; first at record 3 (line 5): 17"),
        "{}",
        stdout(&o)
    );
    let o = ferry(&["verify", &p(&d, "good.ferry"), "--data", data.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let data_check =
        report["checks"].as_array().unwrap().iter().find(|c| c["id"] == "contract.data").unwrap();
    let e = &data_check["evidence"][0];
    assert_eq!((&e["first_record"], &e["first_line"]), (&serde_json::json!(3), &serde_json::json!(5)), "{e}");
}
