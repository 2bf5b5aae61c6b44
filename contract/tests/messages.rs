//! The wording of the contract's errors as a user reads them: counts agree with their nouns ("1 axis",
//! "2 axes"), and an element is named by its 0-based index, as numpy names it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_contract::{Contract, ContractErrorKind};
use ferry_spec::Source;
use ferry_tensor::{Tensor, TensorData, TensorMap};

/// A contract with one float32 input `x` of shape `[batch, 2]` whose first feature is at least 0.
fn contract() -> Contract {
    let src = Source::from_toml_str(
        "[model]\nname = \"m\"\nversion = \"1.0.0\"\nonnx = \"model.onnx\"\n\n\
         [[inputs]]\nname = \"x\"\ndtype = \"float32\"\nshape = [\"batch\", 2]\n\
         [[inputs.features]]\nname = \"a\"\nmin = 0.0\n[[inputs.features]]\nname = \"b\"\n\n\
         [[outputs]]\nname = \"y\"\ndtype = \"float32\"\nshape = [\"batch\", 2]\n",
    )
    .unwrap();
    Contract::new(&src.inputs, &src.outputs)
}

fn refusal(shape: Vec<usize>, data: Vec<f32>) -> String {
    let inputs = TensorMap::from([("x".to_owned(), Tensor { shape, data: TensorData::F32(data) })]);
    contract().check_request(&inputs).unwrap_err().to_string()
}

#[test]
fn a_rank_is_counted_in_axes_and_one_axis() {
    assert_eq!(
        refusal(vec![2], vec![1.0, 2.0]),
        "input `x`: has 1 axis, the contract declares 2 ([batch, 2])"
    );
    assert_eq!(
        refusal(vec![1, 1, 2], vec![1.0, 2.0]),
        "input `x`: has 3 axes, the contract declares 2 ([batch, 2])"
    );
}

#[test]
fn a_data_length_is_counted_in_elements_and_one_element() {
    let e = |shape: Vec<usize>, len| ferry_contract::ContractError {
        input: "x".into(),
        feature: None,
        index: None,
        value: None,
        kind: ContractErrorKind::DataLength { shape, len },
    };
    assert_eq!(e(vec![1, 1], 2).to_string(), "input `x`: shape [1, 1] needs 1 element but the data holds 2");
    assert_eq!(e(vec![1, 2], 1).to_string(), "input `x`: shape [1, 2] needs 2 elements but the data holds 1");
}

#[test]
fn a_bad_value_is_named_by_its_0_based_index() {
    let mut data = vec![1.0; 8];
    data[6] = -1.0; // row 3, feature `a`
    assert_eq!(
        refusal(vec![4, 2], data),
        "input `x`, feature `a` at [3, 0]: value -1.0 is below the minimum 0"
    );
}
