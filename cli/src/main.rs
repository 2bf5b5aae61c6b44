//! The `ferry` command-line tool: argument parsing and printing over the library crates.
//!
//! Exit codes: 0 success, 1 a check failed or a bundle was refused, 2 bad usage or unreadable input.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::main() {
        Ok(code) => code,
        Err(failure) => {
            // Errors quote bundles and sources (names, paths, messages): control characters are shown
            // escaped, never sent to the terminal; a message's own line breaks stay.
            let text = format!("{:#}", failure.error);
            eprintln!("error: {}", ferry_spec::display::escape_multiline(&text));
            ExitCode::from(failure.code)
        }
    }
}
