//! Renderings of a [`Report`]: human text, JSON, JUnit XML, SARIF 2.1.0 and GitHub workflow commands.
//! All are hand-written (no XML or SARIF dependency) and deterministic apart from the timings.
//!
//! A report quotes the bundle (model name, golden set and feature names, paths), which is untrusted: the
//! human, GitHub, JUnit and Markdown renderings pass every such string through
//! [`ferry_spec::display::escape`], so control characters and bidi overrides show as text instead of
//! acting on a terminal or a CI log. JSON and SARIF are escaped by serde.

use crate::checks::plural;
use crate::{CheckResult, Report, Status, VerifyError};
use ferry_spec::display::escape as esc;
use ferry_spec::policy::CheckId;
use serde_json::json;
use std::fmt::Write as _;
use std::path::Path;

/// A report format, as named by `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Readable in a terminal (the default).
    Human,
    /// The [`Report`] as JSON (schema: `spec/schema/verify-report.schema.json`).
    Json,
    /// JUnit XML, as GitLab and Jenkins render it: one testcase per check and per golden set.
    Junit,
    /// SARIF 2.1.0.
    Sarif,
    /// GitHub Actions workflow commands (`::error title=…::…`); see also [`github_step_summary`].
    Github,
}

impl Format {
    /// Every format, in `--help` order.
    pub const ALL: [Format; 5] = [Format::Human, Format::Json, Format::Junit, Format::Sarif, Format::Github];

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Sarif => "sarif",
            Format::Github => "github",
        }
    }

    /// Parses a `--format` name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Renders a report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Human => human(report),
        Format::Json => report.to_json(),
        Format::Junit => junit(report),
        Format::Sarif => sarif(report),
        Format::Github => github(report),
    }
}

/// Writes `bytes` to `path` atomically ([`ferry_atomic`]): into a temporary file beside it (unnamed on
/// Linux, so an interrupted write leaves nothing), flushed to disk, then renamed over it, with a new
/// file's permissions (`0666` less the umask).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VerifyError> {
    let options = ferry_atomic::Options { sync: true, ..ferry_atomic::Options::default() };
    ferry_atomic::write(path, bytes, options)
        .map_err(|source| VerifyError::Write { path: path.to_path_buf(), source })
}

fn status_tag(s: Status) -> &'static str {
    match s {
        Status::Passed => "PASS",
        Status::Failed => "FAIL",
        Status::Warning => "WARN",
        Status::Skipped => "SKIP",
    }
}

/// How many evidence lines a text rendering shows per check or case before summarizing the rest.
const MAX_EVIDENCE_LINES: usize = 20;

fn evidence_lines(items: &[crate::Evidence], out: &mut Vec<String>) {
    for e in items.iter().take(MAX_EVIDENCE_LINES) {
        out.push(esc(&e.describe()).into_owned());
    }
    if items.len() > MAX_EVIDENCE_LINES {
        out.push(format!("… and {} more", items.len() - MAX_EVIDENCE_LINES));
    }
}

/// The evidence worth showing for a check: everything, when it did not pass.
fn shown_evidence(c: &CheckResult) -> Vec<String> {
    let mut out = Vec::new();
    if matches!(c.status, Status::Failed | Status::Warning)
        || (c.status == Status::Passed && !c.evidence.is_empty() && c.id == CheckId::ContractData)
    {
        evidence_lines(&c.evidence, &mut out);
    }
    out
}

