//! `ferry_bundle::Bundle::from_bytes` on arbitrary bytes (the tar subset, the OCI layout, `index.json`,
//! the manifests and the Ferry manifest), then, for a bundle that opens, everything a consumer does
//! with it: digests, the file listing, every file (zstd included), blobs and referrers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = ferry_bundle::Bundle::from_bytes(data.to_vec()) else {
        return;
    };
    let _ = bundle.verify_digests();
    let _ = bundle.file_blob_digests();
    let _ = bundle.manifest_digest();
    let _ = bundle.size();
    let image = bundle.image_manifest();
    let _ = bundle.blob(&image.config.digest);
    for layer in &image.layers {
        let _ = bundle.blob(&layer.digest);
    }
    for f in &bundle.manifest().files {
        let _ = bundle.file(&f.path);
    }
    for r in bundle.referrers() {
        if let Ok(blob) = bundle.blob(&r.blob_digest) {
            // Signatures are untrusted bytes too.
            let _ = ferry_sign::parse(blob);
        }
    }
});
