//! Parquet samples (`ferry init --sample data.parquet`): the columns of a flat Parquet file as a table of
//! [`Cell`]s, as pandas' `df.to_parquet()` and pyarrow write them (snappy, zstd, gzip or uncompressed;
//! boolean, int32, int64, float and double columns, nullable ones with nulls).
//!
//! The file is untrusted. Before any page is decoded, [`ParquetTable::new`] checks what the footer
//! declares: only flat numeric or boolean columns (a string, binary, date or nested column is refused,
//! named), at most `max_elements` cells in all, every column chunk inside the file, and every page header
//! of every chunk walked here (a small Thrift reader of our own) so that no page declares more
//! uncompressed bytes than its row group's rows can need: the `parquet` crate allocates a page's declared
//! size before it decompresses it, and a 2 GiB declaration costs a few bytes. The crate decodes only
//! what passed, and its panics become errors (see [`catch`]).

use super::Cell;
use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as Physical};
use parquet::column::reader::ColumnReader;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::Type;

/// pandas writes a non-range index as a column of this name (`__index_level_0__`): not a feature.
fn is_pandas_index(name: &str) -> bool {
    name.strip_prefix("__index_level_")
        .and_then(|r| r.strip_suffix("__"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// How a column's values become numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float,
    Double,
}

impl Kind {
    /// Bytes a PLAIN value takes (bits for booleans are rounded up to a byte).
    fn width(self) -> u64 {
        match self {
            Kind::Bool => 1,
            Kind::Int32 | Kind::UInt32 | Kind::Float => 4,
            Kind::Int64 | Kind::UInt64 | Kind::Double => 8,
        }
    }
}

/// A Parquet file checked and ready to read: column names (file order, pandas' index column left out),
/// row count.
pub struct ParquetTable {
    reader: SerializedFileReader<bytes::Bytes>,
    names: Vec<String>,
    /// The leaf column each name reads, and how.
    columns: Vec<(usize, Kind)>,
    rows: usize,
}

impl std::fmt::Debug for ParquetTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetTable")
            .field("names", &self.names)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// The most uncompressed bytes a column chunk may declare for `rows` rows: eight bytes a value for a
/// dictionary, eight more for plain pages after a dictionary fallback, levels and page overhead.
fn chunk_byte_bound(rows: u64) -> u64 {
    rows.saturating_mul(24).saturating_add(1 << 20)
}

impl ParquetTable {
    /// Checks `bytes` as a sample (see the module): at most `max_elements` cells in all.
    pub fn new(bytes: Vec<u8>, max_elements: u64) -> Result<ParquetTable, String> {
        let len = bytes.len() as u64;
        if len < 12 || !bytes.starts_with(b"PAR1") || !bytes.ends_with(b"PAR1") {
            return Err("not a Parquet file (no PAR1 magic at both ends)".into());
        }
        let footer_len = u64::from(u32::from_le_bytes([
            bytes[bytes.len() - 8],
            bytes[bytes.len() - 7],
            bytes[bytes.len() - 6],
            bytes[bytes.len() - 5],
        ]));
        let footer_start = (len - 8)
            .checked_sub(footer_len)
            .filter(|s| *s >= 4)
            .ok_or_else(|| format!("the footer declares {footer_len} bytes, more than the file holds"))?;
        let file = bytes::Bytes::from(bytes);
        let reader = catch(|| SerializedFileReader::new(file.clone()))?
            .map_err(|e| format!("not a readable Parquet file: {e}"))?;
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let root = schema.root_schema();
        let Type::GroupType { fields, .. } = root else {
            return Err("the Parquet schema's root is not a group".into());
        };
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for (i, field) in fields.iter().enumerate() {
            let name = field.name();
            let Type::PrimitiveType { physical_type, .. } = field.as_ref() else {
                return Err(format!(
                    "column `{name}` is nested (a list, map or struct); a sample's columns are numbers"
                ));
            };
            let info = field.get_basic_info();
            if info.has_repetition() && info.repetition() == Repetition::REPEATED {
                return Err(format!("column `{name}` is repeated (a list); a sample's columns are numbers"));
            }
            if is_pandas_index(name) {
                continue;
            }
            let unsigned = matches!(info.converted_type(), ConvertedType::UINT_32 | ConvertedType::UINT_64);
            let annotated =
                !matches!(
                    info.converted_type(),
                    ConvertedType::NONE
                        | ConvertedType::INT_8
                        | ConvertedType::INT_16
                        | ConvertedType::INT_32
                        | ConvertedType::INT_64
                        | ConvertedType::UINT_8
                        | ConvertedType::UINT_16
                        | ConvertedType::UINT_32
                        | ConvertedType::UINT_64
                ) || info.logical_type_ref().is_some_and(|l| !matches!(l, LogicalType::Integer(_)));
            let kind = match physical_type {
                Physical::BYTE_ARRAY | Physical::FIXED_LEN_BYTE_ARRAY => {
                    return Err(format!(
                        "column `{name}` holds strings or bytes; a sample's columns are numbers (encode it first)"
                    ));
                }
                Physical::INT96 => {
                    return Err(format!("column `{name}` holds timestamps; a sample's columns are numbers"));
                }
                _ if annotated => {
                    let what = info
                        .logical_type_ref()
                        .map_or_else(|| info.converted_type().to_string(), |l| format!("{l:?}"));
                    return Err(format!(
                        "column `{name}` is {what}, not a plain number; a sample's columns are numbers"
                    ));
                }
                Physical::BOOLEAN => Kind::Bool,
                Physical::INT32 if unsigned => Kind::UInt32,
                Physical::INT32 => Kind::Int32,
                Physical::INT64 if unsigned => Kind::UInt64,
                Physical::INT64 => Kind::Int64,
                Physical::FLOAT => Kind::Float,
                Physical::DOUBLE => Kind::Double,
            };
            names.push(name.to_owned());
            columns.push((i, kind));
        }
        if names.is_empty() {
            return Err("the Parquet file has no columns".into());
        }
        // Flat fields only, so field i is leaf column i.
        if schema.num_columns() != fields.len() {
            return Err("the Parquet schema's columns do not match its fields".into());
        }
        let declared = meta.file_metadata().num_rows();
        let mut rows = 0u64;
        for g in meta.row_groups() {
            let n = u64::try_from(g.num_rows()).map_err(|_| "a row group declares a negative row count")?;
            rows = rows.saturating_add(n);
            if g.num_columns() != fields.len() {
                return Err("a row group's columns do not match the schema".into());
            }
        }
        if u64::try_from(declared).ok() != Some(rows) {
            return Err(format!("the file declares {declared} rows, but its row groups hold {rows}"));
        }
        let cells = rows.saturating_mul(names.len() as u64);
        if cells > max_elements {
            return Err(format!(
                "the file declares {rows} rows of {} columns, {cells} values: more than the {max_elements} a sample may hold",
                names.len()
            ));
        }
        // The footer's bounds, before a page is decoded: every chunk of a column this reads lies between
        // the leading magic and the footer, and its page headers declare sane sizes.
        for g in meta.row_groups() {
            let group_rows = u64::try_from(g.num_rows()).unwrap_or(0);
            if group_rows == 0 {
                // Nothing is read from it (pyarrow writes an empty file's chunks at offset 0).
                continue;
            }
            for &(leaf, kind) in &columns {
                let c = g.column(leaf);
                let name = &fields[leaf].name();
                let start = c.dictionary_page_offset().unwrap_or_else(|| c.data_page_offset());
                let (Ok(start), Ok(size)) = (u64::try_from(start), u64::try_from(c.compressed_size())) else {
                    return Err(format!("column `{name}`: a chunk at a negative offset or size"));
                };
                let end = start.saturating_add(size);
                if start < 4 || end > footer_start {
                    return Err(format!(
                        "column `{name}`: a chunk at bytes {start}..{end} lies outside the file's data (4..{footer_start})"
                    ));
                }
                #[allow(clippy::cast_possible_truncation)] // both below the file's length
                let chunk = &file[start as usize..end as usize];
                check_pages(chunk, chunk_byte_bound(group_rows), kind)
                    .map_err(|e| format!("column `{name}`: {e}"))?;
            }
        }
        let rows = usize::try_from(rows).map_err(|_| "too many rows")?;
        Ok(ParquetTable { reader, names, columns, rows })
    }

    /// The column names, in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Reads every cell: `visit(row, column, cell)`, 0-based, column by column within each row group (so
    /// rows arrive out of order). A null (or NaN) is [`Cell::Missing`]; booleans are 0 and 1. Stops at the
    /// first error, `visit`'s or the file's.
    pub fn for_each_cell(
        &self,
        mut visit: impl FnMut(usize, usize, Cell) -> Result<(), String>,
    ) -> Result<(), String> {
        catch(|| self.read_all(&mut visit))?
    }

    fn read_all(
        &self,
        visit: &mut dyn FnMut(usize, usize, Cell) -> Result<(), String>,
    ) -> Result<(), String> {
        const BATCH: usize = 8192;
        let mut first_row = 0usize;
        for g in 0..self.reader.num_row_groups() {
            let group = self.reader.get_row_group(g).map_err(|e| format!("row group {g}: {e}"))?;
            let group_rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
            if group_rows == 0 {
                continue;
            }
            for (col, &(leaf, _)) in self.columns.iter().enumerate() {
                let name = &self.names[col];
                let err = |e: parquet::errors::ParquetError| format!("column `{name}`: {e}");
                let reader = group.get_column_reader(leaf).map_err(err)?;
                let mut defs: Vec<i16> = Vec::new();
                let mut row = first_row;
                let mut left = group_rows;
                let mut emit = |defs: &[i16], values: &mut dyn Iterator<Item = Cell>| -> Result<(), String> {
                    for d in defs {
                        let cell =
                            if *d > 0 { values.next().unwrap_or(Cell::Missing) } else { Cell::Missing };
                        visit(row, col, cell)?;
                        row += 1;
                    }
                    Ok(())
                };
                macro_rules! drain {
                    ($r:expr, $to:expr) => {{
                        let mut r = $r;
                        let mut values = Vec::new();
                        let required = self
                            .reader
                            .metadata()
                            .file_metadata()
                            .schema_descr()
                            .column(leaf)
                            .max_def_level()
                            == 0;
                        while left > 0 {
                            defs.clear();
                            values.clear();
                            let (records, _, levels) = r
                                .read_records(
                                    BATCH.min(left),
                                    if required { None } else { Some(&mut defs) },
                                    None,
                                    &mut values,
                                )
                                .map_err(err)?;
                            if records == 0 {
                                break;
                            }
                            if required {
                                defs.clear();
                                defs.resize(values.len(), 1);
                            } else if levels != records || values.len() > levels {
                                return Err(format!("column `{name}`: levels and values disagree"));
                            }
                            left = left.saturating_sub(records);
                            let mut cells = values.iter().map($to);
                            emit(&defs, &mut cells)?;
                        }
                    }};
                }
                #[allow(clippy::cast_precision_loss)] // a sample's integers are read as f64, as in a CSV
                match reader {
                    ColumnReader::BoolColumnReader(r) => {
                        drain!(r, |v: &bool| number(f64::from(u8::from(*v))))
                    }
                    ColumnReader::Int32ColumnReader(r) if self.columns[col].1 == Kind::UInt32 => {
                        drain!(r, |v: &i32| number(f64::from(v.cast_unsigned())))
                    }
                    ColumnReader::Int32ColumnReader(r) => drain!(r, |v: &i32| number(f64::from(*v))),
                    ColumnReader::Int64ColumnReader(r) if self.columns[col].1 == Kind::UInt64 => {
                        drain!(r, |v: &i64| number(v.cast_unsigned() as f64))
                    }
                    ColumnReader::Int64ColumnReader(r) => drain!(r, |v: &i64| number(*v as f64)),
                    ColumnReader::FloatColumnReader(r) => drain!(r, |v: &f32| number(f64::from(*v))),
                    ColumnReader::DoubleColumnReader(r) => drain!(r, |v: &f64| number(*v)),
                    _ => return Err(format!("column `{name}`: an unexpected physical type")),
                }
                if left > 0 {
                    return Err(format!(
                        "column `{name}`: row group {g} declares {group_rows} rows but holds {}",
                        group_rows - left
                    ));
                }
            }
            first_row += group_rows;
        }
        Ok(())
    }
}

fn number(v: f64) -> Cell {
    if v.is_nan() { Cell::Missing } else { Cell::Number(v) }
}

/// Runs `f`, turning a panic into an error. The `parquet` crate is known to panic on some malformed files
/// (its own `get_fields`, `byte_range` and typed-reader conversions panic by design, and fuzzers have found
/// more), and a sample is untrusted: a panic must not take `ferry init` (or a host that links the
/// library) down. `AssertUnwindSafe` is sound here because nothing `f` touches survives an unwind: on a
/// panic the reader and whatever the visitor built are dropped with the error.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("the Parquet reader failed on this file ({why})")
    })
}

