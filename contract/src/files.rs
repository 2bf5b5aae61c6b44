//! The one rule for reading a tensor file against a contract: the format comes from the extension; an
//! `.npz`, `.safetensors` or `.json` names its tensors itself, while an `.npy` holds one unnamed tensor,
//! named after the file's stem, except that when exactly one tensor is declared it stands for that one (a
//! lone `.npy` for several declared tensors is refused, saying how to write them as one `.npz`). Bare JSON
//! arrays take the declared dtypes.
//!
//! A golden set's two sides may share one JSON *golden file*, `{"inputs": {...}, "outputs": {...}}`
//! (`[[golden]] file = ...`): each side is read from its own object ([`read_golden_bytes`]). Such a file
//! named as one side (`inputs = ...` or `expected = ...`) is refused, saying to name it with `file`; a
//! request file ([`read_tensor_file`]) may be one, of which it is the inputs.

use ferry_spec::{DType, GoldenFile, GoldenSide, TensorSpec};
use ferry_tensor::{
    Declared, Format, Part, Refusal, TensorError, TensorMap, Typed, ValueMap, values_from_tensors,
};
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

/// A lone `.npy` cannot carry several declared tensors: refused before it is read, saying how to write
/// them as one `.npz` ([`TensorError::NpyForSeveral`]).
fn check_npy_count(specs: &[TensorSpec], format: Format, path: &Path) -> Result<(), TensorError> {
    if format == Format::Npy && specs.len() > 1 {
        return Err(TensorError::NpyForSeveral {
            declared: specs.iter().map(|s| s.name.clone()).collect(),
            file: path.display().to_string(),
        });
    }
    Ok(())
}

/// Reads the tensors in `bytes` (of a file at `path`, read as `format`) for the declared `specs`, by the
/// rule above: the whole file is the declared tensors, so a golden file of both sides is refused
/// ([`TensorError::BothSides`], saying to name it with `file`). Errors are [`ferry_tensor::read_bytes`]'s
/// (not yet naming the file).
pub fn read_tensor_bytes(
    bytes: &[u8],
    format: Format,
    path: &Path,
    specs: &[TensorSpec],
) -> Result<TensorMap, TensorError> {
    check_npy_count(specs, format, path)?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tensors =
        ferry_tensor::read_bytes(bytes, format, &stem, &dtype_hints(specs)).map_err(|e| match e {
            TensorError::BothSides { .. } => TensorError::BothSides {
                hint: format!(
                    ": name it once, as `file = \"{}\"` in its [[golden]] table, in place of `inputs` and \
                 `expected`",
                    path.display()
                ),
            },
            other => other,
        })?;
    name_lone_tensor(&mut tensors, specs, format);
    Ok(tensors)
}

/// Reads one side of a golden set from the bytes of its file ([`ferry_spec::GoldenSet::side`]) for that
/// side's declared `specs`: its object of a golden file (`file`), or the whole `inputs` or `expected` file
/// ([`read_tensor_bytes`]). Errors are not yet named by the file; an unknown extension is
/// [`TensorError::UnknownFormat`].
pub fn read_golden_bytes(
    bytes: &[u8],
    file: GoldenFile<'_>,
    specs: &[TensorSpec],
) -> Result<TensorMap, TensorError> {
    let path = Path::new(file.path);
    let format =
        Format::from_path(path).ok_or_else(|| TensorError::UnknownFormat { path: path.to_owned() })?;
    if !file.combined {
        return read_tensor_bytes(bytes, format, path, specs);
    }
    let part = Part::Side(file.side);
    ferry_tensor::read_part_checked(bytes, format, "", &dtype_hints(specs), part, &mut |_| Ok(()))
}

