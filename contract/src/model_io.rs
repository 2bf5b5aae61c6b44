//! The contract against the model: do the tensors a contract declares match the inputs and outputs
//! the ONNX graph itself declares? `pack` refuses a source on the first difference; `verify` reports
//! every one (`contract.model_io`). Both ask [`differences`], so they cannot disagree on the rule; each
//! words the result for its reader.

use ferry_onnx::{OnnxDim, ValueInfo, ValueKind};
use ferry_spec::{DType, Dim, TensorSpec, ValueType};

/// One way a declared tensor list differs from the model's. `index` is the position in the declared
/// list (`inputs[index]`), so a caller can name the key in `ferry.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoDifference {
    /// The contract declares a tensor the model does not have.
    Missing {
        /// Its position in the declared list.
        index: usize,
        /// Its declared name.
        name: String,
    },
    /// The model's value of that name is another kind of value than declared (a sequence where a
    /// tensor is declared, a map of other keys, a sparse tensor Ferry cannot hold…).
    Kind {
        /// Its position in the declared list.
        index: usize,
        /// Its name.
        name: String,
        /// The declared kind.
        declared: ValueType,
        /// What the model declares instead: a [`ValueType`] written out, or the ONNX kind Ferry cannot
        /// hold (`sparse tensor`, `opaque`, a map with keys of an unsupported type).
        model: String,
    },
    /// The element types differ; `model` is `Err(code)` for an ONNX element type Ferry does not
    /// support.
    DType {
        /// Its position in the declared list.
        index: usize,
        /// Its name.
        name: String,
        /// The declared element type.
        declared: DType,
        /// The model's, or its raw ONNX code.
        model: Result<DType, i32>,
    },
    /// The ranks differ (no dim is compared then).
    Rank {
        /// Its position in the declared list.
        index: usize,
        /// Its name.
        name: String,
        /// The declared shape.
        declared: Vec<Dim>,
        /// The model's shape.
        model: Vec<OnnxDim>,
    },
    /// A dim contradicts the model's ([`dim_fits_model`]).
    Dim {
        /// Its position in the declared list.
        index: usize,
        /// Its name.
        name: String,
        /// The axis.
        axis: usize,
        /// The declared dim.
        declared: Dim,
        /// The model's dim.
        model: OnnxDim,
    },
    /// The model has a tensor the contract does not declare.
    Undeclared {
        /// The model's name for it.
        name: String,
    },
}

/// Every difference between declared tensors and the model's values of one side (inputs or outputs),
/// in the order `pack` reports them: declared tensors in order (name, kind, dtype, rank, then each dim),
/// then the model's undeclared ones. A value that is missing, not a tensor, or of another rank is not
/// compared further; a dtype difference does not hide a shape one. An unknown model rank matches any.
///
/// ```
/// use ferry_contract::model_io::{IoDifference, differences};
/// use ferry_onnx::{OnnxDim, ValueInfo, ValueKind};
/// use ferry_spec::{DType, Dim, TensorSpec};
///
/// let shape = vec![Dim::Symbolic("batch".into()), Dim::Fixed(4)];
/// let declared = TensorSpec { value_type: Default::default(), name: "x".into(), dtype: DType::Float32, shape, features: vec![], values: None };
/// let model = ValueInfo {
///     name: "x".into(),
///     kind: ValueKind::Tensor,
///     elem_type: Some(DType::Float32),
///     raw_elem_type: 1,
///     shape: Some(vec![OnnxDim::Param("N".into()), OnnxDim::Value(3)]),
///     value_type: Some(ferry_spec::ValueType::Tensor),
/// };
/// let found = differences(&[declared], &[model]);
/// assert!(matches!(&found[..], [IoDifference::Dim { axis: 1, declared: Dim::Fixed(4), .. }]));
/// ```
pub fn differences(declared: &[TensorSpec], model: &[ValueInfo]) -> Vec<IoDifference> {
    let mut out = Vec::new();
    for (index, d) in declared.iter().enumerate() {
        let name = || d.name.clone();
        let Some(a) = model.iter().find(|a| a.name == d.name) else {
            out.push(IoDifference::Missing { index, name: name() });
            continue;
        };
        if a.kind != ValueKind::Tensor || !d.value_type.is_tensor() {
            let model = match &a.value_type {
                Some(t) if *t == d.value_type => None,
                Some(t) => Some(t.to_string()),
                None => Some(format!("a {} Ferry cannot hold", a.kind.name())),
            };
            if let Some(model) = model {
                out.push(IoDifference::Kind { index, name: name(), declared: d.value_type.clone(), model });
                continue;
            }
        }
        match a.elem_type {
            Some(t) if t == d.dtype => {}
            other => out.push(IoDifference::DType {
                index,
                name: name(),
                declared: d.dtype,
                model: other.ok_or(a.raw_elem_type),
            }),
        }
        let Some(shape) = &a.shape else { continue };
        if shape.len() != d.shape.len() {
            out.push(IoDifference::Rank {
                index,
                name: name(),
                declared: d.shape.clone(),
                model: shape.clone(),
            });
            continue;
        }
        for (axis, (dd, md)) in d.shape.iter().zip(shape).enumerate() {
            let fixed = match md {
                OnnxDim::Value(m) => Some(*m),
                OnnxDim::Param(_) | OnnxDim::Unknown => None,
            };
            if !dim_fits_model(dd, fixed) {
                out.push(IoDifference::Dim {
                    index,
                    name: name(),
                    axis,
                    declared: dd.clone(),
                    model: md.clone(),
                });
            }
        }
    }
    for a in model {
        if !declared.iter().any(|d| d.name == a.name) {
            out.push(IoDifference::Undeclared { name: a.name.clone() });
        }
    }
    out
}

