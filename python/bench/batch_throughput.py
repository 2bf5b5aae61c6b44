#!/usr/bin/env python3
"""Batch-scoring throughput of the credit-risk bundle: ferry vs plain onnxruntime, single
process, Spark local[2] and Ray (2 CPUs).

    PYTHONPATH=python python3 python/bench/batch_throughput.py --bundle /tmp/ferry-dev/credit-risk.ferry

Data: the tests' deterministic 100,000 applications (python/tests/batchdata.py), written to
4 Parquet files in a temp dir. For each engine the scored frame is materialized twice: the first
run ("cold") includes the engine's worker start-up and the bundle opens; the rate is taken
from the second ("warm") run. Engine start-up (SparkSession, ray.init) is timed separately.
Spark and Ray times include reading the Parquet file; single-process times start from an
in-memory float64 matrix (the cast to float32 is included).

Plain onnxruntime runs fixtures/credit-risk/model.onnx (the bytes packed into the bundle)
with default session options.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.append(str(HERE.parent))  # ferry from python/ unless PYTHONPATH names another

import batchdata  # noqa: E402

ONNX = REPO / "fixtures" / "credit-risk" / "model.onnx"


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# -- single process -------------------------------------------------------------------------
def single_ferry(bundle, x, batch):
    import ferry

    t_open, model = _timed(lambda: ferry.open(bundle))

    def run():
        for i in range(0, len(x), batch):
            model.infer({"features": x[i : i + batch].astype(np.float32)})

    cold, _ = _timed(run)
    warm, _ = _timed(run)
    return t_open, cold, warm


def single_ort(x, batch):
    import onnxruntime as ort

    t_open, sess = _timed(lambda: ort.InferenceSession(str(ONNX), providers=["CPUExecutionProvider"]))

    def run():
        for i in range(0, len(x), batch):
            sess.run(None, {"features": x[i : i + batch].astype(np.float32)})

    cold, _ = _timed(run)
    warm, _ = _timed(run)
    return t_open, cold, warm


# -- Spark ----------------------------------------------------------------------------------
def spark_session():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = batchdata.python_path_for_workers()
    return (
        SparkSession.builder.master("local[2]")
        .appName("ferry-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def _ort_spark_udf(batch):
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql.types import FloatType

    path = str(ONNX)

    def make_predict_fn():
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

        def predict(x):
            return sess.run(None, {"features": x.astype(np.float32)})[0].reshape(-1)

        return predict

    return predict_batch_udf(make_predict_fn, return_type=FloatType(), batch_size=batch, input_tensor_shapes=[[14]])


def spark_runs(spark, parquet, bundle, batch):
    from pyspark.sql import functions as F

    from ferry.spark import predict_udf

    df = spark.read.parquet(parquet)
    results = {}
    udf = predict_udf(bundle, batch_size=batch)
    ort_udf = _ort_spark_udf(batch)
    frames = {
        "ferry": df.select("id", udf(*udf.columns).alias("p")),
        # plain ORT takes one array column: the same stacking work, done by Spark
        "onnxruntime": df.select("id", ort_udf(F.array(*batchdata.FEATURES)).alias("p")),
    }
    for name, frame in frames.items():
        # the noop sink materializes every column (count() could prune the UDF away)
        run = lambda: frame.write.format("noop").mode("overwrite").save()  # noqa: E731
        cold, _ = _timed(run)
        warm, _ = _timed(run)
        results[name] = (cold, warm)
    return results


# -- Ray ------------------------------------------------------------------------------------
class OrtPredictor:
    def __init__(self, path, columns):
        import onnxruntime as ort

        self.columns = list(columns)
        self.sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def __call__(self, batch):
        x = np.stack([batch[c] for c in self.columns], axis=1).astype(np.float32)
        out = dict(batch)
        out["probability"] = self.sess.run(None, {"features": x})[0].reshape(-1)
        return out


def ray_runs(ray, parquet, bundle, batch):
    from ferry.ray import Predictor

    results = {}
    for name, cls, kwargs in (
        ("ferry", Predictor, {"bundle": bundle}),
        ("onnxruntime", OrtPredictor, {"path": str(ONNX), "columns": batchdata.FEATURES}),
    ):

        def run():
            # Ray reads this small dataset as one block: split it (no shuffle) so both actors work
            ds = ray.data.read_parquet(parquet).repartition(4)
            ds.map_batches(
                cls,
                fn_constructor_kwargs=kwargs,
                batch_format="numpy",
                batch_size=batch,
                concurrency=2,
                num_cpus=0.5,
            ).materialize()

        cold, _ = _timed(run)
        warm, _ = _timed(run)
        results[name] = (cold, warm)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--bundle",
        default=batchdata.default_bundle_path(),
        help="the credit-risk bundle (packed from fixtures/credit-risk into a temp dir when missing)",
    )
    ap.add_argument("--rows", type=int, default=batchdata.N_ROWS)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--engines", default="single,spark,ray", help="comma-separated: single,spark,ray")
    args = ap.parse_args()
    engines = set(args.engines.split(","))

    x = batchdata.make_features(args.rows)
    tmp = tempfile.mkdtemp(prefix="ferry-bench-")
    if not os.path.isfile(args.bundle):
        import ferry

        args.bundle = str(Path(tmp) / "credit-risk.ferry")
        ferry.pack(str(batchdata.FIXTURE), args.bundle)
        print(f"packed {batchdata.FIXTURE} into {args.bundle}", file=sys.stderr)
    parquet = str(batchdata.write_parquet(Path(tmp) / "applications", x))
    n = len(x)
    rows = []  # (engine, runtime, startup_s, cold_s, warm_s)

    if "single" in engines:
        t_open, cold, warm = single_ferry(args.bundle, x, args.batch)
        rows.append(("single process", "ferry", t_open, cold, warm))
        t_open, cold, warm = single_ort(x, args.batch)
        rows.append(("single process", "onnxruntime", t_open, cold, warm))

    if "spark" in engines:
        try:
            startup, spark = _timed(spark_session)
            spark.sparkContext.setLogLevel("ERROR")
            for name, (cold, warm) in spark_runs(spark, parquet, args.bundle, args.batch).items():
                rows.append(("Spark local[2], predict_batch_udf", name, startup, cold, warm))
            spark.stop()
        except ImportError as e:
            print(f"skipping Spark: {e}", file=sys.stderr)

    if "ray" in engines:
        try:
            import ray

            os.environ["PYTHONPATH"] = batchdata.python_path_for_workers()
            startup, _ = _timed(
                lambda: ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                                 object_store_memory=1_000_000_000)
            )
            ray.data.DataContext.get_current().enable_progress_bars = False
            for name, (cold, warm) in ray_runs(ray, parquet, args.bundle, args.batch).items():
                rows.append(("Ray Data map_batches, 2 actors", name, startup, cold, warm))
            ray.shutdown()
        except ImportError as e:
            print(f"skipping Ray: {e}", file=sys.stderr)

    print(f"\n{n:,} rows, batches of {args.batch:,}, {os.cpu_count()} CPUs\n")
    print("| engine | runtime | engine start-up s | open / cold run s | warm run s | rows/s (warm) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for engine, runtime, startup, cold, warm in rows:
        if engine == "single process":
            print(f"| {engine} | {runtime} | - | {startup:.3f} open, {cold:.3f} | {warm:.3f} | {n / warm:,.0f} |")
        else:
            print(f"| {engine} | {runtime} | {startup:.2f} | {cold:.2f} | {warm:.2f} | {n / warm:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
