//! Golden files of both sides (`{"inputs": {...}, "outputs": {...}}`) and gathering tensors from several
//! files: hostile layouts first, then round trips, determinism and atomic writes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::Path;

use ferry_tensor::{
    DType, Format, GoldenSide, Part, Tensor, TensorData, TensorError, TensorMap, TensorSource, gather,
    golden_json_bytes, is_golden_json, read_bytes, read_file, read_part_checked, write_file,
    write_golden_file,
};
use proptest::prelude::*;

const INPUTS: Part = Part::Side(GoldenSide::Inputs);
const OUTPUTS: Part = Part::Side(GoldenSide::Outputs);

fn part(bytes: &[u8], part: Part) -> Result<TensorMap, TensorError> {
    read_part_checked(bytes, Format::Json, "x", &BTreeMap::new(), part, &mut |_| Ok(()))
}

fn f32s(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
    Tensor::new(shape, TensorData::F32(v)).unwrap()
}

fn map(entries: Vec<(&str, Tensor)>) -> TensorMap {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

const GOOD: &str = r#"{"inputs": {"x": {"dtype": "float32", "shape": [2], "data": [1, 2]}, "ids": [[3, 4]]},
                     "outputs": {"y": [0.5, null]}}"#;

// ---------------------------------------------------------------------------------------------------------
// Hostile layouts.

#[test]
fn a_truncated_golden_file_is_an_error_at_every_cut() {
    for cut in 0..GOOD.len() {
        let bytes = &GOOD.as_bytes()[..cut];
        for p in [INPUTS, OUTPUTS, Part::Whole, Part::SideOrWhole(GoldenSide::Inputs)] {
            assert!(part(bytes, p).is_err(), "cut at {cut} read as {p:?}");
        }
        assert!(!is_golden_json(bytes), "cut at {cut}");
    }
}

