"""The KServe Python model server a team would write for credit-risk: a `kserve.Model` subclass running
the same ONNX file with `onnxruntime`, answering OIP v2 on REST. Started by cli/benches/serve.rs.

Usage: kserve_credit_risk.py MODEL.onnx HTTP_PORT

Needs `pip install kserve==0.21.0 onnxruntime==1.31.1` (the versions measured in BENCHMARKS.md).

Per-request latency logging is off (the fastest KServe configuration); one worker process, as a single
`ferry serve` process is one process.
"""

import sys

import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer


class CreditRisk(Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.ready = True

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        features = payload.inputs[0].as_numpy()
        (probability,) = self.session.run(["probability"], {"features": features})
        out = InferOutput(name="probability", shape=list(probability.shape), datatype="FP32")
        out.set_data_from_numpy(probability, binary_data=False)
        return InferResponse(model_name=self.name, infer_outputs=[out], response_id=payload.id or "")


if __name__ == "__main__":
    path, port = sys.argv[1], int(sys.argv[2])
    sys.argv = sys.argv[:1]
    server = ModelServer(http_port=port, enable_grpc=False, enable_latency_logging=False, workers=1)
    server.start([CreditRisk("credit-risk", path)])
