//! Reference profiles and drift: what a model's training data looked like, carried inside its signed
//! bundle, and the statistics that compare new data with it.
//!
//! - [`profile`]: the reference profile `pack` writes (`reference/profile.json`): per feature and per
//!   model output, counts, nulls, min/max/mean/std, quantile bins, a t-digest, top categories; canonical
//!   JSON, the same bytes for the same sample; [`Profile::from_json`] refuses an inconsistent one.
//! - [`compare`]: PSI, Jensen–Shannon, KS and chi-squared per column, with Holm's correction, and the
//!   decision under a policy's `[drift]` table ([`DriftPolicy`]); `ferry verify --data` and `ferry drift` use it.
//! - [`live`]: the bounded, lock-free streaming profile a running model keeps, which `ferry serve`
//!   exports over a sliding window.
//! - [`table`]: a data sample's feature columns, the batch the contract accepts, the model's output
//!   columns; [`build_profile`] for `pack`, [`observe`] for `verify --data` and `ferry drift`.
//! - [`stats`]: the statistics themselves, checked against SciPy and Evidently.
//!
//! ```
//! use ferry_drift::{ColumnSpec, DriftPolicy, Kind, Observed, compare, profile_column};
//!
//! let spec = ColumnSpec::new("features", "income", 0, Kind::Numeric);
//! let reference: Vec<Option<f64>> = (0..1000).map(|i| Some(f64::from(i))).collect();
//! let column = profile_column(&spec, &reference).unwrap();
//! let shifted: Vec<Option<f64>> = (0..1000).map(|i| Some(f64::from(i) + 400.0)).collect();
//! let observed = Observed::of(&column, &shifted);
//! let drift = compare(&[column], &[observed], &DriftPolicy::default()).unwrap();
//! assert_eq!(drift[0].decision, ferry_drift::Decision::Drift);
//! assert!(drift[0].psi > 0.25);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod compare;
pub mod live;
pub mod profile;
pub mod stats;
pub mod table;

pub use compare::{ColumnDrift, Decision, Moved, Observed, Test, compare, compare_profile};
pub use ferry_spec::policy::{DriftCorrection, DriftPolicy};
pub use live::{Live, Snapshot};
pub use profile::{
    Bins, Categories, Column, ColumnSpec, Kind, Method, PROFILE_VERSION, Profile, SampleInfo, profile_column,
};
pub use table::{FeatureTable, Score, build_profile, observe, output_columns};

/// What can go wrong building, reading or comparing a profile.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// The profile (or a column's specification) is not self-consistent.
    #[error("{}{message}", if column.is_empty() { String::new() } else { format!("column `{column}`: ") })]
    Invalid {
        /// The column, or empty for the profile as a whole.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A value of the sample cannot be profiled.
    #[error("column `{column}`, record {record}: {message}")]
    Data {
        /// The column.
        column: String,
        /// The record's 0-based index.
        record: u64,
        /// What is wrong.
        message: String,
    },
    /// The profile is not the JSON it should be.
    #[error("reference profile: {0}")]
    Json(#[source] serde_json::Error),
}

/// The `sha256:…` digest of a sample file's bytes, as [`SampleInfo::digest`] records it.
pub fn sample_digest(bytes: &[u8]) -> String {
    ferry_digest::Sha256Digest::of(bytes).to_string()
}
