//! The helpers do what the tests that use them rely on: an unedited surgery gives back a valid bundle
//! with the same manifest, the raw tar writer round-trips a bundle's members, and a flip changes one bit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferry_bundle::Bundle;
use ferry_testkit::{
    copy_dir, copy_source, find, fixture, flip_byte_at, listing, members_of, pack, raw_tar, reassemble,
    reassemble_with, rewrite, root, tempdir,
};

#[test]
fn paths_name_the_repository_and_its_fixtures() {
    assert!(root().join("Cargo.toml").is_file());
    assert!(fixture("credit-risk").join("ferry.toml").is_file());
}

#[test]
fn copies_list_like_their_originals() {
    let copy = copy_source("credit-risk");
    assert_eq!(listing(copy.path()), listing(&fixture("credit-risk")));
    let nested = tempdir();
    let to = nested.path().join("a/b");
    copy_dir(&fixture("credit-risk"), &to);
    assert_eq!(listing(&to), listing(&fixture("credit-risk")));
    assert!(listing(&nested.path().join("missing")).is_empty());
}

#[test]
fn unedited_surgery_keeps_a_valid_bundle_with_the_same_manifest() {
    let (dir, bundle) = pack(&fixture("credit-risk"));
    let bytes = std::fs::read(&bundle).unwrap();
    let original = Bundle::open(&bundle).unwrap();

    let reassembled = Bundle::from_bytes(reassemble(&bytes, |_, _| {})).unwrap();
    reassembled.verify_digests().unwrap();
    assert_eq!(reassembled.manifest(), original.manifest());
    let with_image = Bundle::from_bytes(reassemble_with(&bytes, |_, _| {}, |_| {})).unwrap();
    assert_eq!(with_image.manifest_digest(), reassembled.manifest_digest());

    let out = dir.path().join("rewritten.ferry");
    rewrite(&bundle, &out, |_, _| {});
    let rewritten = Bundle::open(&out).unwrap();
    rewritten.verify_digests().unwrap();
    assert_eq!(rewritten.manifest(), original.manifest());
}

#[test]
fn raw_tar_round_trips_a_bundles_members() {
    let (_dir, bundle) = pack(&fixture("credit-risk"));
    let bytes = std::fs::read(&bundle).unwrap();
    let members = members_of(&bytes);
    assert_eq!(members.first().unwrap().name, "oci-layout");
    assert!(members.iter().any(|m| m.name == "blobs/" && m.typeflag == b'5'));
    let again = raw_tar(&members);
    assert_eq!(members_of(&again), members);
    Bundle::from_bytes(again).unwrap().verify_digests().unwrap();
}

#[test]
fn flip_byte_at_changes_one_bit_where_find_points() {
    let dir = tempdir();
    let path = dir.path().join("bytes");
    std::fs::write(&path, b"abcdef").unwrap();
    let at = find(b"abcdef", b"cd");
    assert_eq!(at, 2);
    flip_byte_at(&path, at);
    assert_eq!(std::fs::read(&path).unwrap(), b"abbdef");
}
