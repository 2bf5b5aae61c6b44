#!/usr/bin/env python3
"""Writes float8_vectors.json, the conversion table tests/low_precision.rs checks Ferry against.

Run from this directory: `python3 gen_float8_vectors.py` (numpy and ml_dtypes, as installed with `onnx`
from fixtures/requirements.txt). The output is committed. Every value is ml_dtypes' own answer, never
typed by hand:

- `decode`: for each float8 variant, all 256 codes as the float32 bits ml_dtypes widens them to.
- `encode`: float64 inputs (as bit patterns, so nothing is lost in decimal) and, for each float8 variant
  and bfloat16, the bits `numpy.array(x, float64).astype(T)` gives: round to nearest even, straight from
  float64 (no double rounding through float32), overflow to NaN (to infinity for float8e5m2 and
  bfloat16), as ml_dtypes' astype does.

The inputs are each variant's representable values, the midpoints between neighbours (ties) and the
floats either side of each midpoint, values past the largest finite value, zeros, infinities, NaN, and
seeded random values over the whole range.
"""
import json
import os

import ml_dtypes
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

VARIANTS = {
    "float8e4m3fn": ml_dtypes.float8_e4m3fn,
    "float8e4m3fnuz": ml_dtypes.float8_e4m3fnuz,
    "float8e5m2": ml_dtypes.float8_e5m2,
    "float8e5m2fnuz": ml_dtypes.float8_e5m2fnuz,
}


def decode_table(t):
    codes = np.arange(256, dtype=np.uint8).view(t)
    return [int(b) for b in codes.astype(np.float32).view(np.uint32)]


def neighbourhood(values):
    """The values, the midpoints between neighbours and the float64s either side of each midpoint."""
    finite = np.unique(values[np.isfinite(values)])
    out = [finite]
    mids = (finite[:-1] + finite[1:]) / 2
    out += [mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf)]
    top = finite.max()
    out.append(np.array([top * 1.01, top * 1.5, top * 2, top * 1e3, 1e300]))
    return np.concatenate(out)


def main():
    inputs = [np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-300])]
    for t in VARIANTS.values():
        values = np.arange(256, dtype=np.uint8).view(t).astype(np.float64)
        inputs.append(neighbourhood(values))
    # bfloat16 around a few binades, including its subnormals and the top of its range.
    bf = np.concatenate([
        np.arange(0x3F00, 0x4100, dtype=np.uint16),
        np.arange(0x0000, 0x0100, dtype=np.uint16),
        np.arange(0x7E00, 0x7F80, dtype=np.uint16),
    ]).view(ml_dtypes.bfloat16).astype(np.float64)
    inputs.append(neighbourhood(bf))
    rng = np.random.default_rng(20240612)
    magnitudes = np.exp2(rng.uniform(-24, 18, 1000))
    inputs.append(magnitudes * rng.choice([-1.0, 1.0], 1000))
    x = np.concatenate(inputs)
    x = np.concatenate([x, -x])
    # Unique by bit pattern (keeps -0.0 and one NaN), in a stable order.
    bits = np.unique(x.view(np.uint64))
    x = bits.view(np.float64)

    with np.errstate(over="ignore"):  # overflow is what half of the table is about
        encoded = {name: [int(b) for b in x.astype(t).view(np.uint8)] for name, t in VARIANTS.items()}
        encoded["bfloat16"] = [int(b) for b in x.astype(ml_dtypes.bfloat16).view(np.uint16)]
    doc = {
        "generator": "gen_float8_vectors.py",
        "ml_dtypes": ml_dtypes.__version__,
        "numpy": np.__version__,
        "decode": {name: decode_table(t) for name, t in VARIANTS.items()},
        "encode": {
            "inputs": [f"{int(b):016x}" for b in bits],
            **encoded,
        },
    }
    with open(os.path.join(HERE, "float8_vectors.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(bits)} encode inputs")


if __name__ == "__main__":
    main()
