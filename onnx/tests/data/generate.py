"""Writes the small ONNX files that onnx/tests/reference.rs reads, using the reference `onnx` package.

Run from this directory: `python3 generate.py` (tested with onnx==1.19.1, numpy==2.4.6). Output is
deterministic. These files cross-check the hand-written reader against what the ONNX Python package writes.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data


def save(proto, path):
    with open(path, "wb") as f:
        f.write(proto.SerializeToString(deterministic=True))


# 1. IR 3 model that lists its initializer among the graph inputs (as old exporters did).
w = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], dtype=np.float32), name="W")
graph = helper.make_graph(
    [helper.make_node("Add", ["X", "W"], ["Y"])],
    "old_ir",
    [
        helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3]),
        helper.make_tensor_value_info("W", TensorProto.FLOAT, [3]),
    ],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
    initializer=[w],
)
model = helper.make_model(graph, producer_name="ferry-tests", producer_version="0.1",
                          opset_imports=[helper.make_opsetid("", 8)])
model.ir_version = 3
onnx.checker.check_model(model)
save(model, "old_ir_initializer_input.onnx")

# 2. Non-tensor inputs, a subgraph whose Constant reads external data, an external initializer, a second
#    opset domain and a bfloat16 input (unsupported until Ferry read bfloat16).
ext_init = numpy_helper.from_array(np.zeros(4, dtype=np.float32), name="big")
set_external_data(ext_init, location="weights/a.bin", offset=0, length=16)
ext_init.ClearField("raw_data")
const_t = numpy_helper.from_array(np.ones(2, dtype=np.float32), name="c")
set_external_data(const_t, location="weights/b.bin", offset=4096, length=8)
const_t.ClearField("raw_data")
then_g = helper.make_graph([helper.make_node("Constant", [], ["t_out"], value=const_t)], "then_b", [],
                           [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [2])])
else_g = helper.make_graph([helper.make_node("Identity", ["big"], ["e_out"])], "else_b", [],
                           [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [4])])
seq_t = helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, None))
opt_t = helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.INT64, [2]))
graph = helper.make_graph(
    [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
    "kinds",
    [
        helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        helper.make_value_info("seq", seq_t),
        helper.make_value_info("opt", opt_t),
        helper.make_tensor_value_info("bf", TensorProto.BFLOAT16, [1, None]),
        helper.make_value_info("untyped", onnx.TypeProto()),
    ],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    initializer=[ext_init],
)
model = helper.make_model(graph, producer_name="ferry-tests", producer_version="0.2",
                          opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 3)])
model.ir_version = 10
save(model, "kinds.onnx")

# 3. Tensors of every supported type, in raw_data and in the typed fields.
arrays = {
    "float32": np.array([[1.5, -2.0, np.inf], [0.0, -0.0, 3.25]], dtype=np.float32),
    "float64": np.array([1e300, -2.5], dtype=np.float64),
    "float16": np.array([1.0, -2.0, 65504.0], dtype=np.float16),
    "int8": np.array([-128, 0, 127], dtype=np.int8),
    "int16": np.array([-32768, 1, 32767], dtype=np.int16),
    "int32": np.array([-2147483648, 0, 2147483647], dtype=np.int32),
    "int64": np.array([[-9223372036854775808], [9223372036854775807]], dtype=np.int64),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "uint16": np.array([0, 65535], dtype=np.uint16),
    "uint32": np.array([0, 4294967295], dtype=np.uint32),
    "uint64": np.array([0, 18446744073709551615], dtype=np.uint64),
    "bool": np.array([True, False, True], dtype=np.bool_),
    "string": np.array([b"a", b"", "h\u00e9".encode()], dtype=object),
}
for name, a in arrays.items():
    raw = numpy_helper.from_array(a, name=name)
    save(raw, f"tensor_{name}_raw.pb")
    if name == "string":
        continue
    code = helper.np_dtype_to_tensor_dtype(a.dtype)
    if name == "float16":
        vals = a.view(np.uint16).flatten().tolist()
    else:
        vals = a.flatten().tolist()
    typed = helper.make_tensor(name, code, a.shape, vals, raw=False)
    if name == "float16":
        # make_tensor would convert floats; store the bit patterns directly as onnx.proto specifies.
        typed.ClearField("int32_data")
        typed.int32_data.extend(vals)
    save(typed, f"tensor_{name}_typed.pb")

# bfloat16, float8 and 4-bit integers (ml_dtypes arrays): raw_data from numpy_helper, and the typed
# field make_tensor fills from the values (int32_data: the bits, int4/uint4 packed two per entry).
import ml_dtypes  # noqa: E402  (installed with onnx)

low_precision = {
    "bfloat16": (TensorProto.BFLOAT16, np.array([1.0, -2.5, 3.0e38], dtype=ml_dtypes.bfloat16)),
    "float8e4m3fn": (TensorProto.FLOAT8E4M3FN, np.array([0.5, -448.0, 2**-9], dtype=ml_dtypes.float8_e4m3fn)),
    "float8e4m3fnuz": (TensorProto.FLOAT8E4M3FNUZ, np.array([240.0, -1.0, 2**-10], dtype=ml_dtypes.float8_e4m3fnuz)),
    "float8e5m2": (TensorProto.FLOAT8E5M2, np.array([57344.0, -1.0, 2**-16], dtype=ml_dtypes.float8_e5m2)),
    "float8e5m2fnuz": (TensorProto.FLOAT8E5M2FNUZ, np.array([57344.0, -1.0, 2**-17], dtype=ml_dtypes.float8_e5m2fnuz)),
    "int4": (TensorProto.INT4, np.array([-8, 7, -1], dtype=ml_dtypes.int4)),
    "uint4": (TensorProto.UINT4, np.array([0, 15, 9], dtype=ml_dtypes.uint4)),
}
for name, (code, a) in low_precision.items():
    save(numpy_helper.from_array(a, name=name), f"tensor_{name}_raw.pb")
    vals = a.astype(np.float32 if "float" in name else np.int32).flatten().tolist()
    save(helper.make_tensor(name, code, a.shape, vals, raw=False), f"tensor_{name}_typed.pb")

# A scalar, an empty tensor and an unsupported type.
save(numpy_helper.from_array(np.array(7, dtype=np.int64), name="scalar"), "tensor_scalar.pb")
save(numpy_helper.from_array(np.zeros((0, 3), dtype=np.float32), name="empty"), "tensor_empty.pb")
save(helper.make_tensor("bf", TensorProto.BFLOAT16, [1], [1.0]), "tensor_bfloat16.pb")

# 4. Sequence and optional values, as the ONNX backend tests store them.
seq = numpy_helper.from_list([np.array([1.0, 2.0], dtype=np.float32), np.array([3.0], dtype=np.float32)],
                             name="seq")
save(seq, "sequence.pb")
save(numpy_helper.from_optional(np.array([4, 5], dtype=np.int64), name="opt"), "optional.pb")
save(numpy_helper.from_optional(None, name="none", dtype=onnx.OptionalProto.TENSOR), "optional_none.pb")
