//! Sample data files as a contract sees them: CSV records (RFC 4180) and the cells of a row, missing,
//! a number or invalid. Read by `ferry verify --data` (`contract.data`, each cell against its feature's
//! rules) and by `ferry init --sample` (each column profiled into a feature table).

#[cfg(feature = "parquet")]
pub mod parquet;

/// A cell's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Empty, or a spelling of "not available" (see [`parse_cell`]).
    Missing,
    /// A number (never NaN: NaN is [`Cell::Missing`]).
    Number(f64),
    /// Anything else, as written (trimmed).
    Invalid(String),
}

/// A text cell: empty, `NaN`, `nan`, `NA`, `N/A`, `null`, `NULL` and `None` are missing; otherwise a
/// number, or invalid.
pub fn parse_cell(text: &str) -> Cell {
    let t = text.trim();
    match t {
        "" | "NaN" | "nan" | "NAN" | "NA" | "N/A" | "null" | "NULL" | "None" => Cell::Missing,
        _ => match t.parse::<f64>() {
            Ok(v) if v.is_nan() => Cell::Missing,
            Ok(v) => Cell::Number(v),
            Err(_) => Cell::Invalid(t.to_owned()),
        },
    }
}

/// RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks; CRLF or LF line ends;
/// blank lines are skipped. Yields the 1-based line each record starts on.
#[derive(Debug)]
pub struct CsvRecords<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> CsvRecords<'a> {
    /// The records of `text`.
    pub fn new(text: &'a str) -> CsvRecords<'a> {
        CsvRecords { rest: text, line: 1 }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = Result<(usize, Vec<String>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        // Skip blank lines.
        loop {
            if self.rest.is_empty() {
                return None;
            }
            if let Some(r) = self.rest.strip_prefix("\r\n") {
                self.rest = r;
                self.line += 1;
            } else if let Some(r) = self.rest.strip_prefix('\n') {
                self.rest = r;
                self.line += 1;
            } else {
                break;
            }
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut in_quotes = false;
        let mut quoted_field = false;
        let mut consumed = self.rest.len();
        while let Some((i, c)) = chars.next() {
            if in_quotes {
                match c {
                    '"' if chars.peek().is_some_and(|&(_, n)| n == '"') => {
                        field.push('"');
                        chars.next();
                    }
                    '"' => in_quotes = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    quoted_field = false;
                }
                '"' if field.is_empty() && !quoted_field => {
                    in_quotes = true;
                    quoted_field = true;
                }
                '"' => {
                    let err = format!("line {}: a quote inside an unquoted field", self.line);
                    self.rest = "";
                    return Some(Err(err));
                }
                '\r' if chars.peek().is_some_and(|&(_, n)| n == '\n') => {}
                '\n' => {
                    consumed = i + 1;
                    self.line += 1;
                    break;
                }
                _ if quoted_field => {
                    let err = format!("line {}: text after a closing quote", self.line);
                    self.rest = "";
                    return Some(Err(err));
                }
                _ => field.push(c),
            }
        }
        if in_quotes {
            self.rest = "";
            return Some(Err(format!("line {start_line}: a quoted field is never closed")));
        }
        fields.push(field);
        self.rest = self.rest.get(consumed..).unwrap_or("");
        Some(Ok((start_line, fields)))
    }
}

/// The kind of a sample data file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// `.csv`: RFC 4180 with a header row.
    Csv,
    /// `.jsonl`, `.ndjson`: one JSON object per line.
    JsonLines,
    /// `.parquet`: flat numeric columns (needs the `parquet` feature).
    Parquet,
}

impl SampleKind {
    /// The kind `path`'s extension names, or a message listing those known.
    pub fn of(path: &std::path::Path) -> Result<SampleKind, String> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(SampleKind::Csv),
            "jsonl" | "ndjson" => Ok(SampleKind::JsonLines),
            "parquet" if cfg!(feature = "parquet") => Ok(SampleKind::Parquet),
            _ => Err(format!(
                "cannot tell the format from the extension (expected .csv, .jsonl, .ndjson{})",
                if cfg!(feature = "parquet") { " or .parquet" } else { "" }
            )),
        }
    }
}

