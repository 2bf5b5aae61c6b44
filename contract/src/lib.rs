//! Ferry's data contract, in pure Rust (no ONNX Runtime): the one place where a contract rule is written.
//!
//! - [`Contract::check_request`]: a request's first violation, for the hot path (nothing allocated on
//!   success); [`Contract::check_declared`] applies the same rules to a tensor file's headers before its
//!   data is read; [`Contract::check_all`]: every violation, for reports.
//! - [`Contract::check_output`] and [`Contract::check_outputs`]: outputs (of a model, or a golden set's
//!   expected outputs) against the declared outputs, with the sizes the inputs give symbolic dims.
//! - [`check_tensor_set`]: a tensor file carries exactly the declared tensors, with their dtypes and ranks
//!   (what `pack` requires of golden files).
//! - [`feature::broken_rules`]: the rules of one feature on one value (tensor elements and sample data).
//! - [`compare`]: the golden comparison rule.
//! - [`sample`]: sample data files (CSV records, cells), for `verify --data` and `init --sample`.
//! - [`files`]: the one rule for reading a tensor file against a contract (a lone `.npy` is the only
//!   declared tensor).
//!
//! The effective-defaults rule of configurations stays with the schema type it belongs to:
//! [`ConfigSchema::effective_defaults`](ferry_spec::config::ConfigSchema::effective_defaults), which
//! `pack`, `verify` and the runtime all call.
//!
//! ```
//! use ferry_contract::{Contract, ContractErrorKind};
//! use ferry_spec::{DType, Dim, TensorSpec};
//! use ferry_tensor::{Tensor, TensorData, TensorMap};
//!
//! let x = TensorSpec { value_type: Default::default(), name: "x".into(), dtype: DType::Float32, shape: vec![Dim::Fixed(2)], features: vec![], values: None };
//! let contract = Contract::new(&[x], &[]);
//! let request = TensorMap::from([("x".to_owned(), Tensor { shape: vec![3], data: TensorData::F32(vec![0.0; 3]) })]);
//! let e = contract.check_request(&request).unwrap_err();
//! assert_eq!(e.kind, ContractErrorKind::Dim { axis: 0, expected: 2, found: 3 });
//! assert_eq!(e.to_string(), "input `x`: axis 0 has size 3, the contract fixes it at 2");
//! assert_eq!(contract.check_all(&request), vec![*e]);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod compare;
mod error;
pub mod feature;
pub mod files;
pub mod model_io;
pub mod records;
mod request;
pub mod sample;
mod tensor_set;

pub use compare::{Comparison, Mismatch, compare, compare_values};
pub use error::{ContractError, ContractErrorKind, OutputError, OutputErrorKind};
pub use feature::{FeatureRule, broken_rules};
pub use model_io::{IoDifference, dim_fits_model};
pub use request::{Contract, DEFAULT_MAX_ELEMENTS, Item, Values};
pub use tensor_set::{TensorSetError, check_tensor_set};
