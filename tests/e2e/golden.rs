//! `ferry golden` and golden files of both sides from the command line: bad sources exit 2 naming the
//! file and write nothing; the credit-risk source with its `smoke` set rewritten as one golden file
//! (written by `ferry golden` from the fixture's own tensors) packs, and `ferry verify` passes it by name.

use crate::common::{code, copy_dir, fixture, listing, run, stderr, stdout, tempdir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn refused(args: &[&str], needles: &[&str], out_dir: &Path) {
    let before = listing(out_dir);
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{args:?}: expected exit 2, got {}: {err}", code(&o));
    for n in needles {
        assert!(err.contains(n), "{args:?}: error lacks {n:?}:\n{err}");
    }
    assert_eq!(listing(out_dir), before, "{args:?} wrote something");
}

#[test]
fn bad_sources_exit_2_naming_the_file() {
    let d = tempdir();
    let dir = d.path();
    let inputs = fixture("credit-risk").join("golden/smoke.inputs.npz");
    let expected = fixture("credit-risk").join("golden/smoke.expected.npz");
    let garbage = dir.join("garbage.npy");
    std::fs::write(&garbage, b"not numpy").unwrap();
    let truncated = dir.join("cut.json");
    std::fs::write(&truncated, br#"{"x": {"dtype": "float32", "shape": [2], "data": [1"#).unwrap();
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let npz = out.join("g.npz");
    let missing = dir.join("missing.npy");
    refused(&["golden", "-o", s(&npz), s(&missing)], &["missing.npy"], &out);
    refused(&["golden", "-o", s(&npz), s(&garbage)], &["garbage.npy", "npy"], &out);
    refused(&["golden", "-o", s(&npz), s(&truncated)], &["cut.json", "invalid JSON"], &out);
    // One name from two files; a rename of a file of several tensors.
    refused(
        &["golden", "-o", s(&npz), s(&inputs), &format!("{}=features", s(&expected))],
        &["tensor `features` comes from both", "smoke.inputs.npz", "smoke.expected.npz"],
        &out,
    );
    let two = dir.join("two.npz");
    let o = run(&["golden", "-o", s(&two), s(&inputs), s(&expected)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    refused(
        &["golden", "-o", s(&npz), &format!("{}=x", s(&two))],
        &["two.npz", "names a file's only tensor, but this file holds 2: features, probability"],
        &out,
    );
    // Several tensors into an .npy; a golden file of both sides that is not JSON; a golden file as a source.
    refused(
        &["golden", "-o", s(&out.join("g.npy")), s(&two)],
        &[
            "g.npy",
            "an .npy file holds exactly one tensor, got 2 (.npz, .safetensors and .json hold several)",
        ],
        &out,
    );
    refused(
        &["golden", "-o", s(&npz), "--inputs", s(&inputs), "--outputs", s(&expected)],
        &["g.npz", "a golden file of both sides is JSON"],
        &out,
    );
    let both = dir.join("both.json");
    let o = run(&["golden", "-o", s(&both), "--inputs", s(&inputs), "--outputs", s(&expected)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    refused(
        &["golden", "-o", s(&npz), s(&both)],
        &["both.json", "is laid out as a golden file of both sides"],
        &out,
    );
    // Usage: sources and sides together, one side alone, no sources, an empty name.
    refused(
        &["golden", "-o", s(&npz), s(&inputs), "--inputs", s(&inputs), "--outputs", s(&expected)],
        &[],
        &out,
    );
    refused(&["golden", "-o", s(&npz), "--inputs", s(&inputs)], &["--outputs"], &out);
    refused(&["golden", "-o", s(&npz)], &["SOURCE"], &out);
    refused(&["golden", "-o", s(&npz), &format!("{}=", s(&inputs))], &["needs a NAME"], &out);
}

#[test]
fn golden_writes_every_format_from_the_files_a_user_has() {
    let d = tempdir();
    let dir = d.path();
    let inputs =
        ferry_tensor::read_file(&fixture("credit-risk").join("golden/smoke.inputs.npz"), &BTreeMap::new())
            .unwrap();
    // A lone .npy, renamed to the declared name, with the expected outputs' file.
    let x = dir.join("x.npy");
    let one = BTreeMap::from([("anything".to_owned(), inputs["features"].clone())]);
    ferry_tensor::write_file(&x, &one).unwrap();
    let expected = fixture("credit-risk").join("golden/smoke.expected.npz");
    for ext in ["npz", "safetensors", "json"] {
        let out = dir.join(format!("all.{ext}"));
        let o = run(&["golden", "-o", s(&out), &format!("{}=features", s(&x)), s(&expected)]);
        assert_eq!(code(&o), 0, "{ext}: {}", stderr(&o));
        assert_eq!(
            stdout(&o).trim_end(),
            format!("wrote {}: 2 tensors (features, probability)", out.display()),
            "{ext}"
        );
        let back = ferry_tensor::read_file(&out, &BTreeMap::new()).unwrap();
        // Exactly the same values (NaN equals NaN in the golden comparison).
        let c = ferry_runtime::compare::compare(&inputs["features"], &back["features"], 0.0, 0.0);
        assert!(c.pass && back["features"].shape == [8, 14], "{ext}: {c:?}");
        // The same sources give the same bytes.
        let again = dir.join(format!("again.{ext}"));
        run(&["golden", "-o", s(&again), &format!("{}=features", s(&x)), s(&expected)]);
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap(), "{ext}");
    }
}

/// The acceptance path: credit-risk's `smoke` set as one golden file written by `ferry golden` from the
/// fixture's tensors, named with `file =`, packs; `ferry verify` passes and its golden check names the
/// set; `inspect` shows the file; `ferry run` takes the golden file's inputs.
#[test]
fn a_golden_file_of_both_sides_packs_and_verifies() {
    let d = tempdir();
    let src = d.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let golden = src.join("golden/smoke.json");
    let o = run(&[
        "golden",
        "-o",
        s(&golden),
        "--inputs",
        s(&src.join("golden/smoke.inputs.npz")),
        "--outputs",
        s(&src.join("golden/smoke.expected.npz")),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("inputs 1 tensor (features); outputs 1 tensor (probability)"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("file = \""), "{}", stdout(&o));
    let doc: Value = serde_json::from_slice(&std::fs::read(&golden).unwrap()).unwrap();
    assert_eq!(doc["inputs"]["features"]["dtype"], "float32");
    assert_eq!(doc["outputs"]["probability"]["shape"][1], 1);
    std::fs::remove_file(src.join("golden/smoke.inputs.npz")).unwrap();
    std::fs::remove_file(src.join("golden/smoke.expected.npz")).unwrap();
    let toml = src.join("ferry.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let pair = "inputs = \"golden/smoke.inputs.npz\"\nexpected = \"golden/smoke.expected.npz\"\n";
    assert!(text.contains(pair));
    std::fs::write(&toml, text.replacen(pair, "file = \"golden/smoke.json\"\n", 1)).unwrap();

    let bundle = d.path().join("m.ferry");
    let o = run(&["pack", s(&src), "-o", s(&bundle)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["verify", s(&bundle), "--format", "json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let check =
        |id: &str| report["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    for id in ["artifact.format", "contract.golden-inputs", "golden.outputs"] {
        assert_eq!(check(id)["status"], "passed", "{id}: {}", check(id));
    }
    let cases = check("golden.outputs")["cases"].clone();
    let smoke = cases.as_array().unwrap().iter().find(|c| c["name"] == "smoke").unwrap();
    assert_eq!(smoke["status"], "passed", "{smoke}");
    let conformance = check("contract.golden-inputs")["cases"].clone();
    let smoke = conformance.as_array().unwrap().iter().find(|c| c["name"] == "smoke").unwrap();
    assert_eq!(smoke["message"], "`golden/smoke.json` conforms to the contract");
    let o = run(&["verify", s(&bundle)]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("PASS  golden.outputs"), "{}", stdout(&o));

    let o = run(&["inspect", s(&bundle)]);
    assert!(stdout(&o).contains("golden/smoke.json (inputs -> outputs)"), "{}", stdout(&o));
    // A request may be a golden file: its inputs are scored.
    let out = d.path().join("out.json");
    let o = run(&["run", s(&bundle), "--input", s(&golden), "--output", s(&out)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let actual = ferry_tensor::read_file(&out, &BTreeMap::new()).unwrap();
    let expected =
        ferry_tensor::read_file(&fixture("credit-risk").join("golden/smoke.expected.npz"), &BTreeMap::new())
            .unwrap();
    let c = ferry_runtime::compare::compare(&expected["probability"], &actual["probability"], 1e-4, 1e-5);
    assert!(c.pass, "{c:?}");
}
