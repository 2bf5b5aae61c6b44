"""A .safetensors reader with numpy alone, from the format's published layout (an 8-byte little-endian
header length, a JSON header, then the data): the goldens are read independently of Ferry."""

import json
import struct

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        start, end = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + start : 8 + n + end], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return out
