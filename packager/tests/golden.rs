//! Golden sets at pack time: one JSON golden file of both sides (`[[golden]] file = ...`) beside the two-file
//! spelling. Hostile sources first (both spellings, a golden file named as one side, truncated and odd JSON,
//! duplicate names, a tensor on the wrong side, a lone `.npy` for several tensors), then the happy path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_packager::PackError;
use ferry_spec::GoldenSide;
use ferry_tensor::TensorMap;
use ferry_testkit::copy_source;
use std::collections::BTreeMap;
use std::path::Path;

const SMOKE_PAIR: &str = "inputs = \"golden/smoke.inputs.npz\"\nexpected = \"golden/smoke.expected.npz\"\n";

fn read(path: &Path) -> TensorMap {
    ferry_tensor::read_file(path, &BTreeMap::new()).unwrap()
}

/// The credit-risk fixture's `smoke` set as one golden file, `golden/smoke.json`.
fn write_smoke_json(src: &Path) {
    let inputs = read(&src.join("golden/smoke.inputs.npz"));
    let outputs = read(&src.join("golden/smoke.expected.npz"));
    ferry_tensor::write_golden_file(&src.join("golden/smoke.json"), &inputs, &outputs).unwrap();
}

fn edit_toml(src: &Path, from: &str, to: &str) {
    let p = src.join("ferry.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "ferry.toml lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// A copy of credit-risk whose `smoke` set is named by `spelling`, with `golden/smoke.json` written from
/// the fixture's own tensors and then changed by `edit`.
fn load_with(spelling: &str, edit: impl FnOnce(&Path)) -> Result<ferry_packager::LoadedSource, PackError> {
    let src = copy_source("credit-risk");
    write_smoke_json(src.path());
    edit(src.path());
    edit_toml(src.path(), SMOKE_PAIR, spelling);
    ferry_packager::load(src.path())
}

fn refused(spelling: &str, edit: impl FnOnce(&Path), needles: &[&str]) {
    let e = load_with(spelling, edit).unwrap_err().to_string();
    for n in needles {
        assert!(e.contains(n), "error lacks {n:?}:\n{e}");
    }
}

fn write(src: &Path, rel: &str, text: &str) {
    std::fs::write(src.join(rel), text).unwrap();
}

#[test]
fn both_spellings_or_half_of_one_are_refused() {
    refused(
        "file = \"golden/smoke.json\"\ninputs = \"golden/smoke.inputs.npz\"\nexpected = \"golden/smoke.expected.npz\"\n",
        |_| {},
        &["ferry.toml", "key `golden[0].file`", "cannot be given too"],
    );
    refused("inputs = \"golden/smoke.inputs.npz\"\n", |_| {}, &["key `golden[0].expected`: missing"]);
    refused("file = \"golden/smoke.npz\"\n", |_| {}, &["key `golden[0].file`", "is JSON"]);
    refused(
        "file = \"golden/missing.json\"\n",
        |_| {},
        &["golden[0].file", "golden/missing.json", "does not exist"],
    );
    refused("files = \"golden/smoke.json\"\n", |_| {}, &["unknown field `files`"]);
}

#[test]
fn a_golden_file_named_as_one_side_says_to_name_it_with_file() {
    refused(
        "inputs = \"golden/smoke.json\"\nexpected = \"golden/smoke.expected.npz\"\n",
        |_| {},
        &[
            "golden/smoke.json (key `golden[0].inputs`)",
            "is laid out as a golden file of both sides",
            "name it once, as `file = \"golden/smoke.json\"` in its [[golden]] table",
        ],
    );
    refused(
        "inputs = \"golden/smoke.inputs.npz\"\nexpected = \"golden/smoke.json\"\n",
        |_| {},
        &["key `golden[0].expected`", "`file = \"golden/smoke.json\"`"],
    );
}

#[test]
fn truncated_and_odd_golden_files_name_the_file_and_key() {
    let fixture = ferry_testkit::fixture("credit-risk");
    let (i, o) =
        (read(&fixture.join("golden/smoke.inputs.npz")), read(&fixture.join("golden/smoke.expected.npz")));
    let full = String::from_utf8(ferry_tensor::golden_json_bytes(&i, &o).unwrap()).unwrap();
    for cut in [0, 1, full.len() / 3, full.len() - 2] {
        let part = full[..cut].to_owned();
        refused(
            "file = \"golden/smoke.json\"\n",
            |s| write(s, "golden/smoke.json", &part),
            &["golden/smoke.json (key `golden[0].file`)", "not a golden file"],
        );
    }
    let odd = [
        (r#"{"features": [[1]]}"#, "unexpected key `features` at the top level"),
        (r#"{"inputs": {}, "outputs": {}, "comment": "x"}"#, "unexpected key `comment`"),
        (r#"{"inputs": [], "outputs": {}}"#, "expected a JSON object"),
        (r#"{"inputs": {}}"#, "missing `outputs`"),
        (r#"{"inputs": {}, "outputs": {}}"#, "in `inputs`: has no tensor `features`"),
    ];
    for (text, want) in odd {
        refused("file = \"golden/smoke.json\"\n", |s| write(s, "golden/smoke.json", text), &[want]);
    }
}

#[test]
fn duplicate_names_and_tensors_on_the_wrong_side_are_refused() {
    let out = r#""probability": {"dtype": "float32", "shape": [1, 1], "data": [0.5]}"#;
    let feat = format!(
        r#""features": {{"dtype": "float32", "shape": [1, 14], "data": [{}]}}"#,
        ["30.0"; 14].join(", ")
    );
    refused(
        "file = \"golden/smoke.json\"\n",
        |s| {
            write(
                s,
                "golden/smoke.json",
                &format!(r#"{{"inputs": {{{feat}, {feat}}}, "outputs": {{{out}}}}}"#),
            )
        },
        &["golden/smoke.json", "in `inputs`: duplicate tensor name `features`"],
    );
    refused(
        "file = \"golden/smoke.json\"\n",
        |s| {
            write(
                s,
                "golden/smoke.json",
                &format!(r#"{{"inputs": {{{feat}}}, "outputs": {{{out}, {out}}}}}"#),
            )
        },
        &["in `outputs`: duplicate tensor name `probability`"],
    );
    // The same tensor under both sides: the input side is fine, the output side names where it belongs.
    refused(
        "file = \"golden/smoke.json\"\n",
        |s| {
            write(
                s,
                "golden/smoke.json",
                &format!(r#"{{"inputs": {{{feat}}}, "outputs": {{{out}, {feat}}}}}"#),
            )
        },
        &[
            "golden/smoke.json (key `golden[0].file`)",
            "in `outputs`: tensor `features` is not declared in the contract as an output: it is an input, so \
             it belongs under `inputs`",
        ],
    );
    // The same rule in the two-file spelling.
    refused(
        "inputs = \"golden/smoke.inputs.npz\"\nexpected = \"golden/both.json\"\n",
        |s| write(s, "golden/both.json", &format!("{{{out}, {feat}}}")),
        &["golden[0].expected", "it is an input, so it belongs in the `inputs` file"],
    );
}

#[test]
fn a_lone_npy_for_several_inputs_says_how_to_write_an_npz() {
    let src = copy_source("text-embedding");
    let inputs = read(&src.path().join("golden/smoke.inputs.safetensors"));
    let one = TensorMap::from([("input_ids".to_owned(), inputs["input_ids"].clone())]);
    ferry_tensor::write_file(&src.path().join("golden/ids.npy"), &one).unwrap();
    edit_toml(src.path(), "golden/smoke.inputs.safetensors", "golden/ids.npy");
    let e = ferry_packager::load(src.path()).unwrap_err().to_string();
    for n in [
        "golden/ids.npy (key `golden[0].inputs`)",
        "an .npy file holds one tensor, but 2 are declared (input_ids, attention_mask)",
        "numpy.savez(\"golden/ids.npz\", input_ids=..., attention_mask=...)",
        "ferry golden -o golden/ids.npz FILE1.npy=input_ids FILE2.npy=attention_mask",
    ] {
        assert!(e.contains(n), "error lacks {n:?}:\n{e}");
    }
}

#[test]
fn a_golden_file_of_both_sides_packs_and_keeps_its_spelling() {
    let src = copy_source("credit-risk");
    write_smoke_json(src.path());
    edit_toml(src.path(), SMOKE_PAIR, "file = \"golden/smoke.json\"\n");
    let loaded = ferry_packager::load(src.path()).unwrap();
    assert!(loaded.files.contains_key("golden/smoke.json"));
    assert!(!loaded.files.contains_key("golden/smoke.inputs.npz"));
    let g = &loaded.source.golden[0];
    assert_eq!((g.file.as_deref(), g.inputs.as_deref()), (Some("golden/smoke.json"), None));
    let dir = ferry_testkit::tempdir();
    let out = dir.path().join("m.ferry");
    let packed = ferry_packager::pack(src.path(), &out).unwrap();
    let side = packed.manifest.golden[0].side(GoldenSide::Outputs);
    assert_eq!((side.path, side.key, side.combined), ("golden/smoke.json", "file", true));
    // The other set keeps the two-file spelling, and its manifest entry has no `file` key.
    let edge = serde_json::to_value(&packed.manifest.golden[1]).unwrap();
    assert!(edge.get("file").is_none() && edge.get("inputs").is_some(), "{edge}");
}
