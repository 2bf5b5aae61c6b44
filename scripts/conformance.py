#!/usr/bin/env python3
"""ONNX backend conformance of `ferry verify`.

For every node test of the installed `onnx` package (onnx/backend/test/data/node/*/model.onnx with
test_data_set_0/{input,output}_*.pb), this script writes a Ferry bundle source whose contract is read from
the model and whose golden set is the test's data, packs it with `ferry pack`, runs `ferry verify
--format json`, and runs the same test with the `onnxruntime` Python package. Both compare with
|actual - expected| <= atol + rtol * |expected| (rtol 1e-3, atol 1e-5; NaN equals NaN; integers, booleans
and strings exactly), so the pass counts should agree: a difference is a Ferry bug (or a test Ferry cannot
express, listed by reason).

    python3 scripts/conformance.py --ferry target/debug/ferry [--jobs 2] [--filter abs] [--json out.json]

Requirements: numpy, onnx and onnxruntime (fixtures/requirements.txt pins the versions).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import ctypes
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import ml_dtypes  # installed with onnx
import numpy as np
import onnx
from onnx import numpy_helper

RTOL = 1e-3
ATOL = 1e-5

# TensorProto.DataType codes Ferry supports, by Ferry dtype name.
FERRY_DTYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
    17: "float8e4m3fn",
    18: "float8e4m3fnuz",
    19: "float8e5m2",
    20: "float8e5m2fnuz",
    21: "uint4",
    22: "int4",
}

# numpy_helper.to_array gives ml_dtypes arrays for these; np.savez writes their raw bytes (descr `<V2`,
# `<V1`, `<f1`), which Ferry reads as the contract's dtype. onnxruntime's Python API takes and gives them
# only as raw bytes (int4 packed two per byte), hence ort_input/ort_output.
ML_DTYPES = {
    16: ml_dtypes.bfloat16,
    17: ml_dtypes.float8_e4m3fn,
    18: ml_dtypes.float8_e4m3fnuz,
    19: ml_dtypes.float8_e5m2,
    20: ml_dtypes.float8_e5m2fnuz,
    21: ml_dtypes.uint4,
    22: ml_dtypes.int4,
}
ML_FLOATS = {np.dtype(t) for code, t in ML_DTYPES.items() if code <= 20}


def ort_input(arr: np.ndarray, code: int):
    import onnxruntime as ort

    if code not in ML_DTYPES:
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(arr))
    if code in (21, 22):
        # The packed bytes, in a uint8 array of the unpacked shape (onnxruntime reads only its start).
        packed = np.frombuffer(numpy_helper.from_array(arr).raw_data, dtype=np.uint8)
        raw = np.zeros(arr.shape, dtype=np.uint8)
        raw.reshape(-1)[: packed.size] = packed
    else:
        raw = np.ascontiguousarray(arr).view(np.uint16 if code == 16 else np.uint8)
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(raw, code)


def ort_output(value, code: int) -> np.ndarray:
    if code not in ML_DTYPES:
        return np.asarray(value.numpy())
    shape = tuple(value.shape())
    raw = ctypes.string_at(value.data_ptr(), value.tensor_size_in_bytes())
    if code in (21, 22):
        t = onnx.TensorProto(data_type=code, dims=shape, raw_data=raw)
        return numpy_helper.to_array(t)
    return np.frombuffer(raw, dtype=ML_DTYPES[code]).reshape(shape)


class Unsupported(Exception):
    """A test Ferry's contract cannot express (non-tensor values, unsupported dtypes, ...)."""


def node_tests_dir() -> str:
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")


