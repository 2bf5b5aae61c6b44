//! The declared tensors of a file as a set: names, dtypes and ranks, without looking at sizes or values.

use ferry_spec::{DType, TensorSpec};
use ferry_tensor::TensorMap;

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
    /// A tensor the contract does not declare.
    #[error("tensor `{tensor}` is not declared in the contract")]
    Unknown { tensor: String },
}

/// Checks that `tensors` are exactly the declared `specs`, each with its declared dtype and rank, and
/// returns the first violation (declared tensors in order, then undeclared ones by name). What `pack`
/// requires of golden files; their sizes and values are [`crate::Contract`]'s to check.
pub fn check_tensor_set(specs: &[TensorSpec], tensors: &TensorMap) -> Result<(), TensorSetError> {
    for s in specs {
        let Some(t) = tensors.get(&s.name) else {
            return Err(TensorSetError::Missing {
                tensor: s.name.clone(),
                found: tensors.keys().cloned().collect(),
            });
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
    if let Some(extra) = tensors.keys().find(|k| !specs.iter().any(|s| &s.name == *k)) {
        return Err(TensorSetError::Unknown { tensor: extra.clone() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::Dim;
    use ferry_tensor::{Tensor, TensorData};

    #[test]
    fn names_dtypes_and_ranks() {
        let spec = TensorSpec {
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
