//! The `ferry` command-line tool: argument parsing and printing over the library crates.
//!
//! Exit codes: 0 success, 1 a check failed or a bundle was refused, 2 bad usage or unreadable input.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::main() {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
