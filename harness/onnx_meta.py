"""What the harness reads from an ONNX model, defined once: element types, input/output specs, Q/DQ.

The element-type table maps ONNX TensorProto codes (and ONNX Runtime's `tensor(...)` type strings)
to the dtype names of harness.contracts; a code outside it is named `onnx type <code>`, which
contracts refuses with one line when a stage needs its size. onnx is imported only when a model is read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.contracts import TensorSpec
from harness.deps import require
from harness.errors import ContractError, InputError

# TensorProto code -> (the type's name in ONNX Runtime's "tensor(<name>)", the harness dtype name)
ELEM_TYPES: dict[int, tuple[str, str]] = {
    1: ("float", "float32"), 10: ("float16", "float16"), 2: ("uint8", "uint8"), 3: ("int8", "int8"),
    6: ("int32", "int32"), 7: ("int64", "int64"),
}
ORT_TYPES = {f"tensor({ort})": name for ort, name in ELEM_TYPES.values()}
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


def dtype_name(elem_type: int) -> str:
    """The harness dtype name of an ONNX TensorProto element type."""
    known = ELEM_TYPES.get(elem_type)
    return known[1] if known else f"onnx type {elem_type}"


def ort_tensor_spec(node: Any) -> TensorSpec:
    """A TensorSpec of an ONNX Runtime session's input or output (NodeArg: name, shape, 'tensor(float)')."""
    shape = [d if isinstance(d, int) else -1 for d in node.shape]
    return TensorSpec(name=node.name, shape=shape, dtype=ORT_TYPES.get(node.type, node.type))


def read_onnx(path: Path, load_external_data: bool = True) -> Any:
    """onnx.load, with a missing file or one that is not an ONNX model (corrupt, truncated, empty) as
    one InputError."""
    onnx = require("onnx", "pip install onnx")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except FileNotFoundError:
        raise InputError(f"{path}: ONNX file not found") from None
    except Exception as exc:  # protobuf's DecodeError, or onnx's own errors for external data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not an ONNX model (protobuf cannot parse it: {reason}); pass a .onnx file "
                         "written by torch.onnx.export or onnx.save") from None
    if not model.graph.node:
        raise InputError(f"{path}: not an ONNX model (no graph: empty or another kind of protobuf); pass a "
                         ".onnx file written by torch.onnx.export or onnx.save")
    return model


def graph_inputs(graph: Any) -> list:
    """The graph's real inputs: older exporters also list every initializer as an input."""
    initializers = {init.name for init in graph.initializer}
    return [value for value in graph.input if value.name not in initializers]


def tensor_dims(value_info: Any) -> list[int | str]:
    """A tensor's dimensions: numbers where fixed, the symbol (or '?') where not."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def tensor_spec(value_info: Any) -> TensorSpec:
    """A TensorSpec of a graph input or output; -1 marks a symbolic (dynamic) dimension."""
    shape = [d if isinstance(d, int) else -1 for d in tensor_dims(value_info)]
    return TensorSpec(name=value_info.name, shape=shape, dtype=dtype_name(value_info.type.tensor_type.elem_type))


def onnx_io(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """The single input and first output of an ONNX model."""
    graph = read_onnx(path, load_external_data=False).graph
    inputs = graph_inputs(graph)
    if len(inputs) != 1 or not graph.output:
        raise ContractError(f"{path}: expected one image input and an output, found inputs "
                            f"{[i.name for i in inputs]} and outputs {[o.name for o in graph.output]}")
    return tensor_spec(inputs[0]), tensor_spec(graph.output[0])


def has_qdq(model: Any) -> bool:
    """True when the model carries explicit quantization (QuantizeLinear/DequantizeLinear nodes)."""
    return any(node.op_type in QDQ_OPS for node in model.graph.node)


def is_qdq_onnx(path: Path) -> bool:
    return has_qdq(read_onnx(path, load_external_data=False))