/// Walks the page headers of one column chunk (`chunk`, its bytes): each page lies inside the chunk,
/// declares non-negative sizes, and all declare at most `bound` uncompressed bytes together; a
/// dictionary page's value count fits its own bytes.
fn check_pages(chunk: &[u8], bound: u64, kind: Kind) -> Result<(), String> {
    let mut pos = 0usize;
    let mut total = 0u64;
    while pos < chunk.len() {
        let mut t = Thrift { b: &chunk[pos..], pos: 0 };
        let h = t.page_header().map_err(|e| format!("a page header at chunk byte {pos}: {e}"))?;
        let (Ok(uncompressed), Ok(compressed)) =
            (u64::try_from(h.uncompressed), usize::try_from(h.compressed))
        else {
            return Err(format!("a page at chunk byte {pos} declares a negative size"));
        };
        total = total.saturating_add(uncompressed);
        if total > bound {
            return Err(format!(
                "its pages declare more than {bound} uncompressed bytes, more than its rows can need"
            ));
        }
        if let Some(n) = h.dictionary_values {
            let n = u64::try_from(n).map_err(|_| "a dictionary page declares a negative count")?;
            if n.saturating_mul(kind.width())
                > uncompressed.saturating_mul(if kind == Kind::Bool { 8 } else { 1 })
            {
                return Err(format!("a dictionary page declares {n} values in {uncompressed} bytes"));
            }
        }
        pos = pos
            .checked_add(t.pos)
            .and_then(|p| p.checked_add(compressed))
            .filter(|p| *p <= chunk.len())
            .ok_or_else(|| format!("a page at chunk byte {pos} runs past its column chunk"))?;
    }
    Ok(())
}

