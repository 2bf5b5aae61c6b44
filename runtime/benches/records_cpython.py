#!/usr/bin/env python3
"""The alternative to `Model::infer_records`, the MLflow-pyfunc way: the SAME preprocessing and decision
code as the bundle's Wasm component (fixtures/credit-application/transforms/src: credit_features.py and
credit_decisions.py), imported in CPython, around an `onnxruntime.InferenceSession` of the same
model.onnx with one intra-op thread (and one inter-op thread, sequential execution).

Run by `cargo bench -p ferry-runtime --features transforms --bench records` (runtime/benches/records.rs),
which reads the one JSON object this prints on its last line of stdout:

    records_cpython.py hot  --src DIR --model ONNX --records JSONL --config JSON --iterations N
        {"onnxruntime": "1.31.1", "python": "3.11.7",
         "batch1": {"total": [us...], "prepare": [...], "model": [...], "decide": [...]},
         "batch64": {...}}
        Batch 1 takes record i % 16 at iteration i, batch 64 the 16 records cycled, as records.rs does.
        Per-call times in microseconds (the caller computes medians and percentiles); "total" is
        prepare -> numpy -> session.run -> decide, timed around the whole call.
    records_cpython.py cold --src DIR --model ONNX --records JSONL --config JSON
        Imports, creates the session and answers the first record: what a fresh serving process does.
        The caller times the whole process; this prints {"decision": "..."} for it to check.

Without onnxruntime or numpy it prints {"error": "..."} and exits 0, so the caller can write
"not measured". Pinned versions: fixtures/requirements.txt.
"""

import argparse
import json
import platform
import sys
import time


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["hot", "cold"])
    ap.add_argument("--src", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--records", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--iterations", type=int, default=2000)
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    sys.dont_write_bytecode = True  # leave no __pycache__ in the fixture's source tree
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as err:
        print(json.dumps({"error": f"cannot import: {err}"}))
        return 0
    sys.path.insert(0, args.src)
    import credit_decisions as cd
    import credit_features as cf

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(args.model, sess_options=options, providers=["CPUExecutionProvider"])
    with open(args.config, encoding="utf-8") as f:
        config = f.read()
    with open(args.records, encoding="utf-8") as f:
        golden = [line.rstrip("\n") for line in f if line.strip()]

    def infer_records(records):
        shape, flat = cf.prepare(records, config)
        x = np.asarray(flat, dtype=np.float32).reshape(shape)
        (probability,) = session.run(["probability"], {"features": x})
        return cd.decide([float(v) for v in probability[:, 0]], records, config)

    if args.mode == "cold":
        print(json.dumps({"decision": infer_records(golden[:1])[0]}))
        return 0

    def timed(records):
        """One call, split into its three steps and timed as a whole."""
        t0 = time.perf_counter_ns()
        shape, flat = cf.prepare(records, config)
        t1 = time.perf_counter_ns()
        x = np.asarray(flat, dtype=np.float32).reshape(shape)
        (probability,) = session.run(["probability"], {"features": x})
        t2 = time.perf_counter_ns()
        out = cd.decide([float(v) for v in probability[:, 0]], records, config)
        t3 = time.perf_counter_ns()
        return out, ((t3 - t0) / 1e3, (t1 - t0) / 1e3, (t2 - t1) / 1e3, (t3 - t2) / 1e3)

    result = {"onnxruntime": ort.__version__, "numpy": np.__version__, "python": platform.python_version()}
    # The caller checks the decisions against the goldens; say what these were.
    result["golden_decisions"] = infer_records(golden)
    for name, batch, iterations in (("batch1", 1, args.iterations), ("batch64", 64, max(args.iterations // 4, 1))):
        batches = [[golden[(i + j) % len(golden)] for j in range(batch)] for i in range(len(golden))]
        for i in range(max(iterations // 10, 1)):
            timed(batches[i % len(batches)])
        columns = {"total": [], "prepare": [], "model": [], "decide": []}
        for i in range(iterations):
            _, times = timed(batches[i % len(batches)])
            for key, value in zip(("total", "prepare", "model", "decide"), times):
                columns[key].append(value)
        result[name] = columns
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