/// A feature as sample columns name it: `INPUT.FEATURE`, or the feature's name alone when no other
/// input has a feature of that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureColumn {
    /// The input tensor.
    pub input: String,
    /// The feature.
    pub feature: String,
    /// Its position along the input's last axis.
    pub index: usize,
    /// Whether the bare feature name is unambiguous.
    pub unique: bool,
}

impl FeatureColumn {
    /// Every declared feature of `inputs`, in contract order.
    pub fn all(inputs: &[ferry_spec::TensorSpec]) -> Vec<FeatureColumn> {
        let mut out: Vec<FeatureColumn> = inputs
            .iter()
            .flat_map(|t| {
                t.features.iter().enumerate().map(|(index, f)| FeatureColumn {
                    input: t.name.clone(),
                    feature: f.name.clone(),
                    index,
                    unique: true,
                })
            })
            .collect();
        let names: Vec<String> = out.iter().map(|c| c.feature.clone()).collect();
        for c in &mut out {
            c.unique = names.iter().filter(|n| **n == c.feature).count() == 1;
        }
        out
    }

    /// `INPUT.FEATURE`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.input, self.feature)
    }

    /// The column of `columns` that holds this feature: `INPUT.FEATURE`, else the bare name if unique.
    pub fn column_in(&self, columns: &HashMap<String, usize>) -> Option<String> {
        let q = self.qualified();
        if columns.contains_key(&q) {
            Some(q)
        } else if self.unique && columns.contains_key(&self.feature) {
            Some(self.feature.clone())
        } else {
            None
        }
    }
}

/// A sample read for some of its columns: every column name with its position, and per record the
/// 1-based line it starts on (for Parquet, its 1-based row) and one cell per requested column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Column name → position in the file.
    pub columns: HashMap<String, usize>,
    /// `(line, cells)` per record, cells in the order of the names asked for.
    pub rows: Vec<(usize, Vec<Cell>)>,
}

use std::collections::HashMap;

/// Given a sample's columns (name → position), names the column each wanted value comes from (`None`:
/// read as missing).
pub type Pick<'a> = dyn Fn(&HashMap<String, usize>) -> Vec<Option<String>> + 'a;

/// The most cells a Parquet sample may hold.
pub const MAX_PARQUET_CELLS: u64 = 1 << 28;

/// Reads a sample's records. `pick` is given the columns (name → position) and names, per wanted
/// value, the column it comes from (`None`: read as missing). A row with the wrong number of fields, a
/// line that is not a JSON object, or text that is not UTF-8 is an error naming the line or byte.
pub fn read_table(kind: SampleKind, bytes: &[u8], pick: &Pick<'_>) -> Result<Table, String> {
    if kind == SampleKind::Parquet {
        return parquet_table(bytes, pick);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("byte {}: invalid UTF-8", e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match kind {
        SampleKind::Csv => csv_table(text, pick),
        _ => jsonl_table(text, pick),
    }
}

fn csv_table(text: &str, pick: &Pick<'_>) -> Result<Table, String> {
    let mut records = CsvRecords::new(text);
    let header = match records.next() {
        Some(h) => h?.1,
        None => return Ok(Table::default()),
    };
    let mut columns = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if columns.insert(name.trim().to_owned(), i).is_some() {
            return Err(format!("line 1: column `{}` appears twice in the header", name.trim()));
        }
    }
    let positions: Vec<Option<usize>> =
        pick(&columns).into_iter().map(|c| c.and_then(|c| columns.get(&c).copied())).collect();
    let mut rows = Vec::new();
    for rec in records {
        let (line, fields) = rec?;
        if fields.len() != header.len() {
            let n = fields.len();
            let s = if n == 1 { "" } else { "s" };
            return Err(format!("line {line}: {n} field{s}, but the header has {}", header.len()));
        }
        rows.push((
            line,
            positions
                .iter()
                .map(|p| p.and_then(|i| fields.get(i)).map_or(Cell::Missing, |s| parse_cell(s)))
                .collect(),
        ));
    }
    Ok(Table { columns, rows })
}

/// JSON lines: one object per line; blank lines are skipped. A column exists if any row has the key.
fn jsonl_table(text: &str, pick: &Pick<'_>) -> Result<Table, String> {
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
    let names = pick(&columns);
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
                    Some(serde_json::Value::String(s)) => parse_cell(s),
                    Some(other) => Cell::Invalid(other.to_string()),
                })
                .collect();
            (*line, cells)
        })
        .collect();
    Ok(Table { columns, rows })
}