fn human(r: &Report) -> String {
    let mut s = String::new();
    let who = match (&r.bundle.name, &r.bundle.version) {
        (Some(n), Some(v)) => format!("{} {}", esc(n), esc(v)),
        _ => "bundle".to_owned(),
    };
    let _ = writeln!(s, "ferry verify: {who} ({}, {} bytes)", esc(&r.bundle.path), r.bundle.size);
    if let Some(d) = &r.bundle.manifest_digest {
        let _ = writeln!(s, "bundle digest: {}", esc(d));
    }
    let _ = writeln!(s, "policy: {}", esc(&r.policy.source));
    if let Some(d) = &r.device {
        let _ = writeln!(s, "device: {}", esc(&d.name));
        if let Some(why) = &d.fallback {
            let _ = writeln!(s, "  (no GPU: {})", esc(why));
        }
    }
    let _ = writeln!(s);
    let width = CheckId::ALL.iter().map(|c| c.as_str().len()).max().unwrap_or(0);
    for c in &r.checks {
        let _ = writeln!(s, "  {}  {:width$}  {}", status_tag(c.status), c.id.as_str(), esc(&c.message));
        for line in shown_evidence(c) {
            let _ = writeln!(s, "          - {line}");
        }
        let case_width = c.cases.iter().map(|k| esc(&k.name).len()).max().unwrap_or(0);
        for k in &c.cases {
            let _ = writeln!(
                s,
                "          {}  {:case_width$}  {}",
                status_tag(k.status),
                esc(&k.name),
                esc(&k.message)
            );
            if matches!(k.status, Status::Failed | Status::Warning) {
                let mut lines = Vec::new();
                evidence_lines(&k.evidence, &mut lines);
                for line in lines {
                    let _ = writeln!(s, "                - {line}");
                }
            }
        }
        for t in &c.timings.latency {
            let _ = writeln!(
                s,
                "          {}: p50 {:.3} ms, p99 {:.3} ms, min {:.3} ms, max {:.3} ms ({} call{})",
                esc(&t.set),
                t.p50_ms,
                t.p99_ms,
                t.min_ms,
                t.max_ms,
                t.iterations,
                plural(t.iterations as usize)
            );
        }
    }
    let _ = writeln!(s);
    let m = &r.summary;
    let _ = writeln!(
        s,
        "{}: {} failed, {} warning{}, {} passed, {} skipped ({:.2} s)",
        if r.passed { "PASSED" } else { "FAILED" },
        m.failed,
        m.warnings,
        plural(m.warnings as usize),
        m.passed,
        m.skipped,
        r.timings.total_ms / 1e3
    );
    s
}

/// Escapes text for XML attribute values and content. Characters XML 1.0 cannot carry at all (most
/// control characters, unpaired surrogates cannot occur in `str`) become U+FFFD.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// One JUnit testcase: (classname, name, status, message, detail lines, seconds).
type TestCase = (String, String, Status, String, Vec<String>, Option<f64>);

/// One testcase per check; a check with cases (golden sets) gives one testcase per case instead.
fn testcases(r: &Report) -> Vec<TestCase> {
    let mut out = Vec::new();
    for c in &r.checks {
        let seconds = c.timings.duration_ms / 1e3;
        if c.cases.is_empty() {
            out.push((
                c.id.as_str().to_owned(),
                c.id.as_str().to_owned(),
                c.status,
                esc(&c.message).into_owned(),
                shown_evidence(c),
                Some(seconds),
            ));
        } else {
            for k in &c.cases {
                let mut lines = Vec::new();
                evidence_lines(&k.evidence, &mut lines);
                out.push((
                    c.id.as_str().to_owned(),
                    esc(&k.name).into_owned(),
                    k.status,
                    esc(&k.message).into_owned(),
                    lines,
                    None,
                ));
            }
        }
    }
    out
}

