//! Helpers of the end-to-end tests that run the `ferry` binary. Everything else (fixture paths, temporary
//! directories, copying trees, finding and flipping bytes, raw tar members, `reassemble`) is
//! `ferry-testkit`'s, re-exported here so the tests keep importing `crate::common::*`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use ferry_testkit::{
    Member, copy_dir, find, fixture, flip_byte_at, listing, members_of, raw_tar, reassemble, reassemble_with,
    root, tempdir,
};
use std::path::Path;
use std::process::{Command, Output};

/// The `ferry` binary this test run built, as a command to add arguments to.
pub fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

/// Runs `ferry ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    ferry().args(args).output().expect("ferry runs")
}

/// The exit code (-1 if a signal ended the process).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Standard error as text (lossy).
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Standard output as text (lossy).
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Packs `src` into `out` through the CLI, asserting success.
pub fn pack(src: &Path, out: &Path) {
    let o = run(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "pack failed: {}", stderr(&o));
}

/// Whether `python3` imports `module` (a comma-separated list works too). Under
/// `FERRY_REQUIRE_INTEROP=1` (CI, which installs the interop tools) a missing module fails the test
/// instead of skipping it.
pub fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("FERRY_REQUIRE_INTEROP").is_some_and(|v| v == "1") {
        panic!("FERRY_REQUIRE_INTEROP=1 but `python3 -c 'import {module}'` fails");
    }
    ok
}
