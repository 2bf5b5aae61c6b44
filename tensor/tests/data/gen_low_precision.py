#!/usr/bin/env python3
"""Writes the bfloat16, float8, int4 and uint4 reference files that tests/low_precision.rs reads, using
NumPy with ml_dtypes (installed with `onnx`) and the safetensors library.

Run from this directory: `python3 gen_low_precision.py`. The output, under reference/low_precision/, is
committed:

- one `.npy` per array, as `np.save` writes it: `<V2` for bfloat16, `<V1` for float8e4m3fn,
  float8e4m3fnuz, float8e5m2fnuz, int4 and uint4 (one element per byte), and `<f1` for float8e5m2;
- `all.npz` (`np.savez`) holding every array;
- `all.safetensors` (`safetensors.numpy.save_file`) holding the bfloat16 and float8 arrays (the format
  has no 4-bit integers);
- `expected.json`: each array's Ferry dtype, shape and element bits (uint16 for bfloat16, uint8 for
  float8, the values for int4/uint4), and the descr `np.save` wrote.
"""
import json
import os

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "reference", "low_precision")
os.makedirs(OUT, exist_ok=True)

nan, inf = float("nan"), float("inf")

ARRAYS = {
    "bf16": ("bfloat16", np.array([[1.0, -2.5, nan], [inf, -0.0, 3.0e38]], dtype=ml_dtypes.bfloat16)),
    "e4m3fn": ("float8e4m3fn", np.array([0.5, -448, nan, 2**-9, -0.0, 3.3], dtype=ml_dtypes.float8_e4m3fn)),
    "e4m3fnuz": ("float8e4m3fnuz", np.array([[240, -1], [nan, 2**-10]], dtype=ml_dtypes.float8_e4m3fnuz)),
    "e5m2": ("float8e5m2", np.array([57344, -inf, nan, 2**-16, 0.3], dtype=ml_dtypes.float8_e5m2)),
    "e5m2fnuz": ("float8e5m2fnuz", np.array([57344, -2**-17, nan], dtype=ml_dtypes.float8_e5m2fnuz)),
    "int4": ("int4", np.arange(-8, 8, dtype=ml_dtypes.int4).reshape(2, 8)),
    "uint4": ("uint4", np.arange(0, 15, dtype=ml_dtypes.uint4)),
}


def bits(a):
    if a.dtype == ml_dtypes.bfloat16:
        return [int(x) for x in a.reshape(-1).view(np.uint16)]
    if a.dtype in (ml_dtypes.int4, ml_dtypes.uint4):
        return [int(x) for x in a.reshape(-1).astype(np.int64)]
    return [int(x) for x in a.reshape(-1).view(np.uint8)]


def main():
    expected = {}
    for name, (dtype, a) in ARRAYS.items():
        np.save(os.path.join(OUT, f"{name}.npy"), a)
        expected[name] = {"dtype": dtype, "shape": list(a.shape), "bits": bits(a), "descr": a.dtype.str}
    np.savez(os.path.join(OUT, "all.npz"), **{name: a for name, (_, a) in ARRAYS.items()})
    save_file(
        {name: a for name, (dtype, a) in ARRAYS.items() if not dtype.endswith("int4")},
        os.path.join(OUT, "all.safetensors"),
    )
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
