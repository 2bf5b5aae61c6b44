"""Batch-1 inference on credit-risk, side by side in one process (issue 15's acceptance):

- rust:    `Model::infer` called in a Rust loop on the same opened model (`ferry._native._bench_infer`),
           so Python is not in the timed path at all;
- ferry:   `ferry.Model.infer({"features": array})` from Python (contract check, GIL released);
- ort:     `onnxruntime.InferenceSession.run` on the bundle's own `model.onnx` with one intra-op thread,
           as Ferry runs a model this small; no contract check.

Rounds alternate between the three; each figure is the median over rounds of the mean per call.

Usage: python3 python/bench/infer_batch1.py BUNDLE MODEL_ONNX [--rounds 15] [--calls 5000]
"""

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

import ferry


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("onnx")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()

    row = np.array(
        [[35.0, 60000.0, 0.3, 0.4, 5.0, 0.0, 24.0, 15000.0, 36.0, 6.0, 1.0, 1.0, 1.0, 8000.0]], np.float32
    )
    model = ferry.open(args.bundle)
    native = model._native
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    feed = {"features": row}
    a = model.infer(feed)["probability"]
    b = sess.run(None, feed)[0]
    np.testing.assert_allclose(a, b, rtol=1e-6)

    def time_ferry(n):
        infer = model.infer
        t = time.perf_counter_ns()
        for _ in range(n):
            infer(feed)
        return (time.perf_counter_ns() - t) / n

    def time_ort(n):
        run = sess.run
        t = time.perf_counter_ns()
        for _ in range(n):
            run(None, feed)
        return (time.perf_counter_ns() - t) / n

    def time_rust(n):
        return ferry._native._bench_infer(native, feed, n)

    timers = {"rust Model::infer": time_rust, "python ferry.Model.infer": time_ferry, "python onnxruntime run": time_ort}
    for f in timers.values():
        f(args.calls // 5)  # warm-up
    samples = {k: [] for k in timers}
    for _ in range(args.rounds):
        for k, f in timers.items():
            samples[k].append(f(args.calls))
    med = {k: statistics.median(v) / 1000 for k, v in samples.items()}
    rust = med["rust Model::infer"]
    print(f"| path | median µs/call | vs rust Model::infer |")
    print(f"|---|---:|---:|")
    for k, v in med.items():
        print(f"| {k} | {v:.2f} | {v / rust:.3f}× |")
    print(
        f"\nferry (Python) / rust = {med['python ferry.Model.infer'] / rust:.3f} (goal ≤ 1.3); "
        f"onnxruntime / ferry (Python) = {med['python onnxruntime run'] / med['python ferry.Model.infer']:.3f} (goal > 1)"
    )


if __name__ == "__main__":
    main()
