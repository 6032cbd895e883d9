"""Read what the precision plan needs from an ONNX file: Q/DQ nodes, fp16 tensors, the input name."""
from __future__ import annotations

from pathlib import Path

from harness.deps import require
from harness.errors import InputError
from targets.nvidia.plan import OnnxFacts

QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}


def _onnx():
    return require("onnx")


def inspect_onnx(path: Path) -> OnnxFacts:
    onnx = _onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have several types
        raise InputError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:120]})") from None
    graph = model.graph
    fp16 = onnx.TensorProto.FLOAT16
    has_qdq = any(node.op_type in QDQ_OPS for node in graph.node)
    typed = list(graph.input) + list(graph.output) + list(graph.value_info)
    has_fp16 = (any(t.type.tensor_type.elem_type == fp16 for t in typed)
                or any(init.data_type == fp16 for init in graph.initializer)
                or any(node.op_type == "Cast" and _cast_to(node) == fp16 for node in graph.node))
    return OnnxFacts(has_qdq=has_qdq, has_fp16=has_fp16)


def _cast_to(node) -> int | None:
    for attribute in node.attribute:
        if attribute.name == "to":
            return attribute.i
    return None