/// Reads a request file (through [`ferry_spec::file`]: a FIFO or a device is refused, not read) for the
/// declared `specs`, by the rule above; a golden file of both sides gives its inputs. `check` sees each
/// tensor's header before its data is decoded or inflated, with the declared name the rule gives the
/// tensor (first argument); [`Declared::name`] is the name the file gives it (an `.npy`'s stem).
pub fn read_tensor_file(
    path: &Path,
    specs: &[TensorSpec],
    check: &mut dyn FnMut(&str, &Declared<'_>) -> Result<(), Refusal>,
) -> Result<TensorMap, TensorError> {
    let format = Format::from_path(path);
    if let Some(format) = format {
        check_npy_count(specs, format, path).map_err(|e| e.in_file(path))?;
    }
    let lone = format.and_then(|f| lone_tensor_name(specs, f));
    let mut check = |d: &Declared<'_>| check(lone.unwrap_or(d.name), d);
    let part = Part::SideOrWhole(GoldenSide::Inputs);
    let mut tensors = ferry_tensor::read_file_part(path, &dtype_hints(specs), part, &mut check)?;
    if let Some(format) = format {
        name_lone_tensor(&mut tensors, specs, format);
    }
    Ok(tensors)
}

/// The declared types, by name, for reading values ([`ferry_tensor::read_json_values`]).
pub fn value_types(specs: &[TensorSpec]) -> BTreeMap<String, Typed> {
    specs.iter().map(|s| (s.name.clone(), Typed { ty: s.value_type.clone(), dtype: s.dtype })).collect()
}

/// Whether any of `specs` is a sequence, map or optional rather than a plain tensor.
pub fn has_containers(specs: &[TensorSpec]) -> bool {
    specs.iter().any(|s| !s.value_type.is_tensor())
}

/// [`read_golden_bytes`] for a contract of any values: a `.json` file may hold sequences, maps and
/// optionals (typed by `specs`, at most `max_elements` elements inside containers); the other formats
/// hold tensors only, and a declared container found in one is refused naming `.json`. For a contract of
/// plain tensors this is [`read_golden_bytes`] exactly.
pub fn read_golden_values(
    bytes: &[u8],
    file: GoldenFile<'_>,
    specs: &[TensorSpec],
    max_elements: usize,
) -> Result<ValueMap, TensorError> {
    let path = Path::new(file.path);
    let format = Format::from_path(path);
    if !has_containers(specs) || format != Some(Format::Json) {
        let tensors = read_golden_bytes(bytes, file, specs)?;
        refuse_containers(specs, &tensors, format)?;
        return Ok(values_from_tensors(tensors));
    }
    let part = if file.combined { Part::Side(file.side) } else { Part::Whole };
    ferry_tensor::read_json_values(bytes, &value_types(specs), part, &mut |_| Ok(()), max_elements)
}

/// [`read_tensor_file`] for a contract of any values, as [`read_golden_values`] reads them: `check` sees
/// each plain tensor's header; elements inside containers count against `max_elements`.
pub fn read_value_file(
    path: &Path,
    specs: &[TensorSpec],
    check: &mut dyn FnMut(&str, &Declared<'_>) -> Result<(), Refusal>,
    max_elements: usize,
) -> Result<ValueMap, TensorError> {
    let format = Format::from_path(path);
    if !has_containers(specs) || format != Some(Format::Json) {
        let tensors = read_tensor_file(path, specs, check)?;
        refuse_containers(specs, &tensors, format).map_err(|e| e.in_file(path))?;
        return Ok(values_from_tensors(tensors));
    }
    let mut check = |d: &Declared<'_>| check(d.name, d);
    let part = Part::SideOrWhole(GoldenSide::Inputs);
    ferry_tensor::read_values_part(path, &value_types(specs), part, &mut check, max_elements)
}

/// A tensor file cannot hold a declared sequence, map or optional (a present optional tensor excepted).
fn refuse_containers(
    specs: &[TensorSpec],
    tensors: &TensorMap,
    format: Option<Format>,
) -> Result<(), TensorError> {
    let container = specs.iter().find(|s| {
        let optional_tensor = matches!(&s.value_type, ferry_spec::ValueType::Optional(t) if t.is_tensor());
        !s.value_type.is_tensor() && !optional_tensor && tensors.contains_key(&s.name)
    });
    match (container, format) {
        (Some(s), Some(format)) => {
            Err(TensorError::NotATensor { name: s.name.clone(), ty: s.value_type.to_string(), format })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::Dim;
    use ferry_tensor::{Tensor, TensorData};

    fn spec(name: &str) -> TensorSpec {
        TensorSpec {
            value_type: Default::default(),
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
        assert_eq!(lone_tensor_name(&[spec("a")], Format::Npz), None);
        assert_eq!(lone_tensor_name(&[spec("a")], Format::Npy), Some("a"));
    }

    fn golden_file(path: &str, side: GoldenSide, combined: bool) -> GoldenFile<'_> {
        let key = match (combined, side) {
            (true, _) => "file",
            (false, GoldenSide::Inputs) => "inputs",
            (false, GoldenSide::Outputs) => "expected",
        };
        GoldenFile { path, key, side, combined }
    }

    const GOLDEN: &str = r#"{"inputs": {"ids": [[1, 2]], "x": [0.5]}, "outputs": {"y": [[0.25]]}}"#;

    fn int_spec(name: &str) -> TensorSpec {
        TensorSpec { dtype: DType::Int64, ..spec(name) }
    }

    #[test]
    fn a_lone_npy_for_several_declared_tensors_says_how_to_write_one_npz() {
        let t = Tensor { shape: vec![1], data: TensorData::F32(vec![1.0]) };
        let bytes = ferry_tensor::write_bytes(&TensorMap::from([("x".to_owned(), t)]), Format::Npy).unwrap();
        let path = Path::new("golden/smoke.inputs.npy");
        let e = read_tensor_bytes(&bytes, Format::Npy, path, &[spec("age"), spec("income")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "an .npy file holds one tensor, but 2 are declared (age, income): put them in one .npz, \
             .safetensors or .json file, e.g. `numpy.savez(\"golden/smoke.inputs.npz\", age=..., income=...)` \
             in Python, or `ferry golden -o golden/smoke.inputs.npz FILE1.npy=age FILE2.npy=income`"
        );
        // Names that are not Python identifiers are spelled as a dictionary; long lists are cut.
        let names = ["input.1", "b", "c", "d"].map(spec);
        let e = read_tensor_bytes(&bytes, Format::Npy, Path::new("r.npy"), &names).unwrap_err().to_string();
        assert!(e.contains(r#"numpy.savez("r.npz", **{"input.1": ..., "b": ..., "c": ..., ...})"#), "{e}");
        assert!(e.contains("FILE3.npy=c ...`"), "{e}");
        // Through a golden set's file and through a request file alike.
        let g = golden_file("golden/a.npy", GoldenSide::Outputs, false);
        let e = read_golden_bytes(&bytes, g, &[spec("p"), spec("q")]).unwrap_err();
        assert!(matches!(e, TensorError::NpyForSeveral { .. }), "{e}");
        let dir = std::env::temp_dir().join(format!("ferry-contract-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("request.npy");
        std::fs::write(&file, &bytes).unwrap();
        let e = read_tensor_file(&file, &[spec("a"), spec("b")], &mut |_, _| Ok(())).unwrap_err();
        assert_eq!(e.path(), Some(file.as_path()));
        assert!(e.to_string().contains("`ferry golden -o "), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_golden_file_named_as_one_side_says_to_name_it_with_file() {
        for side in GoldenSide::BOTH {
            let g = golden_file("golden/smoke.json", side, false);
            let e = read_golden_bytes(GOLDEN.as_bytes(), g, &[spec("x")]).unwrap_err();
            assert_eq!(
                e.to_string(),
                "is laid out as a golden file of both sides ({\"inputs\": {...}, \"outputs\": {...}}), not as \
                 one set of tensors: name it once, as `file = \"golden/smoke.json\"` in its [[golden]] table, in \
                 place of `inputs` and `expected`"
            );
        }
        // A `file` that is not a golden file, or not JSON, says so.
        let plain = br#"{"x": [1]}"#;
        let e = read_golden_bytes(plain, golden_file("g.json", GoldenSide::Inputs, true), &[spec("x")]);
        assert!(matches!(e, Err(TensorError::GoldenLayout { .. })), "{e:?}");
        let e = read_golden_bytes(plain, golden_file("g.npz", GoldenSide::Inputs, true), &[spec("x")]);
        assert!(matches!(e, Err(TensorError::GoldenLayout { .. })), "{e:?}");
        let e = read_golden_bytes(plain, golden_file("g.csv", GoldenSide::Inputs, false), &[spec("x")]);
        assert!(matches!(e, Err(TensorError::UnknownFormat { .. })), "{e:?}");
    }

    #[test]
    fn each_side_of_a_golden_file_reads_with_its_own_dtypes() {
        let inputs = [int_spec("ids"), spec("x")];
        let g = golden_file("golden/smoke.json", GoldenSide::Inputs, true);
        let i = read_golden_bytes(GOLDEN.as_bytes(), g, &inputs).unwrap();
        assert_eq!(i["ids"].data, TensorData::I64(vec![1, 2]));
        assert_eq!(i["x"].data, TensorData::F32(vec![0.5]));
        let g = golden_file("golden/smoke.json", GoldenSide::Outputs, true);
        let o = read_golden_bytes(GOLDEN.as_bytes(), g, &[spec("y")]).unwrap();
        assert_eq!(o.keys().collect::<Vec<_>>(), ["y"]);
        // A request file may be a golden file: its inputs are the request.
        let dir = std::env::temp_dir().join(format!("ferry-contract-golden-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("smoke.json");
        std::fs::write(&file, GOLDEN).unwrap();
        let mut seen = Vec::new();
        let r = read_tensor_file(&file, &inputs, &mut |name, d| {
            seen.push((name.to_owned(), d.dtype));
            Ok(())
        })
        .unwrap();
        assert_eq!(r, i);
        assert_eq!(seen, [("ids".to_owned(), DType::Int64), ("x".to_owned(), DType::Float32)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
