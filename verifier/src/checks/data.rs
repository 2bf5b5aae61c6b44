//! `contract.data`: a sample data file (CSV with a header row, or JSON lines) checked against the
//! contract's per-feature constraints, reporting the share of rows that break each one.
//!
//! A feature is read from the column named after it, or `input.feature` (required when two inputs have
//! features of the same name). Empty cells, `NaN`, `nan`, `NA`, `null` and JSON `null` (or a missing key
//! in a JSON line) are missing values, which only nullable float features accept. Extra columns are
//! ignored, so a sample with labels or IDs can be checked as it is.
//!
//! A row is named as `ferry run` names it: by its record's 0-based index (the header and blank lines are
//! not records), the index the row has in a batch tensor (`record 3` is `[3, …]`), with the 1-based line
//! of the file it starts on (`record 3 (line 5)`).
//!
//! A file of its own, apart from the other `contract.*` checks in `contract.rs`: it is the one that holds
//! the contract against data from outside the bundle. Records and cells are read by
//! `ferry_contract::sample`, which `ferry init --sample` profiles with too.

use super::{Context, plural};
use crate::{Evidence, Num, Outcome, VerifyError};
use ferry_contract::FeatureRule;
use ferry_contract::sample::{Cell, CsvRecords, parse_cell as parse_text_cell};
use ferry_spec::policy::{CheckId, DataPolicy};
use ferry_spec::{DType, Feature, Manifest};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A data file read for `contract.data`.
#[derive(Debug)]
pub(crate) struct DataFile {
    path: PathBuf,
    kind: Kind,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csv,
    JsonLines,
}

/// One feature to check, with where its values come from.
struct Target<'a> {
    input: &'a str,
    dtype: DType,
    feature: &'a Feature,
    qualified: String,
    unique: bool,
}

/// The rules, in report order.
const RULES: [&str; 6] = ["column", "type", "null", "min", "max", "allowed"];

#[derive(Debug, Default, Clone)]
struct Tally {
    rows: u64,
    /// The first breaking record: its 0-based index, its 1-based line and the value found.
    first: Option<(u64, u64, String)>,
}

impl Context<'_> {
    pub(super) fn contract_data(&mut self) -> Outcome {
        let b = match self.need_bundle(CheckId::ContractData) {
            Ok(b) => b,
            Err(o) => return o,
        };
        match &self.data {
            None => Outcome::skipped("skipped: no --data file given"),
            Some(d) => d.check(b.manifest(), &self.options.policy.data),
        }
    }
}

impl DataFile {
    /// Reads the file; its kind comes from the extension (`.csv`, `.jsonl`, `.ndjson`).
    pub(crate) fn load(path: &Path) -> Result<DataFile, VerifyError> {
        let err = |message: String| VerifyError::Data { path: path.to_path_buf(), message };
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        let kind = match ext.as_str() {
            "csv" => Kind::Csv,
            "jsonl" | "ndjson" => Kind::JsonLines,
            _ => {
                return Err(err(
                    "cannot tell the format from the extension (expected .csv, .jsonl or .ndjson)".into(),
                ));
            }
        };
        let bytes = ferry_spec::file::read(path, ferry_spec::file::NO_LIMIT).map_err(|e| err(e.reason()))?;
        Ok(DataFile { path: path.to_path_buf(), kind, bytes })
    }