#[test]
fn odd_golden_files_say_what_is_wrong() {
    let cases: &[(&str, &str)] = &[
        ("[1, 2]", "expected a JSON object with the keys `inputs` and `outputs`"),
        ("{}", "missing `inputs`"),
        (r#"{"inputs": {}}"#, "missing `outputs`"),
        (r#"{"inputs": {}, "outputs": {}, "inputs": {}}"#, "`inputs` appears twice"),
        (r#"{"inputs": 3, "outputs": {}}"#, "invalid type: integer `3`, expected a JSON object"),
        (
            r#"{"inputs": {}, "outputs": {}, "notes": "from numpy"}"#,
            "unexpected key `notes` at the top level",
        ),
        (r#"{"x": [1, 2]}"#, "unexpected key `x` at the top level"),
        ("{\"inputs\": {}, \"outputs\": {}", "EOF while parsing an object"),
    ];
    for (text, want) in cases {
        let e = part(text.as_bytes(), INPUTS).unwrap_err();
        assert!(matches!(e, TensorError::GoldenLayout { .. }), "{text}: {e:?}");
        let s = e.to_string();
        assert!(s.starts_with("not a golden file ({\"inputs\": {NAME: TENSOR, ...}"), "{s}");
        assert!(s.contains(want), "{text}: {s}");
    }
    // A plain file of one side's tensors read as a golden file says how to name it instead.
    let e = part(br#"{"x": [1, 2]}"#, INPUTS).unwrap_err().to_string();
    assert!(e.contains("named with `inputs` or `expected`, not `file`"), "{e}");
    // One side of a golden file is JSON only.
    let npz = ferry_tensor::write_bytes(&map(vec![("x", f32s(vec![1], vec![1.0]))]), Format::Npz).unwrap();
    let e = read_part_checked(&npz, Format::Npz, "x", &BTreeMap::new(), INPUTS, &mut |_| Ok(())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "not a golden file ({\"inputs\": {NAME: TENSOR, ...}, \"outputs\": {NAME: TENSOR, ...}}): a golden file \
         of both sides is .json, not .npz"
    );
}

#[test]
fn errors_inside_a_side_name_the_side_and_tensor() {
    let dup = r#"{"inputs": {"x": [1], "x": [2]}, "outputs": {"y": [1]}}"#;
    let e = part(dup.as_bytes(), INPUTS).unwrap_err();
    assert_eq!(e.to_string(), "in `inputs`: duplicate tensor name `x`");
    assert!(matches!(e.root(), TensorError::DuplicateName { .. }));
    assert_eq!(e.tensor(), Some("x"));
    // The other side of the same file reads, and so does the inputs side of a file with a bad output.
    assert_eq!(part(dup.as_bytes(), OUTPUTS).unwrap().keys().collect::<Vec<_>>(), ["y"]);
    let ragged = r#"{"inputs": {"x": [1]}, "outputs": {"y": [[1, 2], [3]]}}"#;
    let e = part(ragged.as_bytes(), OUTPUTS).unwrap_err();
    assert_eq!(
        e.to_string(),
        "in `outputs`: tensor `y`: ragged nested array: element [1] has 1 element, expected 2"
    );
    let bad_dtype = r#"{"inputs": {"x": {"dtype": "complex64", "shape": [1], "data": [1]}}, "outputs": {}}"#;
    let e = part(bad_dtype.as_bytes(), INPUTS).unwrap_err();
    assert_eq!(e.to_string(), "in `inputs`: tensor `x`: unsupported dtype `complex64`");
}

/// A name may be on both sides (a model may pass an input through as an output); each side reads its own
/// tensor. Whether the contract declares it there is the contract's rule, not the format's.
#[test]
fn a_tensor_on_both_sides_reads_per_side() {
    let both = r#"{"inputs": {"x": [1, 2]}, "outputs": {"x": [3, 4]}}"#;
    assert_eq!(part(both.as_bytes(), INPUTS).unwrap()["x"], f32s(vec![2], vec![1.0, 2.0]));
    assert_eq!(part(both.as_bytes(), OUTPUTS).unwrap()["x"], f32s(vec![2], vec![3.0, 4.0]));
}

#[test]
fn a_golden_file_read_whole_is_refused_not_read_as_two_tensors() {
    let e = part(GOOD.as_bytes(), Part::Whole).unwrap_err();
    assert!(matches!(e, TensorError::BothSides { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "is laid out as a golden file of both sides ({\"inputs\": {...}, \"outputs\": {...}}), not as one set \
         of tensors"
    );
    // So is half of one: the tensors are nested one level too deep for a plain file.
    let half = r#"{"inputs": {"x": [1, 2]}}"#;
    assert!(matches!(part(half.as_bytes(), Part::Whole).unwrap_err(), TensorError::BothSides { .. }));
    assert!(is_golden_json(GOOD.as_bytes()) && is_golden_json(half.as_bytes()));
    // The public read_bytes is a whole read.
    let e = read_bytes(GOOD.as_bytes(), Format::Json, "x", &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, TensorError::BothSides { .. }), "{e:?}");
}

/// Plain files whose tensors happen to be named `inputs` and `outputs` are not golden files, in either
/// tensor form, and a misspelt explicit tensor keeps its own error.
#[test]
fn tensors_named_inputs_and_outputs_stay_tensors() {
    let plain = [
        r#"{"inputs": {"dtype": "float32", "shape": [1], "data": [1]}, "outputs": [[1]]}"#,
        r#"{"inputs": [1, 2], "outputs": [3]}"#,
        r#"{"inputs": {"dtype": "int64", "shape": [0], "data": []}}"#,
    ];
    for text in plain {
        assert!(!is_golden_json(text.as_bytes()), "{text}");
        let whole = part(text.as_bytes(), Part::Whole).unwrap();
        assert_eq!(part(text.as_bytes(), Part::SideOrWhole(GoldenSide::Inputs)).unwrap(), whole, "{text}");
    }
    let typo = r#"{"inputs": {"dtype": "float32", "shpe": [1], "data": [1]}}"#;
    let e = part(typo.as_bytes(), Part::Whole).unwrap_err().to_string();
    assert_eq!(e, "tensor `inputs`: unexpected key `shpe` (expected dtype, shape, data)");
}

proptest! {
    /// Random text never panics in any part, and the layout test agrees with the whole read's refusal.
    #[test]
    fn random_json_never_panics(text in r#"[{}\[\]":, a-z0-9.\-]{0,60}"#, prefix in prop::sample::select(vec!["", "{\"inputs\": ", "{\"outputs\": {\"y\": "])) {
        let bytes = format!("{prefix}{text}").into_bytes();
        for p in [INPUTS, OUTPUTS, Part::Whole, Part::SideOrWhole(GoldenSide::Outputs)] {
            let _ = part(&bytes, p);
        }
        if is_golden_json(&bytes) {
            let refused = matches!(part(&bytes, Part::Whole), Err(TensorError::BothSides { .. }));
            prop_assert!(refused);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Happy paths.

#[test]
fn each_side_reads_with_its_hints_and_header_check() {
    let text = r#"{"inputs": {"ids": [[1, 2]]}, "outputs": {"ids": [[0.5, 1.5]]}}"#;
    let hints = BTreeMap::from([("ids".to_owned(), DType::Int64)]);
    let mut seen = Vec::new();
    let inputs = read_part_checked(text.as_bytes(), Format::Json, "x", &hints, INPUTS, &mut |d| {
        seen.push((d.name.to_owned(), d.dtype, d.shape.to_vec()));
        Ok(())
    })
    .unwrap();
    assert_eq!(inputs["ids"].data, TensorData::I64(vec![1, 2]));
    assert_eq!(seen, [("ids".to_owned(), DType::Int64, vec![1, 2])]);
    let outputs = part(text.as_bytes(), OUTPUTS).unwrap();
    assert_eq!(outputs["ids"].data, TensorData::F32(vec![0.5, 1.5]));
    // A refusal of the header check names the side.
    let e =
        read_part_checked(text.as_bytes(), Format::Json, "x", &hints, INPUTS, &mut |_| Err("too big".into()))
            .unwrap_err();
    assert_eq!(e.to_string(), "in `inputs`: tensor `ids`: declares int64 [1, 2]: too big");
    // A byte-order mark is fine; a request may be a golden file, of which it is the inputs.
    let bom = [b"\xEF\xBB\xBF".as_slice(), GOOD.as_bytes()].concat();
    assert_eq!(
        part(&bom, Part::SideOrWhole(GoldenSide::Inputs)).unwrap(),
        part(GOOD.as_bytes(), INPUTS).unwrap()
    );
}

#[test]
fn golden_files_are_written_deterministically_and_read_back() {
    let inputs = map(vec![
        ("x", f32s(vec![1, 2], vec![1.0, f32::NAN])),
        ("ids", Tensor::new(vec![2], TensorData::I64(vec![-1, 7])).unwrap()),
    ]);
    let outputs = map(vec![("y", f32s(vec![1], vec![0.25]))]);
    let bytes = golden_json_bytes(&inputs, &outputs).unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        "{\n  \"inputs\": {\n    \"ids\": {\"dtype\": \"int64\", \"shape\": [2], \"data\": [-1, 7]},\n    \
         \"x\": {\"dtype\": \"float32\", \"shape\": [1, 2], \"data\": [1.0, null]}\n  },\n  \"outputs\": {\n    \
         \"y\": {\"dtype\": \"float32\", \"shape\": [1], \"data\": [0.25]}\n  }\n}\n"
    );
    assert!(is_golden_json(&bytes));
    let back = part(&bytes, INPUTS).unwrap();
    assert_eq!(back["ids"], inputs["ids"]);
    assert!(matches!(&back["x"].data, TensorData::F32(v) if v[0] == 1.0 && v[1].is_nan()));
    assert_eq!(part(&bytes, OUTPUTS).unwrap(), outputs);
    assert_eq!(
        String::from_utf8(golden_json_bytes(&TensorMap::new(), &TensorMap::new()).unwrap()).unwrap(),
        "{\n  \"inputs\": {},\n  \"outputs\": {}\n}\n"
    );
    let bad = map(vec![("z", Tensor { shape: vec![3], data: TensorData::F32(vec![1.0]) })]);
    let e = golden_json_bytes(&inputs, &bad).unwrap_err();
    assert_eq!(e.to_string(), "in `outputs`: tensor `z`: shape [3] holds 3 elements but the data has 1");
}

#[test]
fn golden_files_are_written_atomically_as_json_only() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = map(vec![("x", f32s(vec![1], vec![1.0]))]);
    let outputs = map(vec![("y", f32s(vec![1], vec![2.0]))]);
    let path = dir.path().join("smoke.json");
    write_golden_file(&path, &inputs, &outputs).unwrap();
    write_golden_file(&path, &inputs, &outputs).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), golden_json_bytes(&inputs, &outputs).unwrap());
    let npz = dir.path().join("smoke.npz");
    let e = write_golden_file(&npz, &inputs, &outputs).unwrap_err();
    assert_eq!(e.path(), Some(npz.as_path()));
    assert!(e.to_string().contains("a golden file of both sides is JSON"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

// ---------------------------------------------------------------------------------------------------------
// Gathering tensors from several files.

fn src<'a>(path: &'a Path, rename: Option<&'a str>) -> TensorSource<'a> {
    TensorSource { path, rename }
}

#[test]
fn gather_refuses_clashes_and_renames_of_several() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.npz");
    write_file(&a, &map(vec![("x", f32s(vec![1], vec![1.0])), ("y", f32s(vec![1], vec![2.0]))])).unwrap();
    let x = dir.path().join("x.npy");
    write_file(&x, &map(vec![("ignored", f32s(vec![1], vec![3.0]))])).unwrap();
    let e = gather(&[src(&a, None), src(&x, None)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("tensor `x` comes from both {} and {}; rename one (`FILE=NAME`)", a.display(), x.display())
    );
    assert_eq!(e.path(), Some(x.as_path()));
    let e = gather(&[src(&a, Some("z"))]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: `=NAME` names a file's only tensor, but this file holds 2: x, y", a.display())
    );
    let golden = dir.path().join("g.json");
    std::fs::write(&golden, GOOD).unwrap();
    let e = gather(&[src(&golden, None)]).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: is laid out as a golden file of both sides", golden.display())),
        "{e}"
    );
    assert!(e.contains("give the files each side was made from"), "{e}");
    let e = gather(&[src(&dir.path().join("missing.npy"), None)]).unwrap_err();
    assert!(e.to_string().contains("missing.npy"), "{e}");
    let e = gather(&[src(Path::new("t.csv"), None)]).unwrap_err();
    assert!(matches!(e, TensorError::UnknownFormat { .. }));
}

#[test]
fn gather_merges_files_by_name_and_rename() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.npz");
    write_file(&a, &map(vec![("x", f32s(vec![1], vec![1.0])), ("y", f32s(vec![1], vec![2.0]))])).unwrap();
    let f = dir.path().join("features.npy");
    write_file(&f, &map(vec![("ignored", f32s(vec![1], vec![3.0]))])).unwrap();
    let merged = gather(&[src(&f, None), src(&a, None), src(&f, Some("again"))]).unwrap();
    assert_eq!(merged.keys().collect::<Vec<_>>(), ["again", "features", "x", "y"]);
    assert_eq!(merged["again"], merged["features"]);
    // Written out and read back: one file of every tensor, whatever the order of the sources.
    let out = dir.path().join("all.safetensors");
    write_file(&out, &merged).unwrap();
    assert_eq!(read_file(&out, &BTreeMap::new()).unwrap(), merged);
    assert_eq!(gather(&[src(&a, None), src(&f, Some("again")), src(&f, None)]).unwrap(), merged);
}