/// What [`check_pages`] reads of a page header.
#[derive(Debug, Default)]
struct PageHeader {
    uncompressed: i64,
    compressed: i64,
    dictionary_values: Option<i64>,
}

/// A reader of the Thrift compact protocol, just enough to read a page header and skip the rest.
struct Thrift<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Result<u8, &'static str> {
        let b = *self.b.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift).ok_or("a varint too long")?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint too long")
    }

    fn zigzag(&mut self) -> Result<i64, &'static str> {
        let v = self.varint()?;
        Ok((v >> 1).cast_signed() ^ -((v & 1).cast_signed()))
    }

    fn skip_bytes(&mut self, n: u64) -> Result<(), &'static str> {
        let n = usize::try_from(n).map_err(|_| "truncated")?;
        if n > self.b.len() - self.pos {
            return Err("truncated");
        }
        self.pos += n;
        Ok(())
    }

    /// Visits a struct's fields: `field(self, id, type)` reads the ones it knows (returning true) and the
    /// rest are skipped.
    fn fields(
        &mut self,
        depth: u32,
        field: &mut dyn FnMut(&mut Self, i64, u8) -> Result<bool, &'static str>,
    ) -> Result<(), &'static str> {
        if depth > 32 {
            return Err("nested too deep");
        }
        let mut last = 0i64;
        loop {
            let h = self.byte()?;
            if h == 0 {
                return Ok(());
            }
            let ty = h & 0x0f;
            let id = match h >> 4 {
                0 => self.zigzag()?,
                d => last + i64::from(d),
            };
            last = id;
            if !field(self, id, ty)? {
                self.skip(ty, depth)?;
            }
        }
    }

    fn skip(&mut self, ty: u8, depth: u32) -> Result<(), &'static str> {
        match ty {
            1 | 2 => Ok(()),
            3 => self.skip_bytes(1),
            4..=6 => self.varint().map(drop),
            7 => self.skip_bytes(8),
            8 => {
                let n = self.varint()?;
                self.skip_bytes(n)
            }
            9 | 10 => {
                let h = self.byte()?;
                let n = match h >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let elem = h & 0x0f;
                self.elements(n, depth, &[elem])
            }
            11 => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                self.elements(n, depth, &[kv >> 4, kv & 0x0f])
            }
            12 => self.fields(depth + 1, &mut |_, _, _| Ok(false)),
            _ => Err("an unknown field type"),
        }
    }

    /// Skips `n` elements of a list or map (every element takes at least a byte, so `n` is checked
    /// against what is left first).
    fn elements(&mut self, n: u64, depth: u32, types: &[u8]) -> Result<(), &'static str> {
        if n > (self.b.len() - self.pos) as u64 {
            return Err("a list longer than its bytes");
        }
        for _ in 0..n {
            for &ty in types {
                // Booleans in a list or map take a byte each.
                if ty == 1 || ty == 2 {
                    self.skip_bytes(1)?;
                } else {
                    self.skip(ty, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn page_header(&mut self) -> Result<PageHeader, &'static str> {
        let mut h = PageHeader { uncompressed: -1, compressed: -1, ..PageHeader::default() };
        self.fields(0, &mut |t, id, ty| match (id, ty) {
            (2, 5) => t.zigzag().map(|v| h.uncompressed = v).map(|()| true),
            (3, 5) => t.zigzag().map(|v| h.compressed = v).map(|()| true),
            (7, 12) => {
                let mut n = None;
                t.fields(1, &mut |t, id, ty| match (id, ty) {
                    (1, 5) => t.zigzag().map(|v| n = Some(v)).map(|()| true),
                    _ => Ok(false),
                })?;
                h.dictionary_values = Some(n.ok_or("a dictionary page header without a value count")?);
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/parquet");
        std::fs::read(dir.join(name)).unwrap()
    }

    type Cells = Vec<(usize, usize, Cell)>;

    fn cells(bytes: Vec<u8>) -> Result<(Vec<String>, Cells), String> {
        let table = ParquetTable::new(bytes, 1 << 26)?;
        let mut out = Vec::new();
        table.for_each_cell(|r, c, cell| {
            out.push((r, c, cell));
            Ok(())
        })?;
        Ok((table.names().to_vec(), out))
    }

    #[test]
    fn reads_what_pandas_wrote_with_every_codec() {
        let (names, got) = cells(fixture("credit.parquet")).unwrap();
        assert_eq!(names.len(), 14);
        assert_eq!((names[0].as_str(), names[13].as_str()), ("age", "revolving_balance"));
        assert_eq!(got.len(), 40 * 14);
        let at = |r: usize, c: usize| got.iter().find(|(gr, gc, _)| (*gr, *gc) == (r, c)).unwrap().2.clone();
        assert_eq!(at(0, 6), Cell::Missing, "a null");
        assert_eq!(at(1, 6), Cell::Number(1.0));
        assert_eq!(at(1, 0), Cell::Number(19.0), "int32");
        assert_eq!(at(1, 2), Cell::Number(f64::from(0.007f32)), "float");
        assert_eq!(at(1, 11), Cell::Number(1.0), "boolean");
        assert_eq!(at(39, 7), Cell::Number(f64::from(1000 + 39 * 97)), "int64");
        for codec in ["zstd", "gzip", "none"] {
            let (_, same) = cells(fixture(&format!("credit.{codec}.parquet"))).unwrap();
            assert_eq!(same, got, "{codec}");
        }
    }

    #[test]
    fn budget_and_columns_are_checked_from_the_footer() {
        let e = ParquetTable::new(fixture("credit.parquet"), 100).unwrap_err();
        assert!(e.contains("40 rows of 14 columns, 560 values: more than the 100"), "{e}");
        let e = ParquetTable::new(fixture("strings.parquet"), 100).unwrap_err();
        assert!(e.contains("column `name` holds strings"), "{e}");
        let e = ParquetTable::new(fixture("nested.parquet"), 100).unwrap_err();
        assert!(e.contains("column `history` is nested"), "{e}");
        assert_eq!(ParquetTable::new(fixture("empty.parquet"), 100).unwrap().rows(), 0);
    }

    /// Every truncation and many single-byte changes of a real file are errors or tables, never a
    /// panic out of the reader (`catch` turns the crate's into errors; they are counted here).
    #[test]
    fn damaged_files_never_panic_out() {
        let good = fixture("int_null.parquet");
        let mut caught = 0;
        let mut note = |r: Result<(Vec<String>, Cells), String>| {
            if r.is_err_and(|e| e.contains("the Parquet reader failed")) {
                caught += 1;
            }
        };
        for n in 0..good.len() {
            note(cells(good[..n].to_vec()));
        }
        for i in 0..good.len() {
            for x in [0x00, 0xff, 0x80, 0x7f] {
                let mut bad = good.clone();
                bad[i] = x;
                note(cells(bad));
            }
        }
        eprintln!("{caught} panics inside the parquet crate caught");
    }

    #[test]
    fn pandas_index_columns_are_recognised() {
        assert!(is_pandas_index("__index_level_0__"));
        assert!(!is_pandas_index("__index_level___"));
        assert!(!is_pandas_index("index"));
    }

    #[test]
    fn thrift_skips_every_type_and_refuses_overlong_lists() {
        // Field 1 (i32 = 3), field 2 (binary "ab"), field 3 (list of 2 bools), field 5 (struct {1: i32}).
        let bytes = [0x15, 0x06, 0x18, 0x02, b'a', b'b', 0x19, 0x21, 1, 0, 0x2c, 0x15, 0x02, 0x00, 0x00];
        let mut t = Thrift { b: &bytes, pos: 0 };
        t.fields(0, &mut |_, _, _| Ok(false)).unwrap();
        assert_eq!(t.pos, bytes.len());
        // A list declaring 2^32 elements in three bytes.
        let bytes = [0x19, 0xf5, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00];
        assert!(Thrift { b: &bytes, pos: 0 }.fields(0, &mut |_, _, _| Ok(false)).is_err());
        // Structs nested deeper than 32.
        let deep = [0x1c; 40];
        assert!(Thrift { b: &deep, pos: 0 }.fields(0, &mut |_, _, _| Ok(false)).is_err());
    }
}
