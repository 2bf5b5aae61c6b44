"""tritonclient against `ferry serve`: every fixture's golden sets over REST (JSON and binary tensor
data) and gRPC, each answer compared with the golden outputs.

Usage: serve_tritonclient.py REST_ADDR GRPC_ADDR FIXTURES_DIR

The goldens are read here with numpy alone (JSON, .npz, and .safetensors parsed from its published
layout), independently of Ferry's readers.
"""

import json
import struct
import sys
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32}
SAFETENSORS = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_json(path, side=None, only=None):
    doc = json.loads(path.read_text())
    if side is not None:
        doc = doc[side]
    if only is not None:
        doc = {k: v for k, v in doc.items() if k in only}
    return {k: np.array(v["data"], dtype=DTYPES[v["dtype"]]).reshape(v["shape"]) for k, v in doc.items()}


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        start, end = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + start : 8 + n + end], dtype=SAFETENSORS[t["dtype"]]).reshape(t["shape"])
    return out


def read_npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def golden_sets(fixtures):
    g = fixtures / "credit-risk" / "golden"
    yield "credit-risk", "edge", read_json(g / "edge.inputs.json"), read_json(g / "edge.expected.json")
    yield "credit-risk", "smoke", read_npz(g / "smoke.inputs.npz"), read_npz(g / "smoke.expected.npz")
    g = fixtures / "iris-classifier" / "golden"
    # output_probability is a sequence of maps (an skl2onnx ZipMap): not an OIP v2 tensor, not served.
    expected = read_json(g / "iris.json", "outputs", only={"output_label"})
    yield "iris-classifier", "iris", read_json(g / "iris.json", "inputs"), expected
    g = fixtures / "text-embedding" / "golden"
    yield "text-embedding", "smoke", read_safetensors(g / "smoke.inputs.safetensors"), read_safetensors(
        g / "smoke.expected.safetensors"
    )


def datatype(a):
    return {np.float32: "FP32", np.float64: "FP64", np.int64: "INT64", np.int32: "INT32"}[a.dtype.type]


def check(model, mode, got, want):
    for name, expected in want.items():
        answer = got(name)
        if answer is None:
            raise SystemExit(f"{model} {mode}: no output {name}")
        if answer.shape != expected.shape:
            raise SystemExit(f"{model} {mode}: {name} has shape {answer.shape}, golden {expected.shape}")
        if not np.allclose(answer, expected, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{model} {mode}: {name} differs:\n{answer}\nvs\n{expected}")


def main():
    rest, grpc_addr, fixtures = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    http = httpclient.InferenceServerClient(url=rest)
    grpc = grpcclient.InferenceServerClient(url=grpc_addr)
    assert http.is_server_live() and http.is_server_ready()
    assert grpc.is_server_live() and grpc.is_server_ready()
    checked = 0
    for model, name, inputs, expected in golden_sets(fixtures):
        assert http.is_model_ready(model) and grpc.is_model_ready(model), model
        meta = http.get_model_metadata(model)
        assert {i["name"] for i in meta["inputs"]} == set(inputs), meta
        gmeta = grpc.get_model_metadata(model)
        assert {i.name for i in gmeta.inputs} == set(inputs), gmeta
        for binary in (False, True):
            ins = []
            for k, v in inputs.items():
                i = httpclient.InferInput(k, list(v.shape), datatype(v))
                i.set_data_from_numpy(v, binary_data=binary)
                ins.append(i)
            outs = [httpclient.InferRequestedOutput(k, binary_data=binary) for k in expected]
            r = http.infer(model, ins, outputs=outs, request_id=f"{name}-{binary}")
            assert r.get_response()["id"] == f"{name}-{binary}", r.get_response()
            check(model, f"{name} http binary={binary}", r.as_numpy, expected)
            checked += 1
        ins = []
        for k, v in inputs.items():
            i = grpcclient.InferInput(k, list(v.shape), datatype(v))
            i.set_data_from_numpy(v)
            ins.append(i)
        r = grpc.infer(model, ins, outputs=[grpcclient.InferRequestedOutput(k) for k in expected], request_id=name)
        assert r.get_response().id == name
        check(model, f"{name} grpc", r.as_numpy, expected)
        checked += 1
    # A contract violation comes back as the protocol's error, naming the feature.
    bad = np.full((1, 14), 35.0, dtype=np.float32)
    bad[0, 0] = -1.0
    i = grpcclient.InferInput("features", [1, 14], "FP32")
    i.set_data_from_numpy(bad)
    try:
        grpc.infer("credit-risk", [i])
        raise SystemExit("grpc: a contract violation was answered")
    except grpcclient.InferenceServerException as e:
        assert "INVALID_ARGUMENT" in str(e.status()) and "age" in e.message(), (e.status(), e.message())
    i = httpclient.InferInput("features", [1, 14], "FP32")
    i.set_data_from_numpy(bad)
    try:
        http.infer("credit-risk", [i])
        raise SystemExit("http: a contract violation was answered")
    except httpclient.InferenceServerException as e:
        assert "age" in e.message(), e.message()
    hostile_grpc(grpc_addr)
    print(f"checked {checked} golden answers")


def hostile_grpc(addr):
    """Malformed ModelInfer requests, built with Triton's own generated messages: each one refused with
    the right gRPC status and a message naming what is wrong, and the server still answers after."""
    import grpc as grpcio
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpcio.insecure_channel(addr))

    def request(shape, raw=None, contents=None, model="credit-risk", datatype="FP32"):
        r = service_pb2.ModelInferRequest(model_name=model)
        i = r.inputs.add()
        i.name, i.datatype = "features", datatype
        i.shape.extend(shape)
        if contents is not None:
            i.contents.fp32_contents.extend(contents)
        for chunk in raw or []:
            r.raw_input_contents.append(chunk)
        return r

    def refused(r, code, needle):
        try:
            stub.ModelInfer(r)
        except grpcio.RpcError as e:
            assert e.code() == code and needle in e.details(), (e.code(), e.details(), needle)
            return
        raise SystemExit(f"grpc: answered a request that should be refused ({needle})")

    row = [35.0, 60000.0, 0.3, 0.4, 5.0, 0.0, 24.0, 15000.0, 36.0, 6.0, 1.0, 1.0, 1.0, 8000.0]
    ok = np.array([row], dtype=np.float32).tobytes()
    invalid = grpcio.StatusCode.INVALID_ARGUMENT
    refused(request([1, 14], raw=[b"\0" * 10]), invalid, "needs 56 bytes")
    refused(request([-1, 14], raw=[ok]), invalid, "negative dim")
    refused(request([10**12, 14], raw=[ok]), invalid, "features")
    refused(request([1, 14], raw=[ok, ok]), invalid, "one per input")
    refused(request([1, 14], contents=[1.0, 2.0, 3.0]), invalid, "contents has 3")
    refused(request([1, 14]), invalid, "no contents")
    refused(request([1, 14], raw=[ok], datatype="FP64"), invalid, "dtype")
    refused(request([1, 14], raw=[ok], model="ghost"), grpcio.StatusCode.NOT_FOUND, "ghost")
    try:
        stub.RepositoryIndex(service_pb2.RepositoryIndexRequest())
        raise SystemExit("grpc: RepositoryIndex answered")
    except grpcio.RpcError as e:
        assert e.code() == grpcio.StatusCode.UNIMPLEMENTED, e.code()
    answer = stub.ModelInfer(request([1, 14], raw=[ok]))
    assert len(answer.raw_output_contents) == 1 and len(answer.raw_output_contents[0]) == 4


if __name__ == "__main__":
    main()