#[cfg(feature = "parquet")]
fn parquet_table(bytes: &[u8], pick: &Pick<'_>) -> Result<Table, String> {
    let table = parquet::ParquetTable::new(bytes.to_vec(), MAX_PARQUET_CELLS)?;
    let columns: HashMap<String, usize> =
        table.names().iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
    let wanted = pick(&columns);
    // file column → the wanted slots it fills
    let mut slots: Vec<Vec<usize>> = vec![Vec::new(); table.names().len()];
    for (k, name) in wanted.iter().enumerate() {
        if let Some(i) = name.as_ref().and_then(|n| columns.get(n)) {
            slots[*i].push(k);
        }
    }
    let mut rows: Vec<(usize, Vec<Cell>)> =
        (0..table.rows()).map(|r| (r + 1, vec![Cell::Missing; wanted.len()])).collect();
    table.for_each_cell(|row, column, cell| {
        if let (Some(r), Some(ks)) = (rows.get_mut(row), slots.get(column)) {
            for k in ks {
                r.1[*k] = cell.clone();
            }
        }
        Ok(())
    })?;
    Ok(Table { columns, rows })
}

#[cfg(not(feature = "parquet"))]
fn parquet_table(_: &[u8], _: &Pick<'_>) -> Result<Table, String> {
    Err("Parquet samples need ferry-contract's `parquet` feature".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn records(text: &str) -> Vec<Result<(usize, Vec<String>), String>> {
        CsvRecords::new(text).collect()
    }

    #[test]
    fn csv_records() {
        let r = records("a,b\r\n1,\"x, \"\"y\"\"\nz\"\n\n3,4");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Ok((1, vec!["a".into(), "b".into()])));
        assert_eq!(r[1], Ok((2, vec!["1".into(), "x, \"y\"\nz".into()])));
        assert_eq!(r[2], Ok((5, vec!["3".into(), "4".into()])));
        assert!(records("a,\"b").last().unwrap().is_err());
        assert!(records("a,b\"c").last().unwrap().is_err());
        assert!(records("\"a\"b").last().unwrap().is_err());
        assert_eq!(records("x,\n"), vec![Ok((1, vec!["x".into(), String::new()]))]);
    }

    #[test]
    fn cells() {
        assert_eq!(parse_cell(" 1.5 "), Cell::Number(1.5));
        assert_eq!(parse_cell(""), Cell::Missing);
        assert_eq!(parse_cell("nan"), Cell::Missing);
        assert_eq!(parse_cell("abc"), Cell::Invalid("abc".into()));
    }

    proptest! {
        #[test]
        fn csv_never_panics(text in ".{0,200}") {
            for r in CsvRecords::new(&text) {
                let _ = r;
            }
        }

        #[test]
        fn csv_round_trips_simple_fields(rows in proptest::collection::vec(proptest::collection::vec("[a-z0-9 ,\"\n]{0,6}", 1..4), 1..5)) {
            let quote = |f: &String| format!("\"{}\"", f.replace('"', "\"\""));
            let text: String = rows.iter().map(|r| r.iter().map(quote).collect::<Vec<_>>().join(",") + "\r\n").collect();
            let parsed: Vec<Vec<String>> = CsvRecords::new(&text).map(|r| r.unwrap().1).collect();
            prop_assert_eq!(parsed, rows);
        }
    }
}
