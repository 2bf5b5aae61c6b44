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
