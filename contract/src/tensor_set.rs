//! The declared tensors of a file as a set: names, dtypes and ranks, without looking at sizes or values.

use crate::{Item, Values};
use ferry_spec::{DType, TensorSpec, ValueType};

/// Why a tensor file does not carry exactly the declared tensors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorSetError {
    /// A declared tensor is absent.
    #[error("has no tensor `{tensor}`; it has {found:?}")]
    Missing { tensor: String, found: Vec<String> },
    /// A tensor has another dtype than declared.
    #[error("tensor `{tensor}` is {found} but the contract says {expected}")]
    DType { tensor: String, expected: DType, found: DType },
    /// A tensor has another number of axes than declared.
    #[error("tensor `{tensor}` has rank {found} but the contract says {declared}")]
    Rank { tensor: String, found: usize, declared: String },
    /// A value is another kind than declared (a sequence where a tensor is declared, maps of other
    /// keys…).
    #[error("`{tensor}` {reason}")]
    Kind { tensor: String, reason: String },
    /// A tensor the contract does not declare.
    #[error("tensor `{tensor}` is not declared in the contract")]
    Unknown { tensor: String },
}

/// Checks that `tensors` are exactly the declared `specs`, each with its declared dtype and rank, and
/// returns the first violation (declared tensors in order, then undeclared ones by name). What `pack`
/// requires of golden files; their sizes and values are [`crate::Contract`]'s to check.
pub fn check_tensor_set<V: Values>(specs: &[TensorSpec], tensors: &V) -> Result<(), TensorSetError> {
    for s in specs {
        let Some(item) = tensors.item(&s.name) else {
            return Err(TensorSetError::Missing {
                tensor: s.name.clone(),
                found: tensors.names().map(str::to_owned).collect(),
            });
        };
        let optional_tensor = matches!(&s.value_type, ValueType::Optional(t) if t.is_tensor());
        let t = match item {
            Item::Tensor(t) if s.value_type.is_tensor() || optional_tensor => t,
            Item::Tensor(_) => {
                let reason = format!("is a tensor, expected {}", s.value_type);
                return Err(TensorSetError::Kind { tensor: s.name.clone(), reason });
            }
            Item::Other(v) => match v.mismatch(&s.value_type, s.dtype) {
                None => continue,
                Some(reason) => return Err(TensorSetError::Kind { tensor: s.name.clone(), reason }),
            },
        };
        if t.dtype() != s.dtype {
            return Err(TensorSetError::DType {
                tensor: s.name.clone(),
                expected: s.dtype,
                found: t.dtype(),
            });
        }
        if t.shape.len() != s.shape.len() {
            return Err(TensorSetError::Rank {
                tensor: s.name.clone(),
                found: t.shape.len(),
                declared: s.shape_string(),
            });
        }
    }
    if let Some(extra) = tensors.names().find(|k| !specs.iter().any(|s| s.name == *k)) {
        return Err(TensorSetError::Unknown { tensor: extra.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::Dim;
    use ferry_tensor::{Tensor, TensorData, TensorMap};

    #[test]
    fn names_dtypes_and_ranks() {
        let spec = TensorSpec {
            value_type: Default::default(),
            name: "x".into(),
            dtype: DType::Float32,
            shape: vec![Dim::Symbolic("n".into()), Dim::Fixed(2)],
            features: vec![],
            values: None,
        };
        let t = |shape: Vec<usize>| Tensor { shape, data: TensorData::F32(vec![0.0; 4]) };
        let one = |name: &str, t: Tensor| TensorMap::from([(name.to_owned(), t)]);
        // Sizes are not this check's business.
        check_tensor_set(std::slice::from_ref(&spec), &one("x", t(vec![1, 4]))).unwrap();
        let e = check_tensor_set(std::slice::from_ref(&spec), &one("y", t(vec![2, 2]))).unwrap_err();
        assert_eq!(e.to_string(), r#"has no tensor `x`; it has ["y"]"#);
        let e = check_tensor_set(std::slice::from_ref(&spec), &one("x", t(vec![4]))).unwrap_err();
        assert_eq!(e.to_string(), "tensor `x` has rank 1 but the contract says [n, 2]");
        let i = Tensor { shape: vec![2, 2], data: TensorData::I64(vec![0; 4]) };
        let e = check_tensor_set(std::slice::from_ref(&spec), &one("x", i)).unwrap_err();
        assert_eq!(e.to_string(), "tensor `x` is int64 but the contract says float32");
        let mut two = one("x", t(vec![2, 2]));
        two.insert("z".into(), t(vec![2, 2]));
        let e = check_tensor_set(&[spec], &two).unwrap_err();
        assert_eq!(e.to_string(), "tensor `z` is not declared in the contract");
    }
}