fn junit(r: &Report) -> String {
    let cases = testcases(r);
    let failures = cases.iter().filter(|c| c.2 == Status::Failed).count();
    let skipped = cases.iter().filter(|c| c.2 == Status::Skipped).count();
    let suite = match (&r.bundle.name, &r.bundle.version) {
        (Some(n), Some(v)) => format!("ferry verify {} {}", esc(n), esc(v)),
        _ => format!("ferry verify {}", esc(&r.bundle.path)),
    };
    let seconds = r.timings.total_ms / 1e3;
    let mut s = String::new();
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<testsuites name="ferry verify" tests="{}" failures="{failures}" errors="0" skipped="{skipped}" time="{seconds:.3}">"#,
        cases.len()
    );
    let _ = writeln!(
        s,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="{skipped}" time="{seconds:.3}">"#,
        xml_escape(&suite),
        cases.len()
    );
    let _ = writeln!(s, "    <properties>");
    let mut props = vec![("bundle", esc(&r.bundle.path)), ("policy", esc(&r.policy.source))];
    if let Some(d) = &r.bundle.manifest_digest {
        props.push(("manifest_digest", esc(d)));
    }
    if let Some(d) = &r.device {
        props.push(("device", esc(&d.id)));
        props.push(("device_name", esc(&d.name)));
    }
    for (k, v) in props {
        let _ = writeln!(s, r#"      <property name="{k}" value="{}"/>"#, xml_escape(&v));
    }
    let _ = writeln!(s, "    </properties>");
    for (class, name, status, message, lines, time) in &cases {
        let time = time.map(|t| format!(r#" time="{t:.3}""#)).unwrap_or_default();
        let _ =
            write!(s, r#"    <testcase classname="{}" name="{}"{time}"#, xml_escape(class), xml_escape(name));
        match status {
            Status::Passed => {
                let _ = writeln!(s, "/>");
            }
            Status::Failed => {
                let _ = writeln!(s, ">");
                let _ = writeln!(
                    s,
                    r#"      <failure message="{}" type="{}">{}</failure>"#,
                    xml_escape(message),
                    xml_escape(class),
                    xml_escape(&lines.join("\n"))
                );
                let _ = writeln!(s, "    </testcase>");
            }
            Status::Warning => {
                let _ = writeln!(s, ">");
                let mut text = format!("warning: {message}");
                for l in lines {
                    text.push_str("\n  - ");
                    text.push_str(l);
                }
                let _ = writeln!(s, "      <system-out>{}</system-out>", xml_escape(&text));
                let _ = writeln!(s, "    </testcase>");
            }
            Status::Skipped => {
                let _ = writeln!(s, ">");
                let _ = writeln!(s, r#"      <skipped message="{}"/>"#, xml_escape(message));
                let _ = writeln!(s, "    </testcase>");
            }
        }
    }
    let _ = writeln!(s, "  </testsuite>");
    let _ = writeln!(s, "</testsuites>");
    s
}

/// The SARIF 2.1.0 schema the output conforms to.
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

fn sarif(r: &Report) -> String {
    let rules: Vec<serde_json::Value> = CheckId::ALL
        .iter()
        .map(|c| {
            let level = r.check(*c).map_or("error", |res| match res.severity {
                crate::Severity::Error => "error",
                crate::Severity::Warning => "warning",
            });
            json!({
                "id": c.as_str(),
                "shortDescription": { "text": c.description() },
                "defaultConfiguration": { "level": level },
                "helpUri": "https://github.com/ferry-ml/ferry/blob/main/spec/FORMAT.md#verify-report",
            })
        })
        .collect();
    let location = json!([{ "physicalLocation": { "artifactLocation": { "uri": uri(&r.bundle.path) } } }]);
    let mut results = Vec::new();
    for (index, c) in r.checks.iter().enumerate() {
        let subjects: Vec<(Option<&str>, Status, &str, &[crate::Evidence])> = if c.cases.is_empty() {
            vec![(None, c.status, c.message.as_str(), c.evidence.as_slice())]
        } else {
            c.cases
                .iter()
                .map(|k| (Some(k.name.as_str()), k.status, k.message.as_str(), k.evidence.as_slice()))
                .collect()
        };
        for (case, status, message, evidence) in subjects {
            let (level, kind) = match status {
                Status::Failed => ("error", "fail"),
                Status::Warning => ("warning", "fail"),
                Status::Passed => ("none", "pass"),
                Status::Skipped => ("none", "notApplicable"),
            };
            let text = match case {
                Some(k) => format!("{}: {k}: {message}", c.id),
                None => format!("{}: {message}", c.id),
            };
            let mut result = json!({
                "ruleId": c.id.as_str(),
                "ruleIndex": index,
                "level": level,
                "kind": kind,
                "message": { "text": text },
                "locations": location,
                "properties": { "evidence": evidence },
            });
            if let (Some(k), Some(obj)) = (case, result.as_object_mut()) {
                obj.insert("partialFingerprints".into(), json!({ "ferryCase/v1": format!("{}/{k}", c.id) }));
            }
            results.push(result);
        }
    }
    let doc = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": r.tool.name,
                "version": r.tool.version,
                "informationUri": "https://github.com/ferry-ml/ferry",
                "rules": rules,
            }},
            "invocations": [{ "executionSuccessful": true, "exitCode": r.exit_code }],
            "results": results,
            "properties": {
                "passed": r.passed,
                "manifestDigest": r.bundle.manifest_digest,
                "device": r.device.as_ref().map(|d| &d.id),
            },
        }],
    });
    serde_json::to_string_pretty(&doc).map(|s| s + "\n").unwrap_or_default()
}

