use crate::common::*;
use std::path::Path;

/// Two copies of each fixture that differ in path, file creation order, mtimes, permissions, umask,
/// TZ, locale and thread hints pack to the same bytes.
#[test]
fn fixtures_pack_byte_identical_across_environments() {
    for name in ["credit-risk", "text-embedding"] {
        let t = tempdir();
        let a = t.path().join("first/copy");
        let b = t.path().join("a/much/deeper/second");
        copy_dir(&fixture(name), &a);
        // Second copy: files created in reverse order, different mtimes and modes.
        let mut files = listing(&fixture(name));
        files.reverse();
        for f in &files {
            let from = fixture(name).join(f);
            let to = b.join(f);
            if from.is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else {
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&from, &to).unwrap();
                let file = std::fs::File::options().write(true).open(&to).unwrap();
                file.set_modified(
                    std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000),
                )
                .unwrap();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
                }
            }
        }
        let out_a = t.path().join("a.ferry");
        let out_b = t.path().join("b.ferry");
        let o = ferry()
            .args(["pack", a.to_str().unwrap(), "-o", out_a.to_str().unwrap()])
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 077; cd {} && exec {} pack second -o {}",
                b.parent().unwrap().display(),
                env!("CARGO_BIN_EXE_ferry"),
                out_b.display()
            ))
            .env("TZ", "Pacific/Kiritimati")
            .env("LC_ALL", "tr_TR.UTF-8")
            .env("RAYON_NUM_THREADS", "7")
            .env("OMP_NUM_THREADS", "3")
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let (ba, bb) = (std::fs::read(&out_a).unwrap(), std::fs::read(&out_b).unwrap());
        assert!(ba == bb, "{name}: bundles differ");
        // And the output is a file with the usual mode regardless of the source's modes.
        assert!(ba.len() > 1024);
    }
}

#[test]
fn skopeo_reads_a_bundle() {
    let Ok(v) = std::process::Command::new("skopeo").arg("--version").output() else {
        eprintln!("SKIP: skopeo is not installed (`.ci/run` installs it)");
        return;
    };
    assert!(v.status.success());
    let t = tempdir();
    let out = t.path().join("cr.ferry");
    pack(&fixture("credit-risk"), &out);
    // The index also lists referrers (provenance, SBOM, signatures): name the image by its ref name.
    let o = std::process::Command::new("skopeo")
        .args(["inspect", &format!("oci-archive:{}:1.0.0", out.display())])
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo inspect failed: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let b = ferry_bundle::Bundle::open(&out).unwrap();
    assert_eq!(v["Digest"], b.manifest_digest());
    assert_eq!(v["Layers"].as_array().unwrap().len(), b.manifest().files.len());
}

