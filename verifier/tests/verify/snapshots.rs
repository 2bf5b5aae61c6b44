//! Full-text snapshots of every rendering of one report with failures, warnings, passes and skips
//! (`super::mixed_report`): a renderer that changes a byte fails here, with the first line that differs.
//!
//! The snapshots live in `verifier/tests/snapshots/`. To accept a deliberate change, rerun with
//! `FERRY_BLESS=1 cargo test -p ferry-verifier --test verify snapshots` and review the diff of those files
//! (the blessing helper is `ferry_testkit::snapshot`).

use super::mixed_report;
use ferry_verifier::{Evidence, Format, Num, Report, render};
use std::path::{Path, PathBuf};

/// What a snapshot shows in place of `bundle.manifest_digest`.
const MANIFEST_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
/// What a snapshot shows in place of `tool.version`.
const TOOL_VERSION: &str = "0.0.0-snapshot";

/// Replaces what legitimately differs between runs, machines and releases by fixed values, so that a
/// snapshot changes only when a renderer (or the wording of a check) does:
///
/// - every `timings` field (the report's and each check's): wall-clock time, different on every run;
///   set to zero, so `0.00 s` and `time="0.000"` show where they are rendered;
/// - `bundle.path`: a fresh temporary directory; cut to the file name, as `ferry verify mixed.ferry` run
///   beside the bundle would print it;
/// - `tool.version`: the crate version; [`TOOL_VERSION`], so a release does not rewrite the snapshots;
/// - `bundle.size` and `bundle.manifest_digest`: the packed bytes record the Ferry version and, in CI,
///   the repository and commit (`ferry_packager::provenance::source_repo_from_env`); `0` and
///   [`MANIFEST_DIGEST`];
/// - the numbers ONNX Runtime computed in golden `output` evidence (`max_abs`, `max_rel`, `actual`): their
///   last bits depend on the CPU's instruction set (and float32 noise is all an output within tolerance
///   shows); errors of a passed output set to 0, those of a failed one and its `actual` value rounded to
///   3 significant digits.
///
/// Everything else (messages, evidence, statuses, levels, expected values, tolerances) is kept as
/// verified.
fn normalise(mut r: Report) -> Report {
    r.timings = Default::default();
    r.tool.version = TOOL_VERSION.into();
    r.bundle.path = Path::new(&r.bundle.path).file_name().unwrap().to_string_lossy().into_owned();
    r.bundle.size = 0;
    if r.bundle.manifest_digest.is_some() {
        r.bundle.manifest_digest = Some(MANIFEST_DIGEST.into());
    }
    for c in &mut r.checks {
        c.timings = Default::default();
        let evidence = c.evidence.iter_mut().chain(c.cases.iter_mut().flat_map(|k| k.evidence.iter_mut()));
        for e in evidence {
            if let Evidence::Output { passed, max_abs, max_rel, actual, .. } = e {
                for n in [max_abs, max_rel] {
                    *n = Num(if *passed { 0.0 } else { round(n.0) });
                }
                if let Some(a) = actual
                    && let Ok(v) = a.parse::<f64>()
                {
                    *a = round(v).to_string();
                }
            }
        }
    }
    r
}

/// `v` rounded to 3 significant digits.
fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.2e}").parse().unwrap()
}

fn snapshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

fn check_snapshot(name: &str, actual: &str) -> Option<String> {
    ferry_testkit::snapshot::check(&snapshots(), name, actual)
}

#[test]
fn every_rendering_matches_its_snapshot() {
    let (src, r) = mixed_report();
    let r = normalise(r);
    let renderings = [
        ("human.txt", render(&r, Format::Human)),
        ("report.json", render(&r, Format::Json)),
        ("junit.xml", render(&r, Format::Junit)),
        ("report.sarif", render(&r, Format::Sarif)),
        ("github.txt", render(&r, Format::Github)),
        ("github-step-summary.md", ferry_verifier::github_step_summary(&r)),
    ];
    let tmp = src.path().to_string_lossy();
    let mut failures = Vec::new();
    for (name, text) in &renderings {
        assert!(!text.contains(tmp.as_ref()), "{name} still names the temporary directory:\n{text}");
        failures.extend(check_snapshot(name, text));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_blessing_helper_names_the_first_differing_line() {
    let name = "human.txt";
    if ferry_testkit::snapshot::blessing() {
        return;
    }
    let snapshot = std::fs::read_to_string(snapshots().join(name)).unwrap();
    assert_eq!(check_snapshot(name, &snapshot), None);
    let mut lines: Vec<&str> = snapshot.split('\n').collect();
    lines[2] = "policy: changed";
    let message = check_snapshot(name, &lines.join("\n")).unwrap();
    assert!(
        message
            .contains("first at line 3:\n- snapshot: \"policy: default\"\n+ rendered: \"policy: changed\""),
        "{message}"
    );
    assert!(message.ends_with("rerun with FERRY_BLESS=1 to accept"), "{message}");
    let message = check_snapshot(name, snapshot.trim_end()).unwrap();
    assert!(message.contains("+ rendered: <end of file>"), "{message}");
}
