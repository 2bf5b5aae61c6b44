//! Property tests of the reader's strictness (`spec/FORMAT.md` §1): the writer and the reader agree on
//! which file views are valid (one set of path rules, `ferry_spec::check_file_view`), and nothing but
//! zero bytes may follow the end-of-archive marker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::{Bundle, BundleError, FileData, FileSource, write_bundle};
use ferry_spec::{FORMAT_VERSION, Manifest, ModelMeta, OnnxPins, Pins};
use proptest::prelude::*;

fn manifest() -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        model: ModelMeta {
            name: "gen".into(),
            version: "1.0.0".into(),
            description: String::new(),
            license: String::new(),
        },
        entrypoint: "model.onnx".into(),
        files: Vec::new(),
        config: None,
        inputs: Vec::new(),
        outputs: Vec::new(),
        golden: Vec::new(),
        pins: Pins {
            ferry_version: "0.1.0".into(),
            onnxruntime: ">=1.31.0, <1.32.0".into(),
            onnx: OnnxPins {
                ir_version: 10,
                opsets: Default::default(),
                producer_name: String::new(),
                producer_version: String::new(),
                external_data: Vec::new(),
            },
        },
        transform: None,
        devices: None,
        reference: None,
    }
}

/// File views built from components chosen to collide: letter case, files that are directories,
/// names model signing ignores, the reserved `.ferry/`, and components just over and under 255 bytes.
fn arb_view() -> impl Strategy<Value = Vec<String>> {
    let component = prop::sample::select(vec![
        "a".to_owned(),
        "A".to_owned(),
        "zz".to_owned(),
        "w.bin".to_owned(),
        "W.BIN".to_owned(),
        ".git".to_owned(),
        ".github".to_owned(),
        ".gitignore".to_owned(),
        "model.sig".to_owned(),
        ".ferry".to_owned(),
        "provenance.json".to_owned(),
        "manifest.json".to_owned(),
        "x".repeat(255),
        "y".repeat(256),
    ]);
    let path = prop::collection::vec(component, 1..4).prop_map(|c| c.join("/"));
    prop::collection::btree_set(path, 0..5).prop_map(|set| {
        let mut v: Vec<String> = set.into_iter().collect();
        v.push("model.onnx".into());
        v.sort();
        v.dedup();
        v
    })
}

fn files(view: &[String]) -> Vec<FileSource> {
    view.iter()
        .map(|p| FileSource {
            path: p.clone(),
            data: FileData::Memory(format!("content of {p}").into_bytes()),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The writer writes exactly the file views the path rules accept; what it writes, the reader opens
    /// and unpacks; what it refuses, it leaves no trace of.
    #[test]
    fn writer_and_reader_agree_on_file_views(view in arb_view()) {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("b.ferry");
        let rules = ferry_spec::check_file_view(view.iter().map(String::as_str));
        match write_bundle(&out, files(&view), manifest(), &[]) {
            Ok(_) => {
                prop_assert!(rules.is_ok(), "wrote {:?} although {:?}", view, rules);
                let b = Bundle::open(&out).unwrap();
                b.verify_digests().unwrap();
                let dir = t.path().join("view");
                b.unpack(&dir, &[]).unwrap();
                for p in &view {
                    prop_assert_eq!(std::fs::read(dir.join(p)).unwrap(), format!("content of {p}").into_bytes());
                }
            }
            Err(e) => {
                // Refused by a path rule (each path is checked as it is written, the set at the end),
                // and nothing is left behind.
                prop_assert!(rules.is_err(), "the writer refused a valid view: {}", e);
                let by_rule = matches!(e, BundleError::FileView(_)) || e.to_string().contains("at most 255 are allowed");
                prop_assert!(by_rule, "{}", e);
                prop_assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
            }
        }
    }

    /// Only zero bytes may follow the end-of-archive marker; the first other byte is named.
    #[test]
    fn only_zeros_may_follow_the_archive(tail in prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..2000)) {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("b.ferry");
        write_bundle(&out, files(&["model.onnx".into()]), manifest(), &[]).unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        let len = bytes.len() as u64;
        bytes.extend_from_slice(&tail);
        match (Bundle::from_bytes(bytes), tail.iter().position(|&b| b != 0)) {
            (Ok(_), None) => {}
            (Err(BundleError::TrailingData { offset, marker }), Some(i)) => {
                prop_assert_eq!(offset, len + i as u64);
                prop_assert_eq!(marker, len - 1024);
            }
            (other, first) => prop_assert!(false, "{:?} with first non-zero tail byte {:?}", other.err(), first),
        }
    }
}
