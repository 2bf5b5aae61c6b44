#!/usr/bin/env python3
"""Writes the reference files that tests/formats.rs reads, using NumPy and the safetensors library.

Run from this directory: `python3 gen_reference.py` (numpy >= 2, safetensors >= 0.4). The output is
committed; `expected.json` records every tensor in Ferry's explicit JSON form (NaN as null, infinities as
strings) so the Rust test can compare what it reads with what the real libraries wrote.
"""
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
import zipfile

import numpy as np
from numpy.lib import format as npformat
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference")
os.makedirs(REF, exist_ok=True)

nan, inf = float("nan"), float("inf")

arrays = {
    "f16": np.array([[0, 1, -2.5], [65504, 6e-8, nan], [inf, -inf, -0.0]], dtype="<f2"),
    "f32": np.array([[0.1, -1.5, 3.4028235e38], [1e-45, nan, -inf]], dtype="<f4"),
    "f64": np.array([[0.1, 1e308], [5e-324, -0.0]], dtype="<f8"),
    "i8": np.array([-128, 127, 0, 5], dtype="|i1"),
    "i16": np.array([-32768, 32767, 1], dtype="<i2"),
    "i32": np.array([-(2**31), 2**31 - 1, 7], dtype="<i4"),
    "i64": np.array([-(2**63), 2**63 - 1, 42], dtype="<i8"),
    "u8": np.array([0, 255, 9], dtype="|u1"),
    "u16": np.array([0, 65535], dtype="<u2"),
    "u32": np.array([0, 2**32 - 1], dtype="<u4"),
    "u64": np.array([0, 2**64 - 1, 12345678901234567890], dtype="<u8"),
    "bool": np.array([[True, False], [False, True]]),
    "str": np.array(["a", "h\u00e9llo", "", "\u65e5\u672c\u8a9e", "\U0001f680"]),
    "scalar": np.array(3.5),
    "empty": np.zeros((0, 3), dtype="<f4"),
    "fortran": np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4)),
    "be_f8": np.arange(6, dtype=">f8").reshape(2, 3) / 4,
    "be_i2": np.array([1, -2, 300], dtype=">i2"),
    "be_f2": np.array([0.5, -3, 1000], dtype=">f2"),
    "be_u3": np.array(["ab", "xyz"], dtype=">U3"),
}


def to_json(name, a):
    """Ferry's explicit JSON form of an array, in C order."""
    dtype = {"U": "string", "b": "bool"}.get(a.dtype.kind) or {
        "f2": "float16", "f4": "float32", "f8": "float64",
        "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64",
        "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64",
    }[a.dtype.str[1:]]

    def value(x):
        if isinstance(x, float):
            if math.isnan(x):
                return None
            if math.isinf(x):
                return "Infinity" if x > 0 else "-Infinity"
        return x

    flat = np.ascontiguousarray(a).reshape(-1).tolist()
    return {"dtype": dtype, "shape": list(a.shape), "data": [value(x) for x in flat]}


expected = {}

for name, a in arrays.items():
    np.save(os.path.join(REF, f"{name}.npy"), a)
    expected[f"{name}.npy"] = {name: to_json(name, a)}

# Header versions 2.0 and 3.0 (NumPy picks 1.0 whenever it can, so force them).
for version in [(2, 0), (3, 0)]:
    fname = f"v{version[0]}.npy"
    a = np.arange(4, dtype="<f8")
    with open(os.path.join(REF, fname), "wb") as f:
        npformat.write_array(f, a, version=version)
    expected[fname] = {f"v{version[0]}": to_json(fname, a)}

npz = {"a": arrays["f32"], "b": arrays["i64"], "nested/name": arrays["bool"], "s": arrays["str"]}
np.savez(os.path.join(REF, "stored.npz"), **npz)
expected["stored.npz"] = {k: to_json(k, v) for k, v in npz.items()}

compressible = {"zeros": np.zeros(1000, dtype="<f4"), "ramp": np.arange(100, dtype="<i2")}
np.savez_compressed(os.path.join(REF, "deflated.npz"), **compressible)
expected["deflated.npz"] = {k: to_json(k, v) for k, v in compressible.items()}

# Written to a non-seekable stream, zipfile falls back to data descriptors after each member.
class _Unseekable(io.RawIOBase):
    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


streamed = {"a": arrays["f64"], "b": arrays["u16"]}
sink = _Unseekable()
with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as z:
    for k, v in streamed.items():
        member = io.BytesIO()
        np.save(member, v)
        with z.open(f"{k}.npy", "w") as m:
            m.write(member.getvalue())
with open(os.path.join(REF, "streamed.npz"), "wb") as f:
    f.write(bytes(sink.buf))
expected["streamed.npz"] = {k: to_json(k, v) for k, v in streamed.items()}

# Info-ZIP's `zip` adds extended-timestamp and uid/gid extra fields; skipped where the tool is missing.
if shutil.which("zip"):
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "ones.npy"), np.ones((2, 2)))
        out = os.path.join(REF, "infozip.npz")
        if os.path.exists(out):
            os.remove(out)
        subprocess.run(["zip", "-q", out, "ones.npy"], cwd=tmp, check=True)
    expected["infozip.npz"] = {"ones": to_json("ones", np.ones((2, 2)))}

st = {k: arrays[k] for k in ["f16", "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bool", "empty"]}
st["scalar"] = np.array(2.25, dtype="<f4")
save_file(st, os.path.join(REF, "model.safetensors"), metadata={"format": "np", "note": "reference"})
expected["model.safetensors"] = {k: to_json(k, v) for k, v in st.items()}

with open(os.path.join(REF, "expected.json"), "w") as f:
    lines = [f"{json.dumps(k)}: {json.dumps(expected[k], sort_keys=True)}" for k in sorted(expected)]
    f.write("{\n" + ",\n".join(lines) + "\n}\n")
