//! Helpers shared by the end-to-end tests: running the `ferry` binary, fixture paths, and surgery on
//! bundles to make malformed ones.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::oci::{self, Descriptor, ImageManifest, Index};
use ferry_bundle::tar::{self, Kind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

pub fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

/// Runs `ferry ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    ferry().args(args).output().expect("ferry runs")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Copies a directory tree (files only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Packs `src` into `out` through the CLI, asserting success.
pub fn pack(src: &Path, out: &Path) {
    let o = run(&["pack", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "pack failed: {}", stderr(&o));
}

/// Lists what a directory holds, recursively, as sorted relative paths.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// A raw tar member for hand-made archives.
pub struct Member {
    pub name: String,
    pub data: Vec<u8>,
    pub typeflag: u8,
}

/// Writes members as a tar with valid checksums but none of the writer's safety rules.
pub fn raw_tar(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let kind = if m.typeflag == b'5' { Kind::Dir } else { Kind::File };
        // Build a canonical header for a placeholder name, then write the real (possibly hostile) name.
        let mut h = tar::header("x", m.data.len() as u64, kind).unwrap();
        h[..100].fill(0);
        let n = m.name.as_bytes();
        h[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
        h[156] = m.typeflag;
        if m.typeflag == b'2' || m.typeflag == b'1' {
            h[157..157 + 11].copy_from_slice(b"/etc/passwd");
        }
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&m.data);
        out.resize(out.len() + tar::padding(m.data.len() as u64) as usize, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The members of a bundle as (name, data, typeflag), in archive order.
pub fn members_of(bundle: &[u8]) -> Vec<Member> {
    tar::parse(bundle)
        .unwrap()
        .into_iter()
        .map(|e| Member {
            name: if e.kind == Kind::Dir { format!("{}/", e.name) } else { e.name.clone() },
            data: bundle[e.offset as usize..(e.offset + e.size) as usize].to_vec(),
            typeflag: if e.kind == Kind::Dir { b'5' } else { b'0' },
        })
        .collect()
}

/// Rebuilds a well-formed bundle after `edit` changes its Ferry manifest and file blobs: the config
/// blob, the OCI manifest and index.json are recomputed, so only the edit is "wrong".
pub fn reassemble(
    bundle: &[u8],
    edit: impl FnOnce(&mut ferry_spec::Manifest, &mut BTreeMap<String, Vec<u8>>),
) -> Vec<u8> {
    reassemble_with(bundle, edit, |_| {})
}

/// [`reassemble`], also editing the OCI bundle manifest (its digest, and the index, recomputed).
pub fn reassemble_with(
    bundle: &[u8],
    edit: impl FnOnce(&mut ferry_spec::Manifest, &mut BTreeMap<String, Vec<u8>>),
    edit_image: impl FnOnce(&mut ImageManifest),
) -> Vec<u8> {
    let b = ferry_bundle::Bundle::from_bytes(bundle.to_vec()).unwrap();
    let mut manifest = b.manifest().clone();
    let mut blobs: BTreeMap<String, Vec<u8>> =
        manifest.files.iter().map(|f| (f.path.clone(), b.blob(&f.blob).unwrap().to_vec())).collect();
    edit(&mut manifest, &mut blobs);
    let mut members = vec![
        Member { name: "oci-layout".into(), data: oci::LAYOUT_FILE.to_vec(), typeflag: b'0' },
        Member { name: "blobs/".into(), data: vec![], typeflag: b'5' },
        Member { name: "blobs/sha256/".into(), data: vec![], typeflag: b'5' },
    ];
    let mut layers = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut add = |data: &[u8], members: &mut Vec<Member>| -> String {
        let d = oci::digest_of(data);
        if seen.insert(d.clone()) {
            members.push(Member {
                name: format!("blobs/sha256/{}", &d[7..]),
                data: data.to_vec(),
                typeflag: b'0',
            });
        }
        d
    };
    for f in manifest.files.iter_mut() {
        let data = &blobs[&f.path];
        let d = add(data, &mut members);
        f.blob = d.clone();
        if f.compression == ferry_spec::Compression::None {
            f.sha256 = d[7..].to_owned();
        }
        let media = match f.compression {
            ferry_spec::Compression::None => ferry_spec::media::FILE,
            ferry_spec::Compression::Zstd => ferry_spec::media::FILE_ZSTD,
        };
        layers.push(Descriptor {
            media_type: media.into(),
            digest: d,
            size: data.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::from([(ferry_spec::media::TITLE.to_owned(), f.path.clone())]),
        });
    }
    let config = ferry_spec::to_canonical_json(&manifest).unwrap();
    let config_digest = add(&config, &mut members);
    let mut image: ImageManifest = b.image_manifest().clone();
    image.config.digest = config_digest;
    image.config.size = config.len() as u64;
    image.layers = layers;
    // What the writer derives from the Ferry manifest (and what a forger recomputes).
    image.annotations.insert(ferry_spec::media::TITLE.to_owned(), manifest.model.name.clone());
    image.annotations.insert("org.opencontainers.image.version".to_owned(), manifest.model.version.clone());
    edit_image(&mut image);
    let image_bytes = ferry_spec::to_canonical_json(&image).unwrap();
    let image_digest = add(&image_bytes, &mut members);
    let index = Index {
        schema_version: 2,
        media_type: Some(ferry_spec::media::OCI_INDEX.into()),
        manifests: vec![Descriptor {
            media_type: ferry_spec::media::OCI_MANIFEST.into(),
            digest: image_digest,
            size: image_bytes.len() as u64,
            artifact_type: Some(ferry_spec::media::ARTIFACT_TYPE.into()),
            annotations: BTreeMap::from([(
                ferry_spec::media::REF_NAME.to_owned(),
                manifest.model.version.clone(),
            )]),
        }],
    };
    members.push(Member {
        name: "index.json".into(),
        data: ferry_spec::to_canonical_json(&index).unwrap(),
        typeflag: b'0',
    });
    raw_tar(&members)
}