/// A relative path as a SARIF URI reference: `/`-separated, with characters outside the unreserved and
/// path sets percent-encoded.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let bytes = path.as_bytes();
    // Absolute paths become `file:` URIs (`/a/b` and `C:/a/b`); relative ones stay relative references.
    let mut out = match bytes {
        [b'/', ..] => String::from("file://"),
        [d, b':', b'/', ..] if d.is_ascii_alphabetic() => String::from("file:///"),
        _ => String::new(),
    };
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Escapes a workflow command's message (`%`, CR, LF).
fn gh_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command property (also `:` and `,`).
fn gh_property(text: &str) -> String {
    gh_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn github(r: &Report) -> String {
    let mut s = String::new();
    for c in &r.checks {
        let mut annotate = |status: Status, title: String, message: String, lines: Vec<String>| {
            let command = match status {
                Status::Failed => "error",
                Status::Warning => "warning",
                _ => return,
            };
            let mut body = message;
            for l in lines {
                body.push_str("\n- ");
                body.push_str(&l);
            }
            let _ = writeln!(s, "::{command} title={}::{}", gh_property(&title), gh_data(&body));
        };
        if c.cases.is_empty() {
            annotate(
                c.status,
                format!("ferry verify: {}", c.id),
                esc(&c.message).into_owned(),
                shown_evidence(c),
            );
        } else {
            for k in &c.cases {
                let mut lines = Vec::new();
                evidence_lines(&k.evidence, &mut lines);
                annotate(
                    k.status,
                    format!("ferry verify: {} ({})", c.id, esc(&k.name)),
                    esc(&k.message).into_owned(),
                    lines,
                );
            }
        }
    }
    let m = &r.summary;
    let _ = writeln!(
        s,
        "::notice title={}::{} failed, {} warning{}, {} passed, {} skipped",
        gh_property(&format!("ferry verify {}", if r.passed { "passed" } else { "failed" })),
        m.failed,
        m.warnings,
        plural(m.warnings as usize),
        m.passed,
        m.skipped
    );
    s
}

fn md_cell(text: &str) -> String {
    esc(text).replace('\\', "\\\\").replace('|', "\\|")
}

/// Text for a Markdown code span: escaped, without backticks (which would end it) or table pipes.
fn md_code(text: &str) -> String {
    esc(text).replace(['`', '|'], "'")
}

/// A Markdown summary for `$GITHUB_STEP_SUMMARY`: the verdict and one table row per check and case.
pub fn github_step_summary(r: &Report) -> String {
    let mut s = String::new();
    let who = match (&r.bundle.name, &r.bundle.version) {
        (Some(n), Some(v)) => format!("`{}` {}", md_code(n), md_cell(v)),
        _ => format!("`{}`", md_code(&r.bundle.path)),
    };
    let verdict = if r.passed { "✅ passed" } else { "❌ failed" };
    let _ = writeln!(s, "### ferry verify {who}: {verdict}\n");
    if let Some(d) = &r.bundle.manifest_digest {
        let _ = writeln!(s, "Bundle digest `{}`, policy `{}`.\n", md_code(d), md_code(&r.policy.source));
    }
    let m = &r.summary;
    let _ = writeln!(
        s,
        "{} failed, {} warning{}, {} passed, {} skipped.\n",
        m.failed,
        m.warnings,
        plural(m.warnings as usize),
        m.passed,
        m.skipped
    );
    let _ = writeln!(s, "| check | status | details |");
    let _ = writeln!(s, "|---|---|---|");
    for c in &r.checks {
        let icon = |st: Status| match st {
            Status::Passed => "✅ passed",
            Status::Failed => "❌ failed",
            Status::Warning => "⚠️ warning",
            Status::Skipped => "⏭️ skipped",
        };
        let _ = writeln!(s, "| `{}` | {} | {} |", c.id, icon(c.status), md_cell(&c.message));
        for k in &c.cases {
            let _ = writeln!(
                s,
                "| `{}` · {} | {} | {} |",
                c.id,
                md_cell(&k.name),
                icon(k.status),
                md_cell(&k.message)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(xml_escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}");
        assert_eq!(gh_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(gh_data("50% a:b\r\n"), "50%25 a:b%0D%0A");
        assert_eq!(md_cell("a|b\nc"), "a\\|b\\\\nc");
        assert_eq!(uri("dir/my bundle.ferry"), "dir/my%20bundle.ferry");
        assert_eq!(uri("/tmp/a.ferry"), "file:///tmp/a.ferry");
        assert_eq!(uri("C:\\b\\a.ferry"), "file:///C:/b/a.ferry");
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
    }
}
