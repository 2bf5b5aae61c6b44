//! The one rule for reading a tensor file against a contract: the format comes from the extension; an
//! `.npz`, `.safetensors` or `.json` names its tensors itself, while an `.npy` holds one unnamed tensor,
//! named after the file's stem, except that when exactly one tensor is declared it stands for that one.
//! Bare JSON arrays take the declared dtypes.

use ferry_spec::{DType, TensorSpec};
use ferry_tensor::{Declared, Format, Refusal, TensorError, TensorMap};
use std::collections::BTreeMap;
use std::path::Path;

/// The declared tensor that the lone tensor of a `format` file stands for: the only one of `specs` when
/// the file is an `.npy` and exactly one tensor is declared; `None` otherwise (the file's names count).
pub fn lone_tensor_name(specs: &[TensorSpec], format: Format) -> Option<&str> {
    match (specs, format) {
        ([spec], Format::Npy) => Some(spec.name.as_str()),
        _ => None,
    }
}

/// The dtype hints for bare JSON arrays: each declared tensor's dtype, by name.
pub fn dtype_hints(specs: &[TensorSpec]) -> BTreeMap<String, DType> {
    specs.iter().map(|s| (s.name.clone(), s.dtype)).collect()
}

/// Renames the lone tensor of an `.npy` to the declared tensor it stands for ([`lone_tensor_name`]).
fn name_lone_tensor(tensors: &mut TensorMap, specs: &[TensorSpec], format: Format) {
    if let Some(name) = lone_tensor_name(specs, format)
        && tensors.len() == 1
        && let Some((_, t)) = tensors.pop_first()
    {
        tensors.insert(name.to_owned(), t);
    }
}

/// Reads the tensors in `bytes` (of a file at `path`, read as `format`) for the declared `specs`, by the
/// rule above. Errors are [`ferry_tensor::read_bytes`]'s (not yet naming the file).
pub fn read_tensor_bytes(
    bytes: &[u8],
    format: Format,
    path: &Path,
    specs: &[TensorSpec],
) -> Result<TensorMap, TensorError> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tensors = ferry_tensor::read_bytes(bytes, format, &stem, &dtype_hints(specs))?;
    name_lone_tensor(&mut tensors, specs, format);
    Ok(tensors)
}

/// Reads a tensor file (through [`ferry_spec::file`]: a FIFO or a device is refused, not read) for the
/// declared `specs`, by the rule above. `check` sees each tensor's header before its data is decoded or
/// inflated, with the declared name the rule gives the tensor (first argument); [`Declared::name`] is
/// the name the file gives it (an `.npy`'s stem).
pub fn read_tensor_file(
    path: &Path,
    specs: &[TensorSpec],
    check: &mut dyn FnMut(&str, &Declared<'_>) -> Result<(), Refusal>,
) -> Result<TensorMap, TensorError> {
    let format = Format::from_path(path);
    let lone = format.and_then(|f| lone_tensor_name(specs, f));
    let mut check = |d: &Declared<'_>| check(lone.unwrap_or(d.name), d);
    let mut tensors = ferry_tensor::read_file_checked(path, &dtype_hints(specs), &mut check)?;
    if let Some(format) = format {
        name_lone_tensor(&mut tensors, specs, format);
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::Dim;
    use ferry_tensor::{Tensor, TensorData};

    fn spec(name: &str) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: DType::Float32,
            shape: vec![Dim::Fixed(1)],
            features: vec![],
            values: None,
        }
    }

    #[test]
    fn a_lone_npy_names_the_only_declared_tensor() {
        let t = Tensor { shape: vec![1], data: TensorData::F32(vec![1.0]) };
        let bytes = ferry_tensor::write_bytes(&TensorMap::from([("x".to_owned(), t)]), Format::Npy).unwrap();
        let one = read_tensor_bytes(&bytes, Format::Npy, Path::new("dir/golden.in.npy"), &[spec("features")])
            .unwrap();
        assert_eq!(one.keys().collect::<Vec<_>>(), ["features"]);
        let two =
            read_tensor_bytes(&bytes, Format::Npy, Path::new("dir/golden.npy"), &[spec("a"), spec("b")])
                .unwrap();
        assert_eq!(two.keys().collect::<Vec<_>>(), ["golden"]);
        assert_eq!(lone_tensor_name(&[spec("a")], Format::Npz), None);
        assert_eq!(lone_tensor_name(&[spec("a")], Format::Npy), Some("a"));
    }
}
