//! A well-formed bundle assembled around fuzzed content, so the reader's checks behind the digests run:
//! `bundle` alone almost never gets past SHA-256. The input is pieces split at `SEP`: the Ferry manifest
//! (JSON), then one blob per entry of its `files`, then the layers of referrers (signatures). The
//! harness computes what an attacker can compute (each entry's `blob` digest, an uncompressed entry's
//! `sha256` and `size`, a zstd entry's `sha256` when it inflates), builds the OCI manifests, the
//! canonical `index.json` and the tar, and opens it with `Bundle::from_bytes`. A bundle whose digests
//! verify must hand out every file with exactly the bytes its manifest entry describes.
//!
//! `fuzz/seed_bundle_content.py` turns `.ferry` files into seeds of this form.
#![no_main]

use ferry_bundle::oci::{self, Descriptor, ImageManifest, Index};
use ferry_bundle::tar::{self, Kind};
use ferry_spec::media;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::BTreeMap;

const SEP: &[u8] = b"\0@@\0";
const SIGSTORE_BUNDLE: &str = ferry_sign::bundle::BUNDLE_MEDIA_TYPE;

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(SEP.len()).position(|w| w == SEP) {
        out.push(&rest[..i]);
        rest = &rest[i + SEP.len()..];
    }
    out.push(rest);
    out
}

fn hex_sha256(bytes: &[u8]) -> String {
    oci::digest_of(bytes).trim_start_matches("sha256:").to_owned()
}

fn desc(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.to_owned(),
        digest: oci::digest_of(bytes),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: BTreeMap::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let pieces = split(data);
    let Ok(mut manifest) = serde_json::from_slice::<Value>(pieces[0]) else {
        return;
    };
    let n_files = manifest.get("files").and_then(Value::as_array).map_or(0, Vec::len);
    let blobs: Vec<&[u8]> = (0..n_files).map(|i| pieces.get(1 + i).copied().unwrap_or(b"")).collect();
    let referrer_layers: Vec<&[u8]> = pieces.iter().skip(1 + n_files).copied().collect();

    // What an attacker recomputes: digests and sizes of the file entries.
    let mut layers = Vec::new();
    if let Some(files) = manifest.get_mut("files").and_then(Value::as_array_mut) {
        for (f, blob) in files.iter_mut().zip(&blobs) {
            let zstd = f.get("compression").and_then(Value::as_str) == Some("zstd");
            let path = f.get("path").and_then(Value::as_str).unwrap_or("").to_owned();
            if let Some(o) = f.as_object_mut() {
                o.insert("blob".into(), Value::String(oci::digest_of(blob)));
                if !zstd {
                    o.insert("sha256".into(), Value::String(hex_sha256(blob)));
                    o.insert("size".into(), Value::from(blob.len() as u64));
                } else if let Ok(plain) = zstd::bulk::decompress(blob, 1 << 20) {
                    o.insert("sha256".into(), Value::String(hex_sha256(&plain)));
                    o.entry("size").or_insert(Value::from(plain.len() as u64));
                }
            }
            let mut d = desc(if zstd { media::FILE_ZSTD } else { media::FILE }, blob);
            d.annotations.insert(media::TITLE.to_owned(), path);
            layers.push(d);
        }
    }
    let version = manifest.pointer("/model/version").and_then(Value::as_str).unwrap_or("").to_owned();
    let name = manifest.pointer("/model/name").and_then(Value::as_str).unwrap_or("").to_owned();
    let Ok(config) = ferry_spec::to_canonical_json(&manifest) else {
        return;
    };
    let image = ImageManifest {
        schema_version: 2,
        media_type: media::OCI_MANIFEST.to_owned(),
        artifact_type: Some(media::ARTIFACT_TYPE.to_owned()),
        config: desc(media::FERRY_MANIFEST, &config),
        layers,
        subject: None,
        annotations: BTreeMap::from([
            ("org.opencontainers.image.title".to_owned(), name),
            ("org.opencontainers.image.version".to_owned(), version.clone()),
        ]),
    };
    let image_bytes = ferry_spec::to_canonical_json(&image).expect("an image manifest serializes");
    let mut subject = desc(media::OCI_MANIFEST, &image_bytes);
    subject.artifact_type = Some(media::ARTIFACT_TYPE.to_owned());
    let mut index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.to_owned()),
        manifests: vec![Descriptor {
            annotations: BTreeMap::from([(media::REF_NAME.to_owned(), version)]),
            ..subject.clone()
        }],
    };

    let mut blob_members: Vec<&[u8]> = blobs.clone();
    blob_members.push(&config);
    blob_members.push(&image_bytes);
    let mut referrer_manifests = Vec::new();
    for layer in &referrer_layers {
        let m = ImageManifest {
            schema_version: 2,
            media_type: media::OCI_MANIFEST.to_owned(),
            artifact_type: Some(SIGSTORE_BUNDLE.to_owned()),
            config: desc(oci::EMPTY_MEDIA_TYPE, oci::EMPTY_JSON),
            layers: vec![desc(SIGSTORE_BUNDLE, layer)],
            subject: Some(subject.clone()),
            annotations: BTreeMap::new(),
        };
        let bytes = ferry_spec::to_canonical_json(&m).expect("a referrer manifest serializes");
        let mut d = desc(media::OCI_MANIFEST, &bytes);
        d.artifact_type = Some(SIGSTORE_BUNDLE.to_owned());
        if !index.manifests.iter().any(|x| x.digest == d.digest) {
            index.manifests.push(d);
        }
        referrer_manifests.push(bytes);
    }
    blob_members.push(oci::EMPTY_JSON);
    blob_members.extend(referrer_layers.iter().copied());
    blob_members.extend(referrer_manifests.iter().map(Vec::as_slice));
    let index_bytes = ferry_spec::to_canonical_json(&index).expect("an index serializes");

    let mut archive = Vec::new();
    let mut member = |name: &str, bytes: &[u8], kind: Kind| {
        archive.extend_from_slice(&tar::header(name, bytes.len() as u64, kind).expect("a short member name"));
        archive.extend_from_slice(bytes);
        archive.resize(archive.len() + tar::padding(bytes.len() as u64) as usize, 0);
    };
    member("oci-layout", oci::LAYOUT_FILE, Kind::File);
    member("blobs/", b"", Kind::Dir);
    member("blobs/sha256/", b"", Kind::Dir);
    let mut written = std::collections::HashSet::new();
    for b in blob_members {
        let hex = hex_sha256(b);
        if written.insert(hex.clone()) {
            member(&format!("blobs/sha256/{hex}"), b, Kind::File);
        }
    }
    member("index.json", &index_bytes, Kind::File);
    archive.resize(archive.len() + 1024, 0);

    let Ok(bundle) = ferry_bundle::Bundle::from_bytes(archive) else {
        return;
    };
    let verified = bundle.verify_digests().is_ok();
    for f in &bundle.manifest().files {
        let read = bundle.file(&f.path);
        if verified {
            let bytes = read.expect("a file of a verified bundle reads");
            assert_eq!(bytes.len() as u64, f.size, "`{}`: size differs from its manifest entry", f.path);
            assert_eq!(hex_sha256(&bytes), f.sha256, "`{}`: bytes differ from its manifest entry", f.path);
        }
    }
    for r in bundle.referrers() {
        if let Ok(blob) = bundle.blob(&r.blob_digest) {
            let _ = ferry_sign::parse(blob);
        }
    }
});
