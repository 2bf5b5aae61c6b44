//! Sequences, maps and optionals end to end, on the skl2onnx classifier whose `output_probability` is a
//! ZipMap (`sequence<map<int64, tensor>>`): `init` declares it, `pack` checks it against the model and its
//! golden file, `verify` compares it (keys exactly, values with the tolerances) and `run` prints it as a
//! list of maps.

use crate::common::*;

fn iris() -> std::path::PathBuf {
    fixture("iris-classifier")
}

/// The acceptance path: `ferry init` on the converter's model, the golden file ONNX Runtime's Python
/// package made, `pack`, `verify` (bit for bit the golden outputs), and `run`, whose probabilities come
/// out as a list of maps.
#[test]
fn an_skl2onnx_zipmap_classifier_goes_from_init_to_run() {
    let t = tempdir();
    let src = t.path().join("iris");
    let model = iris().join("model.onnx");
    let o = run(&["init", model.to_str().unwrap(), src.to_str().unwrap(), "--license", "BSD-3-Clause"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    assert!(toml.contains("type = \"sequence<map<int64, tensor>>\""), "{toml}");
    std::fs::create_dir_all(src.join("golden")).unwrap();
    std::fs::copy(iris().join("golden/iris.json"), src.join("golden/iris.json")).unwrap();
    toml = strip_golden_hint(&toml);
    toml.push_str("\n[[golden]]\nname = \"iris\"\nfile = \"golden/iris.json\"\nrtol = 0.0\natol = 0.0\n");
    std::fs::write(src.join("ferry.toml"), &toml).unwrap();
    let b = t.path().join("iris.ferry");
    pack(&src, &b);
    let o = run(&["verify", b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("1 golden set reproduces its outputs"), "{}", stdout(&o));

    let o = run(&["run", b.to_str().unwrap(), "--input", src.join("golden/iris.json").to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let probs = out["output_probability"].as_array().expect("a list");
    assert_eq!(probs.len(), 12);
    for (row, m) in probs.iter().enumerate() {
        let m = m.as_object().unwrap_or_else(|| panic!("row {row} is not a map: {m}"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["0", "1", "2"]);
        let sum: f64 = m.values().map(|p| p.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {row}: {m:?}");
    }
    assert_eq!(out["output_label"]["dtype"], "int64");

    // The same outputs written to a file are JSON; a tensor-only format cannot hold them.
    let json = t.path().join("out.json");
    let o = run(&[
        "run",
        b.to_str().unwrap(),
        "--input",
        src.join("golden/iris.json").to_str().unwrap(),
        "--output",
    ]
    .into_iter()
    .chain([json.to_str().unwrap()])
    .collect::<Vec<_>>());
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let npz = t.path().join("out.npz");
    let o = run(&[
        "run",
        b.to_str().unwrap(),
        "--input",
        src.join("golden/iris.json").to_str().unwrap(),
        "--output",
    ]
    .into_iter()
    .chain([npz.to_str().unwrap()])
    .collect::<Vec<_>>());
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`output_probability` is a sequence of 12: only a .json file can hold it"),
        "{}",
        stderr(&o)
    );
    assert!(!npz.exists());
}

/// The fixture's own source (with feature bounds) packs and verifies; its golden file is the one
/// `fixtures/generate_classifier.py` wrote from ONNX Runtime's Python package.
#[test]
fn the_iris_fixture_packs_and_verifies() {
    let t = tempdir();
    let b = t.path().join("iris.ferry");
    pack(&iris(), &b);
    let o = run(&["verify", b.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

/// A golden map that differs (a probability off, a class missing, a row too few) fails `verify` naming
/// the output and where; a golden file of the wrong shape is refused by `pack`, naming the place.
#[test]
fn golden_maps_are_compared_by_keys_and_values() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(iris().join("golden/iris.json")).unwrap()).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut g = golden.clone();
        f(&mut g["outputs"]["output_probability"]);
        g
    };
    for (what, changed, needle) in [
        ("value", edit(&|p| p[4]["1"] = serde_json::json!(0.5)), "1 of 36 elements out of tolerance"),
        (
            "key",
            edit(&|p| _ = p[2].as_object_mut().unwrap().remove("2")),
            "[2] has the keys {0, 1, 2}, expected {0, 1}",
        ),
        ("length", edit(&|p| _ = p.as_array_mut().unwrap().pop()), "has 12 elements, expected 11"),
    ] {
        let t = tempdir();
        let src = t.path().join("src");
        copy_dir(&iris(), &src);
        std::fs::write(src.join("golden/iris.json"), changed.to_string()).unwrap();
        let b = t.path().join("b.ferry");
        pack(&src, &b);
        let o = run(&["verify", b.to_str().unwrap()]);
        assert_eq!(code(&o), 1, "{what}: {}", stdout(&o));
        assert!(
            stdout(&o).contains("output_probability") && stdout(&o).contains(needle),
            "{what}: {}",
            stdout(&o)
        );
    }
    for (what, changed, needle) in [
        ("a tensor", edit(&|p| *p = serde_json::json!([1.0, 2.0])), "output_probability"),
        (
            "string keys",
            edit(&|p| p[0] = serde_json::json!({"setosa": 1.0})),
            "[0][\"setosa\"]: the key \"setosa\" is not an integer int64 can hold",
        ),
        ("a duplicate key", serde_json::Value::Null, "appears twice in one object"),
    ] {
        let t = tempdir();
        let src = t.path().join("src");
        copy_dir(&iris(), &src);
        let text = if changed.is_null() {
            let text = golden.to_string();
            text.replacen("{\"0\":1.0,", "{\"0\":1.0,\"0\":0.5,", 1)
        } else {
            changed.to_string()
        };
        std::fs::write(src.join("golden/iris.json"), text).unwrap();
        let o = run(&["pack", src.to_str().unwrap(), "-o", t.path().join("b.ferry").to_str().unwrap()]);
        assert_eq!(code(&o), 2, "{what}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("golden/iris.json") && stderr(&o).contains(needle),
            "{what}: {}",
            stderr(&o)
        );
        assert!(!t.path().join("b.ferry").exists(), "{what}");
    }
}

/// Drops the scaffold's commented golden hint so the test's own [[golden]] table is the only one.
fn strip_golden_hint(toml: &str) -> String {
    toml.lines().filter(|l| !l.starts_with("# [[golden]]")).collect::<Vec<_>>().join("\n") + "\n"
}

/// `init --sample` on the classifier: feature tables from the CSV's columns, and a golden set of one JSON
/// file (a ZipMap fits no tensor format) whose outputs ONNX Runtime computes; `verify` passes it.
#[test]
fn init_with_a_sample_makes_a_json_golden_set_for_a_zipmap() {
    let t = tempdir();
    let sample = t.path().join("flowers.csv");
    let rows = ["5.1,3.5,1.4,0.2", "6.9,3.1,4.9,1.5", "7.7,3.8,6.7,2.2", "5.9,3.0,5.1,1.8"];
    std::fs::write(
        &sample,
        format!("sepal_length,sepal_width,petal_length,petal_width\n{}\n", rows.join("\n")),
    )
    .unwrap();
    let src = t.path().join("iris");
    let model = iris().join("model.onnx");
    let o =
        run(&["init", model.to_str().unwrap(), src.to_str().unwrap(), "--sample", sample.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    assert!(
        toml.contains("file = \"golden/sample.json\"") && toml.contains("name = \"petal_width\""),
        "{toml}"
    );
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("golden/sample.json")).unwrap()).unwrap();
    assert_eq!(golden["outputs"]["output_probability"].as_array().map(Vec::len), Some(4), "{golden}");
    let b = t.path().join("iris.ferry");
    pack(&src, &b);
    let o = run(&["verify", b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}