    /// Checks every row against every feature constraint of the contract.
    fn check(&self, m: &Manifest, policy: &DataPolicy) -> Outcome {
        let shown = self.path.display().to_string();
        let mut targets: Vec<Target<'_>> = Vec::new();
        for input in &m.inputs {
            for f in &input.features {
                targets.push(Target {
                    input: &input.name,
                    dtype: input.dtype,
                    feature: f,
                    qualified: format!("{}.{}", input.name, f.name),
                    unique: true,
                });
            }
        }
        if targets.is_empty() {
            return Outcome::skipped("skipped: the contract declares no features to check data against");
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for t in &targets {
            *counts.entry(t.feature.name.as_str()).or_default() += 1;
        }
        for t in &mut targets {
            t.unique = counts.get(t.feature.name.as_str()).copied() == Some(1);
        }
        let text = match std::str::from_utf8(&self.bytes) {
            Ok(t) => t.strip_prefix('\u{feff}').unwrap_or(t),
            Err(e) => {
                return Outcome::failed(
                    format!("`{shown}` is not UTF-8 text"),
                    vec![Evidence::Error { message: format!("byte {}: invalid UTF-8", e.valid_up_to()) }],
                );
            }
        };
        let rows = match self.kind {
            Kind::Csv => csv_rows(text, &targets),
            Kind::JsonLines => jsonl_rows(text, &targets),
        };
        let (columns, rows) = match rows {
            Ok(r) => r,
            Err(message) => {
                return Outcome::failed(
                    format!("`{shown}` cannot be parsed"),
                    vec![Evidence::Error { message }],
                );
            }
        };
        let total = rows.len() as u64;
        if total == 0 {
            return Outcome::failed(
                format!("`{shown}` has no data rows"),
                vec![Evidence::Error { message: "no data rows to check".into() }],
            );
        }
        // tallies[target][rule]
        let mut tallies = vec![vec![Tally::default(); RULES.len()]; targets.len()];
        for (t, tally) in targets.iter().zip(&mut tallies) {
            if column_of(t, &columns).is_none() {
                tally[0] = Tally { rows: total, first: None };
            }
        }
        for (record, (line, row)) in rows.iter().enumerate() {
            for (i, (t, tally)) in targets.iter().zip(&mut tallies).enumerate() {
                if tally[0].rows > 0 {
                    continue;
                }
                let cell = row.get(i).cloned().unwrap_or(Cell::Missing);
                for rule in broken_rules(t, &cell) {
                    let slot = &mut tally[rule];
                    slot.rows += 1;
                    if slot.first.is_none() {
                        slot.first = Some((record as u64, *line as u64, show_cell(&cell)));
                    }
                }
            }
        }
        let mut evidence = Vec::new();
        let mut failing = 0usize;
        for (t, tally) in targets.iter().zip(&tallies) {
            let column = column_of(t, &columns);
            for (rule, slot) in RULES.iter().zip(tally) {
                if slot.rows == 0 {
                    continue;
                }
                let share = slot.rows as f64 / total as f64;
                if *rule == "column" || share > policy.max_violation_share {
                    failing += 1;
                }
                evidence.push(Evidence::Feature {
                    input: t.input.into(),
                    feature: t.feature.name.clone(),
                    column: column.clone(),
                    rule: (*rule).into(),
                    rows: slot.rows,
                    total_rows: total,
                    share: Num(share),
                    first_record: slot.first.as_ref().map(|(r, _, _)| *r),
                    first_line: slot.first.as_ref().map(|(_, l, _)| *l),
                    value: slot.first.as_ref().map(|(_, _, v)| v.clone()),
                });
            }
        }
        let n = targets.len();
        let rows = format!("{total} row{}", plural(total as usize));
        if failing == 0 && evidence.is_empty() {
            let verb = if total == 1 { "respects" } else { "respect" };
            Outcome::passed(format!("{rows} {verb} the constraints of {n} feature{}", plural(n)))
        } else if failing == 0 {
            Outcome::passed(format!(
                "{rows} checked; {} constraint{} broken by at most {}% of rows, within the policy",
                evidence.len(),
                plural(evidence.len()),
                policy.max_violation_share * 100.0
            ))
            .with_evidence(evidence)
        } else {
            Outcome::failed(
                format!("{failing} feature constraint{} broken in `{shown}` ({rows})", plural(failing)),
                evidence,
            )
        }
    }
}

fn column_of(t: &Target<'_>, columns: &HashMap<String, usize>) -> Option<String> {
    if columns.contains_key(&t.qualified) {
        Some(t.qualified.clone())
    } else if t.unique && columns.contains_key(&t.feature.name) {
        Some(t.feature.name.clone())
    } else {
        None
    }
}

fn show_cell(c: &Cell) -> String {
    match c {
        Cell::Missing => "missing".into(),
        Cell::Number(v) => v.to_string(),
        Cell::Invalid(t) => format!("{t:?}"),
    }
}

/// Indices into [`RULES`] of the rules a value breaks: the contract's feature rules
/// ([`ferry_contract::broken_rules`], the same the runtime applies to requests); a cell that is not a
/// number breaks `type`.
fn broken_rules(t: &Target<'_>, cell: &Cell) -> Vec<usize> {
    let value = match cell {
        Cell::Invalid(_) => return vec![rule_index(FeatureRule::Type)],
        Cell::Missing => f64::NAN,
        Cell::Number(v) => *v,
    };
    ferry_contract::broken_rules(t.feature, t.dtype, value).into_iter().map(rule_index).collect()
}

fn rule_index(rule: FeatureRule) -> usize {
    RULES.iter().position(|r| *r == rule.name()).unwrap_or(0)
}

/// The header's column positions and, per record, the 1-based line it starts on and one cell per target.
type Rows = (HashMap<String, usize>, Vec<(usize, Vec<Cell>)>);

/// The header's column positions and, per record, its line and one cell per target (in target order).
fn csv_rows(text: &str, targets: &[Target<'_>]) -> Result<Rows, String> {
    let mut records = CsvRecords::new(text);
    let header = match records.next() {
        Some(h) => h?.1,
        None => return Ok((HashMap::new(), Vec::new())),
    };
    let mut columns = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if columns.insert(name.trim().to_owned(), i).is_some() {
            return Err(format!("line 1: column `{}` appears twice in the header", name.trim()));
        }
    }
    let positions: Vec<Option<usize>> =
        targets.iter().map(|t| column_of(t, &columns).and_then(|c| columns.get(&c).copied())).collect();
    let mut rows = Vec::new();
    for rec in records {
        let (line, fields) = rec?;
        if fields.len() != header.len() {
            let n = fields.len();
            return Err(format!("line {line}: {n} field{}, but the header has {}", plural(n), header.len()));
        }
        rows.push((
            line,
            positions
                .iter()
                .map(|p| p.and_then(|i| fields.get(i)).map_or(Cell::Missing, |s| parse_text_cell(s)))
                .collect(),
        ));
    }
    Ok((columns, rows))
}

/// JSON lines: one object per line; blank lines are skipped. A column exists if any row has the key.
fn jsonl_rows(text: &str, targets: &[Target<'_>]) -> Result<Rows, String> {
    let mut objects = Vec::new();
    let mut columns = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not valid JSON: {e}", i + 1))?;
        let serde_json::Value::Object(map) = value else {
            return Err(format!("line {}: expected a JSON object", i + 1));
        };
        for k in map.keys() {
            let next = columns.len();
            columns.entry(k.clone()).or_insert(next);
        }
        objects.push((i + 1, map));
    }
    let names: Vec<Option<String>> = targets.iter().map(|t| column_of(t, &columns)).collect();
    let rows = objects
        .iter()
        .map(|(line, obj)| {
            let cells = names
                .iter()
                .map(|n| match n.as_ref().and_then(|n| obj.get(n)) {
                    None | Some(serde_json::Value::Null) => Cell::Missing,
                    Some(serde_json::Value::Number(x)) => {
                        x.as_f64().map_or_else(|| Cell::Invalid(x.to_string()), Cell::Number)
                    }
                    Some(serde_json::Value::String(s)) => parse_text_cell(s),
                    Some(other) => Cell::Invalid(other.to_string()),
                })
                .collect();
            (*line, cells)
        })
        .collect();
    Ok((columns, rows))
}
