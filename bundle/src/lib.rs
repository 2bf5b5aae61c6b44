//! The `.ferry` container: an OCI image layout inside a deterministic tar.
//!
//! ```text
//! oci-layout
//! blobs/  blobs/sha256/
//! blobs/sha256/<file blobs, in path order>
//! blobs/sha256/<Ferry manifest (config)> <OCI manifest> [<referrers>]
//! index.json
//! ```
//!
//! [`write_bundle`] writes one; [`Bundle`] opens, checks and reads one. Both refuse anything outside the
//! deterministic subset described in `spec/FORMAT.md`.

/// SHA-256 and the digest type; the one home is `ferry-digest`, re-exported here for bundle users.
pub use ferry_digest as digest;
mod error;
mod layout;
pub mod oci;
mod reader;
pub mod tar;
mod writer;

pub use error::BundleError;
pub use layout::{LayoutWriter, blob_order, canonical_index};
pub use reader::{Bundle, FoundReferrer};
pub use writer::{
    COMPRESSED_EXTENSIONS, FileData, FileSource, Opener, Referrer, Written, ZSTD_LEVEL, is_compressed,
    write_bundle, write_bundle_with,
};
