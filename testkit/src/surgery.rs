//! Rebuilding a well-formed bundle around one deliberate defect: everything an attacker (or a buggy
//! writer) can recompute is recomputed, so a test sees only the defect it made.

use crate::tar::{Member, raw_tar};
use ferry_bundle::oci::{self, Descriptor, ImageManifest, Index};
use ferry_bundle::{Bundle, FileData, FileSource};
use ferry_spec::Manifest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Rebuilds a bundle after `edit` changes its Ferry manifest and file blobs (by path, as stored).
///
/// The config blob, the OCI manifest and `index.json` are recomputed (and the `sha256` of an
/// uncompressed file), so only the edit is "wrong". Referrers are dropped. The result is raw tar bytes
/// written by hand, not by the bundle writer, so it may break the writer's rules.
pub fn reassemble(
    bundle: &[u8],
    edit: impl FnOnce(&mut Manifest, &mut BTreeMap<String, Vec<u8>>),
) -> Vec<u8> {
    reassemble_with(bundle, edit, |_| {})
}

/// [`reassemble`], also editing the OCI image manifest (its digest, and the index, recomputed).
pub fn reassemble_with(
    bundle: &[u8],
    edit: impl FnOnce(&mut Manifest, &mut BTreeMap<String, Vec<u8>>),
    edit_image: impl FnOnce(&mut ImageManifest),
) -> Vec<u8> {
    let b = Bundle::from_bytes(bundle.to_vec()).unwrap();
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
    let mut seen = BTreeSet::new();
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

/// Rewrites the bundle file `bundle` to `out` through the real writer, after `edit` changes its Ferry
/// manifest and files (by path, uncompressed content): what `ferry pack` would refuse to write.
///
/// `edit` gets the manifest with `files` emptied (the writer fills them in from the files it is given),
/// so this makes a bundle that is canonical in every byte; no referrers are kept.
pub fn rewrite(bundle: &Path, out: &Path, edit: impl FnOnce(&mut Manifest, &mut BTreeMap<String, Vec<u8>>)) {
    let b = Bundle::open(bundle).unwrap();
    let mut files: BTreeMap<String, Vec<u8>> =
        b.manifest().files.iter().map(|f| (f.path.clone(), b.file(&f.path).unwrap().into_owned())).collect();
    let mut manifest = b.manifest().clone();
    manifest.files.clear();
    edit(&mut manifest, &mut files);
    let sources =
        files.into_iter().map(|(path, bytes)| FileSource { path, data: FileData::Memory(bytes) }).collect();
    ferry_bundle::write_bundle(out, sources, manifest, &[]).unwrap();
}