def ferry_type(tp: onnx.TypeProto, where: str):
    """A graph value's type as a Ferry contract writes it (`tensor`, `sequence<tensor>`, ...), its
    innermost TensorProto dtype code, and the innermost tensor's rank when the model gives it."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        code = tp.tensor_type.elem_type
        if code not in FERRY_DTYPES:
            raise Unsupported(f"dtype {onnx.TensorProto.DataType.Name(code).lower()}")
        rank = len(tp.tensor_type.shape.dim) if tp.tensor_type.HasField("shape") else None
        return "tensor", code, rank
    if which in ("sequence_type", "optional_type"):
        inner, code, rank = ferry_type(getattr(tp, which).elem_type, where)
        return f"{which.split('_')[0]}<{inner}>", code, rank
    if which == "map_type":
        key = tp.map_type.key_type
        inner, code, _ = ferry_type(tp.map_type.value_type, where)
        if inner != "tensor" or key not in FERRY_DTYPES:
            raise Unsupported(f"{where} is a map Ferry cannot hold")
        return f"map<{FERRY_DTYPES[key]}, tensor>", code, 0
    raise Unsupported(f"{where} is a {which}")


def tensor_values(model: onnx.ModelProto, side: str, kinds: dict):
    """The graph inputs (without initializers) or outputs, each (name, TensorProto dtype code of the
    innermost tensor); `kinds[name]` gets the type and innermost rank of those that are not plain
    tensors."""
    values = model.graph.input if side == "input" else model.graph.output
    inits = {i.name for i in model.graph.initializer}
    out = []
    for v in values:
        if v.name in inits:
            continue
        kind, code, rank = ferry_type(v.type, f"{side} `{v.name}`")
        if kind != "tensor":
            kinds[v.name] = (kind, rank)
        out.append((v.name, code))
    return out



def read_proto_value(path: str, kind: str):
    """A SequenceProto / OptionalProto / MapProto test value as Python: a list, None or the value, a
    dict; tensors inside as numpy arrays."""
    with open(path, "rb") as f:
        data = f.read()
    if kind.startswith("sequence"):
        p = onnx.SequenceProto()
        p.ParseFromString(data)
        return numpy_helper.to_list(p)
    if kind.startswith("optional"):
        p = onnx.OptionalProto()
        p.ParseFromString(data)
        return numpy_helper.to_optional(p)
    p = onnx.MapProto()
    p.ParseFromString(data)
    return numpy_helper.to_dict(p)


def load_data(test_dir: str, prefix: str, values, kinds=None):
    """The test data for the values, as numpy arrays by name (lists, None and dicts for containers)."""
    files = sorted(
        glob.glob(os.path.join(test_dir, "test_data_set_0", f"{prefix}_*.pb")),
        key=lambda p: int(re.search(r"_(\d+)\.pb$", p).group(1)),
    )
    if len(files) != len(values):
        raise Unsupported(f"{len(files)} {prefix} files for {len(values)} graph {prefix}s")
    out = {}
    for path, (name, code) in zip(files, values):
        if kinds and name in kinds:
            out[name] = read_proto_value(path, kinds[name][0])
            continue
        t = onnx.TensorProto()
        with open(path, "rb") as f:
            t.ParseFromString(f.read())
        if t.data_type != code:
            raise Unsupported(f"{prefix} `{name}` data is {t.data_type}, the graph says {code}")
        arr = numpy_helper.to_array(t)
        if code == 8:
            try:
                arr = np.array(
                    [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr.reshape(-1)], dtype=str
                ).reshape(arr.shape)
            except UnicodeDecodeError as e:
                raise Unsupported(f"non-UTF-8 string in `{name}`") from e
        out[name] = arr
    return out


def npz_safe(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def json_tensor(arr: np.ndarray, code: int):
    """A tensor in Ferry's explicit JSON form."""
    flat = np.asarray(arr).reshape(-1)
    if is_float(flat.dtype):
        wide = flat.astype(np.float64)
        data = [None if np.isnan(x) else ("Infinity" if x > 0 else "-Infinity") if np.isinf(x) else float(x) for x in wide]
    elif flat.dtype.kind == "b":
        data = [bool(x) for x in flat]
    elif flat.dtype.kind in "US" or code == 8:
        data = [str(x) for x in flat]
    else:
        data = [int(x) for x in flat]
    return {"dtype": FERRY_DTYPES[code], "shape": [int(d) for d in np.shape(arr)], "data": data}


def json_value(v, kind: str, code: int):
    if kind == "tensor":
        return json_tensor(v, code)
    if kind.startswith("sequence<"):
        return [json_value(x, kind[len("sequence<") : -1], code) for x in v]
    if kind.startswith("optional<"):
        return None if v is None else json_value(v, kind[len("optional<") : -1], code)
    return {str(k): json_tensor(np.asarray(x), code)["data"][0] for k, x in v.items()}