#[test]
fn unpack_then_repack_reproduces_the_bundle() {
    for name in ["credit-risk", "text-embedding"] {
        let t = tempdir();
        let first = t.path().join("first.ferry");
        pack(&fixture(name), &first);
        let view = t.path().join("view");
        let o = run(&["unpack", first.to_str().unwrap(), view.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let second = t.path().join("second.ferry");
        pack(&view, &second);
        assert!(std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(), "{name}: repack differs");
    }
}

#[test]
fn inspect_shows_contract_pins_and_files() {
    let t = tempdir();
    let out = t.path().join("te.ferry");
    pack(&fixture("text-embedding"), &out);
    let o = run(&["inspect", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    for needle in
        ["text-embedding 1.0.0", "input_ids", "[batch, seq]", "ai.onnx=17", "model.onnx.data", ">=1.31.0"]
    {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let o = run(&["inspect", out.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["manifest"]["pins"]["onnx"]["external_data"][0], "model.onnx.data");
    assert_eq!(v["manifest"]["pins"]["onnx"]["ir_version"], 8);
}

#[test]
fn init_then_pack_works_in_two_commands() {
    for name in ["credit-risk", "text-embedding"] {
        let t = tempdir();
        let src = t.path().join("src");
        let o = run(&["init", fixture(name).join("model.onnx").to_str().unwrap(), src.to_str().unwrap()]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
        let parsed = ferry_spec::Source::from_toml_str(&toml).unwrap();
        let real = ferry_spec::Source::from_toml_str(
            &std::fs::read_to_string(fixture(name).join("ferry.toml")).unwrap(),
        )
        .unwrap();
        let names = |v: &[ferry_spec::TensorSpec]| {
            v.iter().map(|t| (t.name.clone(), t.dtype, t.shape.clone())).collect::<Vec<_>>()
        };
        assert_eq!(names(&parsed.inputs), names(&real.inputs), "{name}");
        assert_eq!(names(&parsed.outputs), names(&real.outputs), "{name}");
        assert!(toml.contains("# [[golden]]"));
        let out = t.path().join("out.ferry");
        pack(&src, &out);
    }
    // init refuses a directory that is not empty and leaves it alone.
    let t = tempdir();
    std::fs::write(t.path().join("keep.txt"), b"x").unwrap();
    let o = run(&[
        "init",
        fixture("credit-risk").join("model.onnx").to_str().unwrap(),
        t.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(listing(t.path()), vec!["keep.txt"]);
}

/// Applies `edit` to a copy of the credit-risk source, packs it, and checks exit code 2, the error text
/// and that no output (not even a temporary file) is left.
fn refused(what: &str, edit: impl FnOnce(&Path), needles: &[&str]) {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    edit(&src);
    let outdir = t.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("model.ferry");
    let o = run(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{what}: expected exit 2, got {}: {err}", code(&o));
    for n in needles {
        assert!(err.contains(n), "{what}: error lacks {n:?}:\n{err}");
    }
    assert!(listing(&outdir).is_empty(), "{what}: left {:?}", listing(&outdir));
}

fn edit_toml(src: &Path, from: &str, to: &str) {
    let p = src.join("ferry.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "fixture lacks {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn malformed_sources_are_refused_with_the_key_or_file() {
    refused(
        "unknown key",
        |s| edit_toml(s, "license =", "licence = \"x\"\nlicense ="),
        &["ferry.toml", "unknown field `licence`"],
    );
    refused(
        "missing file",
        |s| std::fs::remove_file(s.join("golden/smoke.expected.npz")).unwrap(),
        &["golden[0].expected", "golden/smoke.expected.npz", "does not exist"],
    );
    refused(
        "missing ferry.toml",
        |s| std::fs::remove_file(s.join("ferry.toml")).unwrap(),
        &["ferry.toml", "not found"],
    );
    refused(
        "contract names an input the model lacks",
        |s| edit_toml(s, "name = \"features\"", "name = \"feature_vector\""),
        &["model.onnx", "inputs[0].name", "no input named `feature_vector`"],
    );
    refused(
        "contract dtype differs from the model",
        |s| edit_toml(s, "dtype = \"float32\"", "dtype = \"float64\""),
        &["inputs[0].dtype", "declared float64 but the model says float32"],
    );
    refused(
        "contract rank differs",
        |s| edit_toml(s, "shape = [\"batch\", 1]", "shape = [\"batch\", 1, 1]"),
        &["outputs[0].shape", "rank 3"],
    );
    refused(
        "output not declared",
        |s| {
            edit_toml(s, "name = \"probability\"", "name = \"score\"");
            edit_toml(s, "[golden.outputs.probability]", "[golden.outputs.score]");
            edit_toml(s, "[golden.outputs.probability]", "[golden.outputs.score]");
        },
        &["outputs[0].name", "no output named `score`"],
    );
    refused(
        "default config fails its schema",
        |s| std::fs::write(s.join("config.json"), br#"{"decision_threshold": 7}"#).unwrap(),
        &["config.json", "fails its schema", "/decision_threshold", "maximum"],
    );
    refused(
        "config schema is not JSON",
        |s| std::fs::write(s.join("config.schema.json"), b"{nope").unwrap(),
        &["config.schema.json", "not valid JSON"],
    );
    refused(
        "golden file is not a tensor file",
        |s| std::fs::write(s.join("golden/smoke.inputs.npz"), b"garbage").unwrap(),
        &["golden/smoke.inputs.npz", "golden[0].inputs"],
    );
    refused(
        "model is not ONNX",
        |s| std::fs::write(s.join("model.onnx"), b"\xff\xff\xff\xff").unwrap(),
        &["model.onnx", "not a readable ONNX model"],
    );
    refused(
        "path escapes the source",
        |s| edit_toml(s, "onnx = \"model.onnx\"", "onnx = \"../model.onnx\""),
        &["model.onnx", "`..`"],
    );
}

/// What Ferry writes gets the permissions of a new file or directory under the caller's umask (not
/// the owner-only ones of the temporary file it was written to), and signing in place keeps the
/// bundle's own.
#[cfg(unix)]
#[test]
fn outputs_have_the_permissions_of_new_files() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempdir();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let under_umask = |umask: &str, args: &[&str]| {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    };
    let bundle = t.path().join("m.ferry");
    let src = fixture("credit-risk");
    under_umask("022", &["pack", src.to_str().unwrap(), "-o", bundle.to_str().unwrap()]);
    assert_eq!(mode(&bundle), 0o644);
    let report = t.path().join("report.json");
    under_umask(
        "027",
        &["verify", bundle.to_str().unwrap(), "--format", "json", "--report", report.to_str().unwrap()],
    );
    assert_eq!(mode(&report), 0o640);
    let view = t.path().join("view");
    under_umask("022", &["unpack", bundle.to_str().unwrap(), view.to_str().unwrap()]);
    assert_eq!(mode(&view), 0o755);
    assert_eq!(mode(&view.join("model.onnx")), 0o644);

    let (key, public) = (t.path().join("k.pem"), t.path().join("k.pub"));
    under_umask("022", &["keygen", "--private", key.to_str().unwrap(), "--public", public.to_str().unwrap()]);
    assert_eq!(mode(&key), 0o600, "a private key stays owner-only");
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o640)).unwrap();
    under_umask("000", &["sign", bundle.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    assert_eq!(mode(&bundle), 0o640, "signing in place changed the bundle's permissions");
    let signed = t.path().join("signed.ferry");
    under_umask(
        "002",
        &["sign", bundle.to_str().unwrap(), "--key", key.to_str().unwrap(), "-o", signed.to_str().unwrap()],
    );
    assert_eq!(mode(&signed), 0o664);
}

/// `pack` and `verify` apply one effective-defaults rule (schema defaults, then the defaults file): a
/// source whose required keys come from the schema's defaults, not the defaults file, packs and
/// verifies; one whose effective defaults break the schema is refused by pack naming the rule.
#[test]
fn pack_and_verify_agree_on_effective_defaults() {
    let t = tempdir();
    let src = t.path().join("src");
    copy_dir(&fixture("credit-risk"), &src);
    let schema_path = src.join("config.schema.json");
    let mut schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    schema["required"] = serde_json::json!(["decision_threshold", "currency", "intra_op_threads"]);
    std::fs::write(&schema_path, serde_json::to_vec_pretty(&schema).unwrap()).unwrap();
    std::fs::write(src.join("config.json"), br#"{"intra_op_threads": 1}"#).unwrap();
    let b = t.path().join("b.ferry");
    pack(&src, &b);
    let o = run(&["verify", b.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let check = v["checks"].as_array().unwrap().iter().find(|c| c["id"] == "contract.config-schema").unwrap();
    assert_eq!(check["status"], "passed", "{check}");

    std::fs::write(src.join("config.json"), br#"{"decision_threshold": 2}"#).unwrap();
    let o = run(&["pack", src.to_str().unwrap(), "-o", t.path().join("c.ferry").to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("schema defaults merged with the defaults file"), "{}", stderr(&o));
}

/// Runs `bundle` on `inputs` and returns (exit code, stderr).
fn run_on(bundle: &Path, inputs: &ferry_tensor::TensorMap) -> (i32, String) {
    let input = bundle.with_extension("request.safetensors");
    ferry_tensor::write_file(&input, inputs).unwrap();
    let o = run(&["run", bundle.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    (code(&o), stderr(&o))
}

fn token_request(ids: Vec<i64>) -> ferry_tensor::TensorMap {
    use ferry_tensor::{Tensor, TensorData};
    let shape = vec![1, ids.len()];
    let mask = vec![1; ids.len()];
    ferry_tensor::TensorMap::from([
        ("input_ids".to_owned(), Tensor::new(shape.clone(), TensorData::I64(ids)).unwrap()),
        ("attention_mask".to_owned(), Tensor::new(shape, TensorData::I64(mask)).unwrap()),
    ])
}

/// The embedder bounds its token ids to its vocabulary (`values = { min = 0, max = 999 }`): an id of −1
/// (which Gather would silently read from the end of the table) and an id of 1000 (ONNX Runtime's raw
/// Gather error) are refused at the door, exit 1, naming the input, the element and the value.
#[test]
fn token_ids_outside_the_vocabulary_are_refused_naming_input_index_and_value() {
    let t = tempdir();
    let b = t.path().join("te.ferry");
    pack(&fixture("text-embedding"), &b);
    let (rc, err) = run_on(&b, &token_request(vec![5, 17, 999]));
    assert_eq!(rc, 0, "{err}");
    for (ids, needle) in [
        (vec![5, -1, 3], "input `input_ids` at [0, 1]: value -1 is below the minimum 0"),
        (vec![5, 17, 3, 1000], "input `input_ids` at [0, 3]: value 1000 is above the maximum 999"),
    ] {
        let (rc, err) = run_on(&b, &token_request(ids));
        assert_eq!(rc, 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
    let mut bad_mask = token_request(vec![1, 2]);
    bad_mask.insert(
        "attention_mask".into(),
        ferry_tensor::Tensor::new(vec![1, 2], ferry_tensor::TensorData::I64(vec![1, 2])).unwrap(),
    );
    let (rc, err) = run_on(&b, &bad_mask);
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("input `attention_mask` at [0, 1]: value 2 is not one of the allowed values [0, 1]"),
        "{err}"
    );
}

/// `init` scaffolds what the model makes obvious, and the scaffold is live: the embedder's ids get the
/// embedding table's bound, a tabular float input gets one feature table per column (so NaN is refused
/// until a column is marked nullable), an unnamed batch axis is one `batch` dim, and `[model]` takes
/// `--name`, `--version` and `--license`.
#[test]
fn init_scaffolds_bounds_features_and_model_metadata() {
    let t = tempdir();
    let src = t.path().join("embedder");
    let o = run(&[
        "init",
        fixture("text-embedding").join("model.onnx").to_str().unwrap(),
        src.to_str().unwrap(),
        "--version",
        "2.1.0",
        "--license",
        "Apache-2.0",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("golden sets"), "{}", stdout(&o));
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    let source = ferry_spec::Source::from_toml_str(&toml).unwrap();
    assert_eq!(
        (source.model.name.as_str(), source.model.version.as_str(), source.model.license.as_str()),
        ("embedder", "2.1.0", "Apache-2.0")
    );
    let ids = &source.inputs[0];
    assert_eq!(ids.values.as_ref().map(|v| (v.min, v.max)), Some((Some(0.0), Some(999.0))), "{toml}");
    assert_eq!(source.inputs[1].values, None, "the mask also feeds arithmetic: no index bound\n{toml}");
    let b = t.path().join("embedder.ferry");
    pack(&src, &b);
    let (rc, err) = run_on(&b, &token_request(vec![1000]));
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("value 1000 is above the maximum 999"), "{err}");

    let src = t.path().join("scorecard");
    let o =
        run(&["init", fixture("credit-risk").join("model.onnx").to_str().unwrap(), src.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let source =
        ferry_spec::Source::from_toml_str(&std::fs::read_to_string(src.join("ferry.toml")).unwrap()).unwrap();
    assert_eq!(source.inputs[0].features.len(), 14);
    assert_eq!(source.inputs[0].shape[0], ferry_spec::Dim::Symbolic("batch".into()));
    let b = t.path().join("scorecard.ferry");
    pack(&src, &b);
    let mut row = vec![1.0f32; 14];
    let request = |row: Vec<f32>| {
        ferry_tensor::TensorMap::from([(
            "features".to_owned(),
            ferry_tensor::Tensor::new(vec![1, 14], ferry_tensor::TensorData::F32(row)).unwrap(),
        )])
    };
    let (rc, err) = run_on(&b, &request(row.clone()));
    assert_eq!(rc, 0, "{err}");
    row[3] = f32::NAN;
    let (rc, err) = run_on(&b, &request(row));
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("feature `col_3` at [0, 3]") && err.contains("NaN"), "{err}");
}

/// A CSV sample of the credit-risk features: 200 rows, deterministic, `months_since_last_delinquency`
/// missing in every third row, `loan_term_months` 36 or 60.
fn credit_sample() -> String {
    // The column names are the fixture's own feature names.
    let toml = std::fs::read_to_string(fixture("credit-risk").join("ferry.toml")).unwrap();
    let source = ferry_spec::Source::from_toml_str(&toml).unwrap();
    let names: Vec<&str> = source.inputs[0].features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 14);
    let mut csv = names.join(",") + "\n";
    for i in 0..200u32 {
        let months = if i % 3 == 0 { String::new() } else { (i % 97).to_string() };
        let row = [
            (18 + i % 60).to_string(),
            format!("{}.5", 20_000 + i * 731),
            format!("0.{:03}", i * 7 % 1000),
            format!("0.{:03}", i * 13 % 1000),
            (i % 15).to_string(),
            (i % 3).to_string(),
            months,
            (1000 + i * 97).to_string(),
            if i % 2 == 0 { "36" } else { "60" }.to_owned(),
            (i % 30).to_string(),
            (i % 3).to_string(),
            (i % 2).to_string(),
            (i % 4).to_string(),
            format!("{}.25", i * 211),
        ];
        csv += &(row.join(",") + "\n");
    }
    csv
}

/// `init --sample`: feature tables from the sample's columns (names, observed ranges, nullability, small
/// categorical sets) that `run` then enforces, and a golden set from its first rows that `verify` passes.
#[test]
fn init_with_a_sample_profiles_features_and_makes_a_golden_set() {
    let t = tempdir();
    let sample = t.path().join("applicants.csv");
    std::fs::write(&sample, credit_sample()).unwrap();
    let src = t.path().join("scorecard");
    let model = fixture("credit-risk").join("model.onnx");
    let o =
        run(&["init", model.to_str().unwrap(), src.to_str().unwrap(), "--sample", sample.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    assert!(toml.contains("computed by Ferry itself"), "{toml}");
    let source = ferry_spec::Source::from_toml_str(&toml).unwrap();
    let features = &source.inputs[0].features;
    assert_eq!(features.len(), 14);
    assert_eq!(
        (features[0].name.as_str(), features[0].min, features[0].max),
        ("age", Some(18.0), Some(77.0))
    );
    assert!(features[6].nullable && !features[0].nullable, "{toml}");
    assert_eq!(features[8].allowed, Some(vec![36.0, 60.0]), "{toml}");
    assert_eq!(source.golden.len(), 1);
    let b = t.path().join("scorecard.ferry");
    pack(&src, &b);
    let o = run(&["verify", b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("sample"), "{}", stdout(&o));

    let row: Vec<f32> =
        vec![30.0, 50000.5, 0.3, 0.2, 3.0, 1.0, 12.0, 5000.0, 36.0, 4.0, 1.0, 0.0, 2.0, 1000.25];
    let request = |edit: &dyn Fn(&mut Vec<f32>)| {
        let mut r = row.clone();
        edit(&mut r);
        ferry_tensor::TensorMap::from([(
            "features".to_owned(),
            ferry_tensor::Tensor::new(vec![1, 14], ferry_tensor::TensorData::F32(r)).unwrap(),
        )])
    };
    let (rc, err) = run_on(&b, &request(&|_| {}));
    assert_eq!(rc, 0, "{err}");
    for (what, edit, needle) in [
        (
            "NaN",
            &(|r: &mut Vec<f32>| r[0] = f32::NAN) as &dyn Fn(&mut Vec<f32>),
            "feature `age` at [0, 0]: value is NaN",
        ),
        (
            "out of range",
            &|r: &mut Vec<f32>| r[0] = 90.0,
            "feature `age` at [0, 0]: value 90.0 is above the maximum 77",
        ),
        (
            "unknown category",
            &|r: &mut Vec<f32>| r[8] = 48.0,
            "feature `loan_term_months` at [0, 8]: value 48.0 is not one of the allowed values",
        ),
    ] {
        let (rc, err) = run_on(&b, &request(edit));
        assert_eq!(rc, 1, "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
    }
    // A missing value where the sample had some is accepted.
    let (rc, err) = run_on(&b, &request(&|r| r[6] = f32::NAN));
    assert_eq!(rc, 0, "{err}");
}

/// Hostile samples are refused with exit 2, naming the file and the line or column, and leave nothing.
#[test]
fn init_refuses_bad_samples_naming_file_and_line() {
    let good = credit_sample();
    let header = good.lines().next().unwrap().to_owned();
    let row = good.lines().nth(1).unwrap().to_owned();
    for (what, text, needle) in [
        ("empty", String::new(), "empty"),
        ("header only", format!("{header}\n"), "no rows"),
        ("ragged", format!("{header}\n{row}\n1,2\n"), "line 3: 2 fields"),
        (
            "not a number",
            format!("{header}\n{}\n", row.replacen("18", "eighteen", 1)),
            "`eighteen` is not a number",
        ),
        ("wrong width", "a,b\n1,2\n".to_owned(), "no input of the model has shape [batch, 2]"),
        ("twice", format!("{}\n{row}\n", header.replacen("annual_income", "age", 1)), "appears twice"),
        ("open quote", format!("{header}\n\"{row}\n"), "never closed"),
        (
            "beyond float32",
            format!("{header}\n{}\n", row.replacen("18", "1e39", 1)),
            "line 2, column `age`: `1e39` is out of range for float32",
        ),
        ("infinite", format!("{header}\n{}\n", row.replacen("18", "inf", 1)), "`inf` is not a finite number"),
    ] {
        let t = tempdir();
        let sample = t.path().join("s.csv");
        std::fs::write(&sample, &text).unwrap();
        let src = t.path().join("src");
        let model = fixture("credit-risk").join("model.onnx");
        let o = run(&[
            "init",
            model.to_str().unwrap(),
            src.to_str().unwrap(),
            "--sample",
            sample.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 2, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains("s.csv") && stderr(&o).contains(needle), "{what}: {}", stderr(&o));
        assert_eq!(listing(t.path()), vec!["s.csv"], "{what}: left something behind");
    }
}

/// `init --sample` with a tensor file holding a batch of every input by name: a multi-input model (the
/// embedder) gets a golden set from the first rows, which `verify` passes; a sample that misses an input,
/// or a lone `.npy`, is refused naming what to give instead.
#[test]
fn init_with_a_tensor_sample_makes_a_golden_set_for_every_input() {
    use ferry_tensor::{Tensor, TensorData, TensorMap};
    let t = tempdir();
    let ids: Vec<i64> = (0..48).map(|i| (i * 37 % 999) + 1).collect();
    let sample = t.path().join("batch.npz");
    let both = TensorMap::from([
        ("input_ids".to_owned(), Tensor::new(vec![6, 8], TensorData::I64(ids.clone())).unwrap()),
        ("attention_mask".to_owned(), Tensor::new(vec![6, 8], TensorData::I64(vec![1; 48])).unwrap()),
    ]);
    ferry_tensor::write_file(&sample, &both).unwrap();
    let model = fixture("text-embedding").join("model.onnx");
    let src = t.path().join("embedder");
    let o = run(&[
        "init",
        model.to_str().unwrap(),
        src.to_str().unwrap(),
        "--sample",
        sample.to_str().unwrap(),
        "--golden-rows",
        "3",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    assert!(toml.contains("first 3 rows of batch.npz"), "{toml}");
    let golden = ferry_tensor::read_file(&src.join("golden/sample.inputs.npz"), &Default::default()).unwrap();
    assert_eq!(golden["input_ids"].shape, vec![3, 8]);
    let b = t.path().join("embedder.ferry");
    pack(&src, &b);
    let o = run(&["verify", b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    let only_ids = t.path().join("ids.npz");
    let ids_only =
        TensorMap::from([("input_ids".to_owned(), Tensor::new(vec![6, 8], TensorData::I64(ids)).unwrap())]);
    ferry_tensor::write_file(&only_ids, &ids_only).unwrap();
    let lone = t.path().join("ids.npy");
    ferry_tensor::write_file(&lone, &ids_only).unwrap();
    for (sample, needle) in
        [(&only_ids, "holds no tensor `attention_mask`"), (&lone, "a lone .npy names no input")]
    {
        let dir = t.path().join("refused");
        let o = run(&[
            "init",
            model.to_str().unwrap(),
            dir.to_str().unwrap(),
            "--sample",
            sample.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
        assert!(!dir.exists());
    }
}

/// `init MODEL DIR --sample FILE`, returning the process output.
fn init_with_sample(model: &Path, dir: &Path, sample: &Path) -> std::process::Output {
    run(&["init", model.to_str().unwrap(), dir.to_str().unwrap(), "--sample", sample.to_str().unwrap()])
}

/// `init --sample credit.parquet` (written by pandas, `fixtures/parquet/generate.py`, snappy and the
/// other codecs) profiles the same feature tables and golden rows as the same DataFrame written as CSV;
/// `run` enforces them and `verify` passes the golden set.
#[test]
fn init_with_a_parquet_sample_profiles_like_its_csv() {
    let t = tempdir();
    let model = fixture("credit-risk").join("model.onnx");
    let data = fixture("parquet");
    let scaffold = |sample: &str| {
        let src = t.path().join(sample.replace('.', "-"));
        let o = init_with_sample(&model, &src, &data.join(sample));
        assert_eq!(code(&o), 0, "{sample}: {}", stderr(&o));
        let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
        let source = ferry_spec::Source::from_toml_str(&toml).unwrap();
        let golden =
            ferry_tensor::read_file(&src.join("golden/sample.inputs.npz"), &Default::default()).unwrap();
        (src, source.inputs[0].features.clone(), golden)
    };
    let (_, csv_features, csv_golden) = scaffold("credit.csv");
    assert_eq!(csv_features.len(), 14);
    assert!(csv_features[6].nullable, "{csv_features:?}");
    assert_eq!(csv_features[8].allowed, Some(vec![36.0, 60.0]));
    assert_eq!(csv_features[11].allowed, Some(vec![0.0, 1.0]), "the boolean column");
    for sample in ["credit.zstd.parquet", "credit.gzip.parquet", "credit.none.parquet", "credit.parquet"] {
        let (_, features, golden) = scaffold(sample);
        assert_eq!(features, csv_features, "{sample}");
        assert_eq!(format!("{golden:?}"), format!("{csv_golden:?}"), "{sample}");
    }
    let src = t.path().join("credit-parquet");
    let toml = std::fs::read_to_string(src.join("ferry.toml")).unwrap();
    assert!(toml.contains("first 5 rows of credit.parquet"), "{toml}");
    let b = t.path().join("credit.ferry");
    pack(&src, &b);
    let o = run(&["verify", b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));

    // The CSV's third line (the second data row, no missing value) as a request.
    let csv = std::fs::read_to_string(data.join("credit.csv")).unwrap();
    let row: Vec<f32> = csv.lines().nth(2).unwrap().split(',').map(|c| c.parse().unwrap()).collect();
    let request = |edit: &dyn Fn(&mut Vec<f32>)| {
        let mut r = row.clone();
        edit(&mut r);
        ferry_tensor::TensorMap::from([(
            "features".to_owned(),
            ferry_tensor::Tensor::new(vec![1, 14], ferry_tensor::TensorData::F32(r)).unwrap(),
        )])
    };
    let (rc, err) = run_on(&b, &request(&|_| {}));
    assert_eq!(rc, 0, "{err}");
    for (what, edit, needle) in [
        (
            "NaN",
            &(|r: &mut Vec<f32>| r[0] = f32::NAN) as &dyn Fn(&mut Vec<f32>),
            "feature `age` at [0, 0]: value is NaN",
        ),
        (
            "out of range",
            &|r: &mut Vec<f32>| r[0] = 90.0,
            "feature `age` at [0, 0]: value 90.0 is above the maximum",
        ),
        (
            "unknown category",
            &|r: &mut Vec<f32>| r[8] = 48.0,
            "feature `loan_term_months` at [0, 8]: value 48.0 is not one of the allowed values",
        ),
    ] {
        let (rc, err) = run_on(&b, &request(edit));
        assert_eq!(rc, 1, "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
    }
    // A null in the sample's column makes it nullable.
    let (rc, err) = run_on(&b, &request(&|r| r[6] = f32::NAN));
    assert_eq!(rc, 0, "{err}");
}

/// `good` with every i64 Thrift field of value `rows` in its footer (the file's and each row group's
/// `num_rows`, each chunk's `num_values`) declaring `huge` instead: the footer rewritten, its length
/// fixed, the data untouched.
fn parquet_declaring_rows(good: &[u8], rows: u64, huge: u64) -> Vec<u8> {
    let varint = |mut v: u64| {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    };
    // Field header 0x16: the next field id, type i64; values zigzag-encoded.
    let (from, to) = ([&[0x16][..], &varint(rows << 1)].concat(), [&[0x16][..], &varint(huge << 1)].concat());
    let n = good.len();
    let footer_len = u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap()) as usize;
    let footer = &good[n - 8 - footer_len..n - 8];
    let mut new = Vec::new();
    let mut i = 0;
    let mut replaced = 0;
    while i < footer.len() {
        if footer[i..].starts_with(&from) {
            new.extend_from_slice(&to);
            i += from.len();
            replaced += 1;
        } else {
            new.push(footer[i]);
            i += 1;
        }
    }
    assert!(replaced >= 2, "the file's and a row group's num_rows");
    let mut out = good[..n - 8 - footer_len].to_vec();
    out.extend_from_slice(&new);
    out.extend_from_slice(&(new.len() as u32).to_le_bytes());
    out.extend_from_slice(b"PAR1");
    out
}

/// Hostile Parquet samples exit 2 naming the file (and the column or row where there is one), leaving
/// nothing behind: damaged framing, unsupported columns, no rows, a null for an integer input, a row
/// count past the element budget, a CSV named `.parquet`.
#[test]
fn init_refuses_hostile_parquet_samples_naming_file_and_column() {
    let data = fixture("parquet");
    let credit = std::fs::read(data.join("credit.parquet")).unwrap();
    let ints = std::fs::read(data.join("int_null.parquet")).unwrap();
    let n = credit.len();
    let footer_len = u32::from_le_bytes(credit[n - 8..n - 4].try_into().unwrap()) as usize;
    let credit_model = fixture("credit-risk").join("model.onnx");
    let int_model = data.join("int_model.onnx");
    let mut past = credit.clone();
    past[n - 8..n - 4].copy_from_slice(&(n as u32 + 100).to_le_bytes());
    let mut bad_magic = credit.clone();
    bad_magic[..4].copy_from_slice(b"PAR0");
    // The data cut short, the footer kept: its chunks point past the data.
    let cut = [&credit[..n / 4], &credit[n - 8 - footer_len..]].concat();
    let cases: Vec<(&str, Vec<u8>, &Path, &str)> = vec![
        ("truncated", credit[..n / 2].to_vec(), &credit_model, "not a Parquet file"),
        ("data cut short", cut, &credit_model, "lies outside the file's data"),
        ("bad magic", bad_magic, &credit_model, "not a Parquet file"),
        ("footer past the file", past, &credit_model, "more than the file holds"),
        (
            "strings",
            std::fs::read(data.join("strings.parquet")).unwrap(),
            &credit_model,
            "column `name` holds strings",
        ),
        (
            "nested",
            std::fs::read(data.join("nested.parquet")).unwrap(),
            &credit_model,
            "column `history` is nested",
        ),
        ("no rows", std::fs::read(data.join("empty.parquet")).unwrap(), &credit_model, "no rows"),
        ("integer null", ints.clone(), &int_model, "row 3, column `c`: a missing value, but `ids` is int64"),
        (
            "huge row count",
            parquet_declaring_rows(&ints, 4, 1 << 40),
            &int_model,
            "1099511627776 rows of 3 columns",
        ),
        ("a CSV", std::fs::read(data.join("credit.csv")).unwrap(), &credit_model, "not a Parquet file"),
    ];
    for (what, bytes, model, needle) in cases {
        let t = tempdir();
        let sample = t.path().join("s.parquet");
        std::fs::write(&sample, &bytes).unwrap();
        let o = init_with_sample(model, &t.path().join("src"), &sample);
        assert_eq!(code(&o), 2, "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains("s.parquet") && stderr(&o).contains(needle), "{what}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
        assert_eq!(listing(t.path()), vec!["s.parquet"], "{what}: left something behind");
    }
}
