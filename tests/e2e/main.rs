//! End-to-end tests of the `ferry` command line: one test binary for the whole CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod devices;
mod drift;
mod golden;
mod hostile_bundles;
mod hostile_inputs;
mod install;
mod pack;
mod registry;
mod run;
mod serve;
mod sign;
mod transforms;
mod unpack;
mod values;
mod verify;