def element_shapes(v, kind: str) -> list:
    """The shapes of the tensors inside a container value (none for a map's scalars)."""
    if kind == "tensor":
        return [tuple(np.shape(v))]
    if kind.startswith("map<") or v is None:
        return []
    inner = kind[kind.index("<") + 1 : -1]
    items = v if kind.startswith("sequence<") else [v]
    return [s for x in items for s in element_shapes(x, inner)]


def element_dims(vname: str, v, kind: str, rank) -> list[str]:
    """A container's element shape for the contract: a dim all its tensors agree on is fixed (the model
    may fix it too), one they differ on is symbolic (free per element)."""
    if kind.startswith("map<") or "map<" in kind:
        return []
    shapes = element_shapes(v, kind)
    ranks = {len(s) for s in shapes}
    if len(ranks) > 1:
        raise Unsupported(f"`{vname}`: a sequence whose tensors differ in rank")
    r = ranks.pop() if ranks else rank
    if r is None:
        raise Unsupported(f"`{vname}`: the rank of an empty container's tensors is unknown")
    dims = []
    for i in range(r):
        sizes = {s[i] for s in shapes}
        dims.append(str(sizes.pop()) if len(sizes) == 1 else toml_str(f"{vname}_d{i}"))
    return dims


def write_source(test: str, test_dir: str, src: str, inputs, outputs, feeds, expected, kinds=None) -> None:
    if kinds:
        return write_value_source(test, test_dir, src, inputs, outputs, feeds, expected, kinds)
    os.makedirs(os.path.join(src, "golden"))
    shutil.copy(os.path.join(test_dir, "model.onnx"), os.path.join(src, "model.onnx"))
    name = re.sub(r"[^a-z0-9._-]", "-", test.lower())
    lines = [
        "[model]",
        f"name = {toml_str(name)}",
        'version = "1.0.0"',
        'onnx = "model.onnx"',
        "",
    ]
    # Declared dims are the test data's: fixed dims may narrow the model's symbolic or unknown ones.
    for side, values, data in (("inputs", inputs, feeds), ("outputs", outputs, expected)):
        for vname, code in values:
            lines += [
                f"[[{side}]]",
                f"name = {toml_str(vname)}",
                f'dtype = "{FERRY_DTYPES[code]}"',
                f"shape = [{', '.join(str(int(d)) for d in data[vname].shape)}]",
                "",
            ]
    lines += [
        "[[golden]]",
        'name = "data-set-0"',
        'inputs = "golden/inputs.npz"',
        'expected = "golden/expected.npz"',
        f"rtol = {RTOL}",
        f"atol = {ATOL}",
        "",
    ]
    with open(os.path.join(src, "ferry.toml"), "w") as f:
        f.write("\n".join(lines))
    np.savez(os.path.join(src, "golden", "inputs.npz"), **feeds)
    np.savez(os.path.join(src, "golden", "expected.npz"), **expected)


