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
