#!/usr/bin/env python3
"""Turns .ferry files into seeds for the `bundle_content` fuzz target.

Usage: fuzz/seed_bundle_content.py OUT_DIR BUNDLE.ferry...

A seed is the bundle's Ferry manifest, then each file's stored blob in manifest order, then each
referrer's layer, separated by b"\\0@@\\0" (see fuzz_targets/bundle_content.rs).
"""

import json
import os
import sys
import tarfile

SEP = b"\0@@\0"


def seed(path):
    with tarfile.open(path) as t:
        def blob(digest):
            return t.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()

        index = json.loads(t.extractfile("index.json").read())
        manifests = [(d, json.loads(blob(d["digest"]))) for d in index["manifests"]]
        bundle = next(m for _, m in manifests if "subject" not in m)
        config = blob(bundle["config"]["digest"])
        files = [blob(f["blob"]) for f in json.loads(config)["files"]]
        referrers = [blob(m["layers"][0]["digest"]) for _, m in manifests if "subject" in m]
    return SEP.join([config, *files, *referrers])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for p in sys.argv[2:]:
        name = os.path.splitext(os.path.basename(p))[0] + ".seed"
        with open(os.path.join(out, name), "wb") as f:
            f.write(seed(p))


if __name__ == "__main__":
    main()