/// Whether a declared dim agrees with the model's own for that axis, `model` being the model's fixed
/// size (`None` when the model names it or leaves it unknown; a negative size, which some exporters
/// write for "unknown", counts as unknown). A fixed dim must equal a fixed model dim; a symbolic dim
/// cannot face a fixed one (the model would refuse every other size).
///
/// ```
/// use ferry_spec::Dim;
/// assert!(ferry_contract::dim_fits_model(&Dim::Fixed(14), Some(14)));
/// assert!(!ferry_contract::dim_fits_model(&Dim::Fixed(14), Some(15)));
/// assert!(!ferry_contract::dim_fits_model(&Dim::Symbolic("batch".into()), Some(1)));
/// assert!(ferry_contract::dim_fits_model(&Dim::Symbolic("batch".into()), Some(-1)));
/// assert!(ferry_contract::dim_fits_model(&Dim::Fixed(3), None));
/// ```
pub fn dim_fits_model(declared: &Dim, model: Option<i64>) -> bool {
    match (declared, model) {
        (_, None) => true,
        (_, Some(m)) if m < 0 => true,
        (Dim::Fixed(n), Some(m)) => i64::try_from(*n).is_ok_and(|n| n == m),
        (Dim::Symbolic(_), Some(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dtype: DType, shape: &[Dim]) -> TensorSpec {
        TensorSpec {
            value_type: Default::default(),
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            features: vec![],
            values: None,
        }
    }

    fn value(name: &str, kind: ValueKind, elem: Option<DType>, shape: Option<Vec<OnnxDim>>) -> ValueInfo {
        let value_type = (kind == ValueKind::Tensor && elem.is_some()).then_some(ValueType::Tensor);
        ValueInfo { name: name.into(), kind, elem_type: elem, raw_elem_type: 99, shape, value_type }
    }

    #[test]
    fn every_difference_in_pack_order_and_nothing_hidden_behind_a_dtype() {
        use Dim::{Fixed, Symbolic};
        use OnnxDim::{Param, Unknown, Value};
        let f32 = Some(DType::Float32);
        let declared = [
            spec("gone", DType::Float32, &[]),
            spec("seq", DType::Float32, &[]),
            spec("x", DType::Int64, &[Symbolic("b".into()), Fixed(4), Fixed(2)]),
            spec("r", DType::Float32, &[Fixed(1)]),
            spec("u", DType::Float32, &[Fixed(1)]),
            spec("ok", DType::Float32, &[Symbolic("b".into()), Fixed(3)]),
        ];
        let model = [
            value("seq", ValueKind::Sequence, None, None),
            value("x", ValueKind::Tensor, f32, Some(vec![Value(1), Value(3), Value(-1)])),
            value("r", ValueKind::Tensor, f32, Some(vec![Value(1), Value(1)])),
            value("u", ValueKind::Tensor, None, None),
            value("ok", ValueKind::Tensor, f32, Some(vec![Param("n".into()), Unknown])),
            value("extra", ValueKind::Tensor, f32, None),
        ];
        let found = differences(&declared, &model);
        let expected = vec![
            IoDifference::Missing { index: 0, name: "gone".into() },
            IoDifference::Kind {
                index: 1,
                name: "seq".into(),
                declared: ValueType::Tensor,
                model: "a sequence Ferry cannot hold".into(),
            },
            IoDifference::DType {
                index: 2,
                name: "x".into(),
                declared: DType::Int64,
                model: Ok(DType::Float32),
            },
            IoDifference::Dim {
                index: 2,
                name: "x".into(),
                axis: 0,
                declared: Symbolic("b".into()),
                model: Value(1),
            },
            IoDifference::Dim { index: 2, name: "x".into(), axis: 1, declared: Fixed(4), model: Value(3) },
            IoDifference::Rank {
                index: 3,
                name: "r".into(),
                declared: vec![Fixed(1)],
                model: vec![Value(1), Value(1)],
            },
            IoDifference::DType { index: 4, name: "u".into(), declared: DType::Float32, model: Err(99) },
            IoDifference::Undeclared { name: "extra".into() },
        ];
        assert_eq!(found, expected);
        assert!(differences(&declared[5..], &model[4..5]).is_empty());
    }
}
