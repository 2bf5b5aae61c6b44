#!/usr/bin/env python3
"""`ferry run` cold start on an unchanged 1 GiB bundle: whole processes, the verified-digest cache warm
against every byte hashed again, and one SHA-256 pass over the bundle for scale.

    cargo build --release -p ferry-cli
    python3 cli/benches/cold_start.py [--runs N] [--ferry target/release/ferry]

The bundle is a 1 GiB embedding table (float32 [4194304, 64], ONNX external data) behind one `Gather`, so
a request is one row and the process is all cold start: open, digest check (or the cache's proof),
pins, session over the weights (used in place), one lookup. The answer is checked against the table
with numpy. For the fixed cost of any `ferry run` process (loading ONNX Runtime and building its
environment, which a 26 KB bundle pays too), the credit-risk fixture is run alongside. Runs alternate;
medians of wall time are printed. Python's own process spawning is inside every figure.
Needs numpy and onnx (pip install numpy onnx).
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

ROWS, DIM = 4194304, 64


def write_source(src):
    os.makedirs(src)
    np.random.default_rng(1).standard_normal((ROWS, DIM), dtype=np.float32).tofile(os.path.join(src, "weights.bin"))
    table = helper.make_tensor("table", TensorProto.FLOAT, [ROWS, DIM], vals=[])
    table.data_location = TensorProto.EXTERNAL
    for k, v in [("location", "weights.bin"), ("offset", "0"), ("length", str(ROWS * DIM * 4))]:
        e = table.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["emb"], axis=0)], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, [1, DIM])], initializer=[table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, os.path.join(src, "model.onnx"))
    with open(os.path.join(src, "ferry.toml"), "w") as f:
        f.write('[model]\nname = "cold-start"\nversion = "1.0.0"\nonnx = "model.onnx"\n\n'
                '[[inputs]]\nname = "ids"\ndtype = "int64"\nshape = [1]\n\n'
                f'[[outputs]]\nname = "emb"\ndtype = "float32"\nshape = [1, {DIM}]\n')


def timed(cmd, env):
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"{cmd} failed: {out.stderr}")
    return wall, out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--ferry", default="target/release/ferry")
    a = ap.parse_args()
    ferry = os.path.abspath(a.ferry)
    with tempfile.TemporaryDirectory() as d:
        src, bundle = os.path.join(d, "src"), os.path.join(d, "cold.ferry")
        write_source(src)
        env = dict(os.environ, XDG_CACHE_HOME=os.path.join(d, "cache"))
        subprocess.run([ferry, "pack", src, "-o", bundle], env=env, check=True, capture_output=True)
        table = np.memmap(os.path.join(src, "weights.bin"), dtype=np.float32, mode="r").reshape(ROWS, DIM)
        request = os.path.join(d, "ids.json")
        with open(request, "w") as f:
            json.dump({"ids": {"dtype": "int64", "shape": [1], "data": [123456]}}, f)
        policies = {}
        for name, text in [("warm", "[trust]\n"), ("full", "[trust]\nalways_rehash = true\n")]:
            policies[name] = os.path.join(d, f"{name}.toml")
            with open(policies[name], "w") as f:
                f.write(text)
        time.sleep(2.5)  # past the cache's racy margin, so the first run's check is remembered
        run = lambda p: [ferry, "run", bundle, "--input", request, "--policy", policies[p]]
        _, out = timed(run("warm"), env)
        assert np.array_equal(np.array(json.loads(out)["emb"]["data"], dtype=np.float32), table[123456])
        tiny = os.path.join(d, "credit-risk.ferry")
        subprocess.run([ferry, "pack", "fixtures/credit-risk", "-o", tiny], env=env, check=True, capture_output=True)
        tiny_request = "fixtures/credit-risk/golden/edge.inputs.json"
        tiny_run = [ferry, "run", tiny, "--input", tiny_request, "--policy", policies["warm"]]
        time.sleep(2.5)
        timed(tiny_run, env)
        walls = {"warm": [], "full": [], "sha256": [], "tiny": []}
        for _ in range(a.runs):
            for p in ("warm", "full"):
                walls[p].append(timed(run(p), env)[0])
            walls["tiny"].append(timed(tiny_run, env)[0])
            t = time.perf_counter()
            h = hashlib.sha256()
            with open(bundle, "rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
            walls["sha256"].append(time.perf_counter() - t)
        m = {k: statistics.median(v) for k, v in walls.items()}
        print(f"bundle bytes                              {os.path.getsize(bundle)}")
        print(f"runs                                      {a.runs}")
        print(f"ferry run, cache warm, median wall        {m['warm'] * 1e3:.1f} ms")
        print(f"ferry run, always_rehash, median wall     {m['full'] * 1e3:.1f} ms")
        print(f"one SHA-256 pass (Python hashlib), median {m['sha256'] * 1e3:.1f} ms")
        print(f"ferry run of the 26 KB credit-risk bundle {m['tiny'] * 1e3:.1f} ms")
        print(f"1 GiB bundle's cold start beyond that     {(m['warm'] - m['tiny']) * 1e3:.1f} ms "
              f"({100 * (m['warm'] - m['tiny']) / m['sha256']:.2f}% of a SHA-256 pass)")
        print(f"warm / always_rehash                      {m['warm'] / m['full']:.4f}")
        print(f"warm / SHA-256 pass                       {m['warm'] / m['sha256']:.4f}")


if __name__ == "__main__":
    main()
