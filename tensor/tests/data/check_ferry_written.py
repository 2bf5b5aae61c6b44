#!/usr/bin/env python3
"""Loads the files Ferry wrote (ferry_written/, pinned by tests/formats.rs) with NumPy, safetensors and the
standard json module, and checks every value. Run from this directory after `FERRY_BLESS=1 cargo test`."""
import json
import math
import os
import zipfile

import numpy as np
from safetensors.numpy import load_file

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ferry_written")

expected = {
    "a_i64": np.array([-(2**63), 0, 2**63 - 1], dtype="<i8"),
    "b_f32": np.array([[0.1, np.nan], [np.inf, -0.0]], dtype="<f4"),
    "c_bool": np.array(True),
    "d_f16": np.array([0.1, -np.inf], dtype="<f2"),
    "e_u8": np.zeros((0, 3), dtype="|u1"),
}
strings = np.array(["h\u00e9llo", "\U0001f680"])


def same(a, b):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.tobytes() == b.tobytes(), (a, b)


npz = np.load(os.path.join(D, "ferry_written.npz"), allow_pickle=False)
assert sorted(npz.files) == sorted([*expected, "f_str"]), npz.files
for k, v in expected.items():
    same(npz[k], v)
same(npz["f_str"], strings)
with zipfile.ZipFile(os.path.join(D, "ferry_written.npz")) as z:
    assert z.testzip() is None
    assert [i.filename for i in z.infolist()] == sorted(f"{k}.npy" for k in [*expected, "f_str"])
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and i.compress_type == zipfile.ZIP_STORED for i in z.infolist())

same(np.load(os.path.join(D, "ferry_written.npy"), allow_pickle=False), expected["b_f32"])

st = load_file(os.path.join(D, "ferry_written.safetensors"))
assert sorted(st) == sorted(expected), list(st)
for k, v in expected.items():
    same(st[k], v)

with open(os.path.join(D, "ferry_written.json")) as f:
    doc = json.load(f)
assert doc["b_f32"] == {"dtype": "float32", "shape": [2, 2], "data": [0.1, None, "Infinity", -0.0]}
assert math.copysign(1, doc["b_f32"]["data"][3]) == -1
assert np.float16(doc["d_f16"]["data"][0]) == np.float16(0.1)
assert doc["f_str"]["data"] == ["h\u00e9llo", "\U0001f680"]
assert doc["a_i64"]["data"] == [-(2**63), 0, 2**63 - 1]
print("ok: numpy, safetensors and json read what Ferry wrote")
