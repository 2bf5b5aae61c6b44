//! Property tests of the format's invariants over generated bundle sources: determinism, pack/unpack
//! round trip, and detection of any single flipped byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_onnx::OnnxDim;
use ferry_spec::DType;
use proptest::prelude::*;
use std::path::Path;

#[derive(Debug, Clone)]
struct GenSource {
    files: Vec<(String, Vec<u8>)>,
    version: String,
}

fn arb_source() -> impl Strategy<Value = GenSource> {
    let name = "[a-z]{1,6}(/[a-z]{1,6})?\\.(bin|json|txt|dat)";
    (prop::collection::btree_map(name, prop::collection::vec(any::<u8>(), 0..3000), 0..6), 0u32..5, 0u32..20)
        .prop_map(|(files, major, minor)| GenSource {
            files: files.into_iter().collect(),
            version: format!("{major}.{minor}.0"),
        })
}

/// Writes the source into `dir`, creating files in `order` with the given mtime offset and mode.
fn write_source(s: &GenSource, dir: &Path, reverse: bool, mtime: u64, mode: u32) {
    let model = ferry_onnx::encode::identity_model(
        "x",
        "y",
        DType::Float32,
        &[OnnxDim::Param("batch".into()), OnnxDim::Value(3)],
        17,
    );
    let extra: Vec<String> = s.files.iter().map(|(p, _)| format!("{p:?}")).collect();
    let toml = format!(
        "[model]\nname = \"gen\"\nversion = \"{}\"\nonnx = \"model.onnx\"\nextra_files = [{}]\n\n\
         [[inputs]]\nname = \"x\"\ndtype = \"float32\"\nshape = [\"batch\", 3]\n\n\
         [[outputs]]\nname = \"y\"\ndtype = \"float32\"\nshape = [\"batch\", 3]\n",
        s.version,
        extra.join(", ")
    );
    let mut all: Vec<(String, Vec<u8>)> = s.files.clone();
    all.push(("model.onnx".into(), model));
    all.push(("ferry.toml".into(), toml.into_bytes()));
    if reverse {
        all.reverse();
    }
    for (p, data) in &all {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn same_source_same_bytes_and_round_trip(s in arb_source(), mtime in 0u64..2_000_000_000, mode in prop::sample::select(vec![0o600u32, 0o644, 0o755])) {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("elsewhere/b"));
        write_source(&s, &a, false, 0, 0o644);
        write_source(&s, &b, true, mtime, mode);
        let (oa, ob) = (t.path().join("a.ferry"), t.path().join("b.ferry"));
        ferry_packager::pack(&a, &oa).unwrap();
        ferry_packager::pack(&b, &ob).unwrap();
        let bytes = std::fs::read(&oa).unwrap();
        prop_assert!(bytes == std::fs::read(&ob).unwrap(), "bundles differ");

        // Round trip: every file reads back as written, and the unpacked view re-packs to the same bytes.
        let bundle = ferry_bundle::Bundle::open(&oa).unwrap();
        bundle.verify_digests().unwrap();
        for (p, data) in &s.files {
            prop_assert_eq!(&*bundle.file(p).unwrap(), data.as_slice());
        }
        // The generated documents read back through the types `ferry audit` reads them with, and those
        // types write them again byte for byte: reader and writer cannot drift apart.
        use ferry_packager::provenance::{Bom, PROVENANCE_PATH, SBOM_PATH, SlsaProvenance, Statement};
        let prov = bundle.file(PROVENANCE_PATH).unwrap();
        let typed: Statement<SlsaProvenance> = serde_json::from_slice(&prov).unwrap();
        prop_assert_eq!(ferry_spec::to_canonical_json(&typed).unwrap(), prov.to_vec());
        let sbom = bundle.file(SBOM_PATH).unwrap();
        let typed: Bom = serde_json::from_slice(&sbom).unwrap();
        prop_assert_eq!(ferry_spec::to_canonical_json(&typed).unwrap(), sbom.to_vec());

        let view = t.path().join("view");
        bundle.unpack(&view, &[]).unwrap();
        let oc = t.path().join("c.ferry");
        ferry_packager::pack(&view, &oc).unwrap();
        prop_assert!(bytes == std::fs::read(&oc).unwrap(), "repack differs");
    }

    #[test]
    fn any_flipped_byte_is_detected(s in arb_source(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let t = tempfile::tempdir().unwrap();
        write_source(&s, t.path(), false, 0, 0o644);
        let out = t.path().join("x.ferry");
        ferry_packager::pack(t.path(), &out).unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let detected = match ferry_bundle::Bundle::from_bytes(bytes) {
            Err(_) => true,
            Ok(b) => b.verify_digests().is_err(),
        };
        prop_assert!(detected, "flip of bit {} at byte {} went unnoticed", bit, i);
    }
}

/// Where `index.json`'s header starts: every byte before it is kept when a referrer is added.
fn index_header(bytes: &[u8]) -> usize {
    let entries = ferry_bundle::tar::parse(bytes).unwrap();
    let index = entries.iter().find(|e| e.name == "index.json").unwrap();
    index.offset as usize - 512
}

fn referrer(blob: Vec<u8>, n: usize) -> ferry_bundle::Referrer {
    ferry_bundle::Referrer {
        artifact_type: "application/vnd.example.sig".into(),
        media_type: "application/vnd.example.sig".into(),
        blob,
        annotations: [("n".to_owned(), n.to_string())].into(),
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Adding referrers (signatures, attestations) keeps every byte before `index.json`, lists them in
    /// the order they were added, and gives the same bytes whether the bundle was mapped from a file
    /// (kernel copy) or held in memory; adding one that is there already changes nothing.
    #[test]
    fn referrers_keep_signed_bytes(s in arb_source(), blobs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..4)) {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        write_source(&s, &src, false, 0, 0o644);
        let mut current = t.path().join("0.ferry");
        ferry_packager::pack(&src, &current).unwrap();
        let manifest = ferry_bundle::Bundle::open(&current).unwrap().manifest_digest().to_owned();
        for (k, blob) in blobs.iter().enumerate() {
            let before = std::fs::read(&current).unwrap();
            let r = referrer(blob.clone(), k);
            let next = t.path().join(format!("{}.ferry", k + 1));
            let digest = ferry_bundle::Bundle::open(&current).unwrap().write_with_referrer(&next, &r).unwrap();
            let after = std::fs::read(&next).unwrap();
            let keep = index_header(&before);
            prop_assert!(after[..keep] == before[..keep], "bytes before index.json changed");
            let in_memory = t.path().join("memory.ferry");
            ferry_bundle::Bundle::from_bytes(before).unwrap().write_with_referrer(&in_memory, &r).unwrap();
            prop_assert!(std::fs::read(&in_memory).unwrap() == after, "file and in-memory rewrites differ");
            let opened = ferry_bundle::Bundle::open(&next).unwrap();
            opened.verify_digests().unwrap();
            prop_assert_eq!(opened.manifest_digest(), manifest.as_str());
            prop_assert_eq!(opened.referrers().len(), k + 1);
            prop_assert_eq!(&opened.referrers()[k].digest, &digest);
            current = next;
        }
        // Again, in place: nothing changes, and no temporary file is left.
        let last = std::fs::read(&current).unwrap();
        let r = referrer(blobs[blobs.len() - 1].clone(), blobs.len() - 1);
        ferry_bundle::Bundle::open(&current).unwrap().write_with_referrer(&current, &r).unwrap();
        prop_assert!(std::fs::read(&current).unwrap() == last);
        prop_assert!(!listing(t.path()).iter().any(|n| n.starts_with(".ferry-")));
    }
}

/// Adding a referrer does not hash file blobs (a signature covers the digests the manifest records), so
/// it neither hides nor repairs a tampered file: the signed copy still fails its digest check, naming the
/// file, and the tampered input is left as it was.
#[test]
fn a_referrer_never_hides_a_tampered_file() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let s = GenSource { files: vec![("weights.bin".into(), vec![7u8; 5000])], version: "1.0.0".into() };
    write_source(&s, &src, false, 0, 0o644);
    let good = t.path().join("good.ferry");
    ferry_packager::pack(&src, &good).unwrap();
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.windows(16).position(|w| w == [7u8; 16]).unwrap() + 100;
    bytes[at] ^= 0x10;
    let bad = t.path().join("bad.ferry");
    std::fs::write(&bad, &bytes).unwrap();
    let out = t.path().join("out.ferry");
    let original = ferry_bundle::Bundle::open(&good).unwrap();
    ferry_bundle::Bundle::open(&bad).unwrap().write_with_referrer(&out, &referrer(vec![1], 0)).unwrap();
    let signed = ferry_bundle::Bundle::open(&out).unwrap();
    assert_eq!(signed.manifest_digest(), original.manifest_digest());
    match signed.verify_digests() {
        Err(ferry_bundle::BundleError::Digest { what, .. }) => {
            assert!(what.contains("weights.bin"), "{what}")
        }
        other => panic!("expected a digest error, got {other:?}"),
    }
    assert_eq!(std::fs::read(&bad).unwrap(), bytes, "the input was modified");
    assert_eq!(listing(t.path()), ["bad.ferry", "good.ferry", "out.ferry", "src"]);
}

