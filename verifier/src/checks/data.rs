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
use ferry_contract::sample::{Cell, FeatureColumn, SampleKind, Table, read_table};
use ferry_spec::policy::{CheckId, DataPolicy};
use ferry_spec::{DType, Feature, Manifest};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A data file read for `contract.data`.
#[derive(Debug)]
pub(crate) struct DataFile {
    pub(crate) path: PathBuf,
    kind: SampleKind,
    bytes: Vec<u8>,
}

/// One feature to check, with where its values come from.
struct Target<'a> {
    column: FeatureColumn,
    dtype: DType,
    feature: &'a Feature,
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
    /// Reads the file; its kind comes from the extension (`.csv`, `.jsonl`, `.ndjson`, `.parquet`).
    pub(crate) fn load(path: &Path) -> Result<DataFile, VerifyError> {
        let err = |message: String| VerifyError::Data { path: path.to_path_buf(), message };
        let kind = SampleKind::of(path).map_err(err)?;
        let bytes = ferry_spec::file::read(path, ferry_spec::file::NO_LIMIT).map_err(|e| err(e.reason()))?;
        Ok(DataFile { path: path.to_path_buf(), kind, bytes })
    }

    /// The records, with one cell per feature column of `features` (missing when there is no column).
    pub(crate) fn table(&self, features: &[FeatureColumn]) -> Result<Table, String> {
        read_table(self.kind, &self.bytes, &|columns| features.iter().map(|f| f.column_in(columns)).collect())
    }

    /// Checks every row against every feature constraint of the contract.
    fn check(&self, m: &Manifest, policy: &DataPolicy) -> Outcome {
        let shown = self.path.display().to_string();
        let columns = FeatureColumn::all(&m.inputs);
        let targets: Vec<Target<'_>> = columns
            .iter()
            .filter_map(|c| {
                let input = m.input(&c.input)?;
                Some(Target { column: c.clone(), dtype: input.dtype, feature: input.features.get(c.index)? })
            })
            .collect();
        if targets.is_empty() {
            return Outcome::skipped("skipped: the contract declares no features to check data against");
        }
        let (columns, rows) = match self.table(&columns) {
            Ok(t) => (t.columns, t.rows),
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
                    input: t.column.input.clone(),
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
    t.column.column_in(columns)
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
