//! `ferry_contract::sample::parquet`: a Parquet sample for `ferry init --sample` (magic, footer, schema,
//! the page-header walk, snappy/zstd/gzip pages, definition levels). For a file that opens, every cell is
//! read: each lies inside the declared rows and columns, and a clean read visits each exactly once.
//! (libFuzzer's panic hook aborts, so a panic inside the `parquet` crate, which `ferry init` catches, is
//! a crash here: the reader's pre-checks should keep it from such paths.)
#![no_main]

use ferry_contract::sample::parquet::ParquetTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = ParquetTable::new(data.to_vec(), 1 << 20) else {
        return;
    };
    let (rows, columns) = (table.rows(), table.names().len());
    let mut seen = 0usize;
    let read = table.for_each_cell(|r, c, _| {
        assert!(r < rows && c < columns, "cell ({r}, {c}) outside {rows} x {columns}");
        seen += 1;
        Ok(())
    });
    if read.is_ok() {
        assert_eq!(seen, rows * columns, "a clean read visits every cell once");
    }
});