/// Extra-file names chosen to break the file-view rules: letter-case twins, names model signing ignores.
/// (A component over 255 bytes cannot exist on disk; `ferry.toml` naming one is an e2e test.)
fn arb_hostile_names() -> impl Strategy<Value = Vec<String>> {
    let name = prop::sample::select(vec![
        "notes.txt".to_owned(),
        "NOTES.txt".to_owned(),
        "Config.bin".to_owned(),
        "config.bin".to_owned(),
        "a/.github/ci.yml".to_owned(),
        "a/.gitattributes".to_owned(),
        "b/.git/HEAD".to_owned(),
        "Ferry.toml".to_owned(),
        format!("c/{}", "k".repeat(255)),
        "d/e.bin".to_owned(),
    ]);
    prop::collection::btree_set(name, 1..4).prop_map(|s| s.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// `pack` refuses exactly the sources whose file view (with the files it generates) breaks the one
    /// set of path rules the reader enforces, naming the paths and writing nothing; what it packs opens.
    #[test]
    fn pack_and_open_share_the_path_rules(names in arb_hostile_names()) {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let s = GenSource { files: names.iter().map(|n| (n.clone(), n.as_bytes().to_vec())).collect(), version: "1.0.0".into() };
        write_source(&s, &src, false, 0, 0o644);
        let mut view: Vec<&str> = names.iter().map(String::as_str).collect();
        view.extend(["ferry.toml", "model.onnx", ".ferry/provenance.json", ".ferry/sbom.cdx.json"]);
        let rules = ferry_spec::check_file_view(view.iter().copied());
        let out = t.path().join("out.ferry");
        match ferry_packager::pack(&src, &out) {
            Ok(_) => {
                prop_assert!(rules.is_ok(), "packed {:?} although {:?}", names, rules);
                let b = ferry_bundle::Bundle::open(&out).unwrap();
                b.verify_digests().unwrap();
            }
            Err(e) => {
                let rule = rules.expect_err("pack refused a valid view");
                let text = e.to_string();
                prop_assert!(text.contains(&format!("ferry.toml: file view: {rule}")), "{} vs {}", text, rule);
                prop_assert!(!out.exists());
            }
        }
    }
}