def write_value_source(test, test_dir, src, inputs, outputs, feeds, expected, kinds) -> None:
    """A source for a test with sequences, maps or optionals: one golden file of JSON (the only format
    that holds them); each container's element dims symbolic, as they are free per element."""
    os.makedirs(os.path.join(src, "golden"))
    shutil.copy(os.path.join(test_dir, "model.onnx"), os.path.join(src, "model.onnx"))
    name = re.sub(r"[^a-z0-9._-]", "-", test.lower())
    lines = ["[model]", f"name = {toml_str(name)}", 'version = "1.0.0"', 'onnx = "model.onnx"', ""]
    golden = {"inputs": {}, "outputs": {}}
    for side, values, data in (("inputs", inputs, feeds), ("outputs", outputs, expected)):
        for vname, code in values:
            kind, rank = kinds.get(vname, ("tensor", None))
            if kind == "tensor":
                shape = ", ".join(str(int(d)) for d in np.shape(data[vname]))
            else:
                shape = ", ".join(element_dims(vname, data[vname], kind, rank))
            lines += [f"[[{side}]]", f"name = {toml_str(vname)}"]
            if kind != "tensor":
                lines.append(f"type = {toml_str(kind)}")
            lines += [f'dtype = "{FERRY_DTYPES[code]}"', f"shape = [{shape}]", ""]
            golden[side][vname] = json_value(data[vname], kind, code)
    lines += ["[[golden]]", 'name = "data-set-0"', 'file = "golden/data.json"', f"rtol = {RTOL}", f"atol = {ATOL}", ""]
    with open(os.path.join(src, "ferry.toml"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(src, "golden", "data.json"), "w") as f:
        json.dump(golden, f)


def close_value(expected, actual) -> bool:
    """close() through sequences (lists), optionals (None) and maps (dicts)."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(expected) == set(actual)
            and all(close(np.asarray(expected[k]), np.asarray(actual[k])) for k in expected)
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            close_value(e, a) for e, a in zip(expected, actual)
        )
    actual = np.asarray(actual)
    if actual.dtype.kind == "O":
        actual = actual.astype(str)
    return close(np.asarray(expected), actual)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype in ML_FLOATS


def close(expected: np.ndarray, actual: np.ndarray) -> bool:
    """The comparison rule of golden.outputs."""
    if expected.shape != actual.shape:
        return False
    if is_float(expected.dtype) and is_float(actual.dtype):
        e = expected.astype(np.float64)
        a = actual.astype(np.float64)
        nan_e, nan_a = np.isnan(e), np.isnan(a)
        if not np.array_equal(nan_e, nan_a):
            return False
        inf = np.isinf(e) | np.isinf(a)
        if not np.array_equal(e[inf], a[inf]):
            return False
        ok = ~(nan_e | inf)
        with np.errstate(invalid="ignore", over="ignore"):
            return bool(np.all(np.abs(a[ok] - e[ok]) <= ATOL + RTOL * np.abs(e[ok])))
    if expected.dtype != actual.dtype and not (expected.dtype.kind in "US" and actual.dtype.kind in "USO"):
        return False
    return bool(np.array_equal(expected, actual))


def run_ort(test_dir: str, inputs, feeds, expected, outputs) -> tuple[str, str]:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # errors only: the warnings drown the summary
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(
            os.path.join(test_dir, "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        names = [n for n, _ in outputs]
        if any(code in ML_DTYPES for _, code in inputs + outputs):
            codes = dict(inputs)
            values = {n: ort_input(a, codes[n]) for n, a in feeds.items()}
            got = sess.run_with_ort_values(names, values)
            got = [ort_output(v, code) for v, (_, code) in zip(got, outputs)]
        else:
            got = sess.run(names, feeds)
    except Exception as e:  # noqa: BLE001 - any failure of ORT is a result here
        return "error", str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    for (name, _), actual in zip(outputs, got):
        if not isinstance(expected[name], np.ndarray):
            if not close_value(expected[name], actual):
                return "failed", f"output `{name}` differs"
            continue
        actual = np.asarray(actual)
        if actual.dtype.kind == "O":
            actual = actual.astype(str)
        if not close(expected[name], actual):
            return "failed", f"output `{name}` differs"
    return "passed", ""


def run_ferry(ferry: str, src: str, out_dir: str) -> tuple[str, str, list[str]]:
    bundle = os.path.join(out_dir, "model.ferry")
    p = subprocess.run([ferry, "pack", src, "-o", bundle], capture_output=True, text=True)
    if p.returncode != 0:
        return "pack-refused", (p.stderr.strip().splitlines() or ["?"])[-1][:300], []
    p = subprocess.run([ferry, "verify", bundle, "--format", "json"], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        return "verify-error", (p.stderr.strip().splitlines() or ["?"])[-1][:300], []
    report = json.loads(p.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    failed = [c["id"] for c in report["checks"] if c["status"] == "failed"]
    golden = checks["golden.outputs"]
    if golden["status"] == "passed":
        return "passed", "", failed
    detail = golden["message"]
    for case in golden.get("cases", []):
        if case["status"] == "failed":
            detail = case["message"]
            for ev in case["evidence"]:
                if ev.get("kind") == "error":
                    detail = ev["message"]
                    break
    return golden["status"], detail.splitlines()[0][:300], failed


def one_test(test: str, ferry: str, work: str) -> dict:
    test_dir = os.path.join(node_tests_dir(), test)
    result = {"test": test}
    try:
        model = onnx.load(os.path.join(test_dir, "model.onnx"), load_external_data=False)
        kinds: dict = {}
        inputs = tensor_values(model, "input", kinds)
        outputs = tensor_values(model, "output", kinds)
        if not inputs:
            raise Unsupported("no graph input (a Ferry contract declares at least one)")
        names = [n for n, _ in inputs + outputs]
        if len(set(names)) != len(names) or (not kinds and not all(npz_safe(n) for n in names)):
            raise Unsupported("tensor names Ferry cannot store in .npz")
        feeds = load_data(test_dir, "input", inputs, kinds)
        expected = load_data(test_dir, "output", outputs, kinds)
    except Unsupported as e:
        result["unsupported"] = str(e)
        return result
    except Exception as e:  # noqa: BLE001 - a test the onnx package itself cannot read
        result["unsupported"] = f"unreadable test: {e}"
        return result
    result["ort"], result["ort_detail"] = run_ort(test_dir, inputs, feeds, expected, outputs)
    tmp = tempfile.mkdtemp(prefix=f"{test}-", dir=work)
    try:
        src = os.path.join(tmp, "src")
        try:
            write_source(test, test_dir, src, inputs, outputs, feeds, expected, kinds)
        except Unsupported as e:
            return {"test": test, "unsupported": str(e)}
        result["ferry"], result["ferry_detail"], result["failed_checks"] = run_ferry(ferry, src, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ferry", default=os.path.join("target", "debug", "ferry"), help="the ferry binary")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--filter", default="", help="only tests whose name contains this")
    ap.add_argument("--limit", type=int, default=0, help="at most this many tests")
    ap.add_argument("--json", help="write every test's result here")
    args = ap.parse_args()
    ferry = os.path.abspath(args.ferry)
    if not os.access(ferry, os.X_OK):
        print(f"error: {ferry} is not an executable ferry binary (cargo build -p ferry-cli)", file=sys.stderr)
        return 2
    tests = sorted(t for t in os.listdir(node_tests_dir()) if args.filter in t)
    if args.limit:
        tests = tests[: args.limit]
    results = []
    with tempfile.TemporaryDirectory(prefix="ferry-conformance-") as work:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for i, r in enumerate(pool.map(lambda t: one_test(t, ferry, work), tests), 1):
                results.append(r)
                if i % 100 == 0:
                    print(f"... {i}/{len(tests)}", file=sys.stderr)
    summarize(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def summarize(results: list[dict]) -> None:
    total = len(results)
    unsupported = [r for r in results if "unsupported" in r]
    run = [r for r in results if "unsupported" not in r]
    reasons = collections.Counter(re.sub(r"`[^`]*`", "`…`", r["unsupported"]) for r in unsupported)
    ort = collections.Counter(r["ort"] for r in run)
    fer = collections.Counter(r["ferry"] for r in run)
    both = sum(1 for r in run if r["ort"] == "passed" and r["ferry"] == "passed")
    ort_only = [r for r in run if r["ort"] == "passed" and r["ferry"] != "passed"]
    ferry_only = [r for r in run if r["ort"] != "passed" and r["ferry"] == "passed"]
    other_checks = collections.Counter(c for r in run for c in r.get("failed_checks", []) if c != "golden.outputs")
    print(f"ONNX {onnx.__version__} backend node tests: {total}")
    print(f"  not expressible as a Ferry bundle: {len(unsupported)}")
    for reason, n in reasons.most_common(12):
        print(f"    {n:5}  {reason}")
    print(f"  run: {len(run)}  (rtol {RTOL}, atol {ATOL})")
    print(f"    onnxruntime (python) passed: {ort['passed']}, failed: {ort['failed']}, error: {ort['error']}")
    print(
        "    ferry verify golden.outputs passed: {}, failed: {}, pack refused: {}, other: {}".format(
            fer["passed"],
            fer["failed"],
            fer["pack-refused"],
            sum(v for k, v in fer.items() if k not in ("passed", "failed", "pack-refused")),
        )
    )
    print(f"    both passed: {both}; onnxruntime only: {len(ort_only)}; ferry only: {len(ferry_only)}")
    if other_checks:
        print("    other checks that failed: " + ", ".join(f"{k} ×{v}" for k, v in other_checks.most_common()))
    for title, rows in (("onnxruntime passed, ferry did not", ort_only), ("ferry passed, onnxruntime did not", ferry_only)):
        if rows:
            print(f"  {title}:")
            for r in rows[:60]:
                detail = r.get("ferry_detail") or r.get("ort_detail") or ""
                print(f"    {r['test']}: {r['ferry']}: {detail}")
            if len(rows) > 60:
                print(f"    … and {len(rows) - 60} more")


if __name__ == "__main__":
    sys.exit(main())
