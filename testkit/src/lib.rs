//! Helpers shared by Ferry's integration tests and benchmarks, kept once instead of copied into each
//! test or bench binary:
//!
//! - [`fs`]: the repository root and fixtures, temporary directories, copying and listing trees;
//! - [`pack`](mod@pack): packing a fixture source through the real packager;
//! - [`bench`]: the benchmarks' synthetic source with large weights ([`Synthetic`]);
//! - [`bytes`]: finding and flipping bytes in a bundle;
//! - [`tar`]: raw tar members, for archives the bundle writer would refuse to make;
//! - [`transforms`]: bundle sources with feature transforms ([`credit_application_rust`]);
//! - [`registry`]: a loopback registry serving one bundle, with a hook to misbehave ([`registry::FakeRegistry`]);
//! - [`snapshot`]: the one blessing helper for full-text snapshots of rendered output (`FERRY_BLESS=1`);
//! - [`surgery`]: rebuilding a well-formed bundle around one deliberate defect (`reassemble`,
//!   `reassemble_with`, `rewrite`).
//!
//! Everything is re-exported at the crate root. Helpers for running the `ferry` binary stay with the
//! CLI's end-to-end tests (`tests/common/`). This crate is `publish = false` and only ever a
//! dev-dependency.
// Test code: a helper that cannot do its job should fail the test right there, with the reason, so
// `unwrap`, `expect` and `panic!` (denied by the workspace lints in library code) are allowed here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bench;
pub mod bytes;
pub mod fs;
pub mod pack;
pub mod registry;
pub mod snapshot;
pub mod surgery;
pub mod tar;
pub mod transforms;

pub use bench::Synthetic;
pub use bytes::{find, flip_byte_at};
pub use fs::{copy_dir, copy_source, fixture, listing, root, tempdir};
pub use pack::{pack, pack_to};
pub use surgery::{reassemble, reassemble_with, rewrite};
pub use tar::{Member, members_of, raw_tar};
pub use transforms::credit_application_rust;
