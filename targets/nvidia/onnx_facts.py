"""Read what the precision plan needs from an ONNX file: Q/DQ nodes, fp16 tensors, the input name."""
from __future__ import annotations

from pathlib import Path

from harness.deps import require
from harness.onnx_meta import has_qdq, read_onnx
from targets.nvidia.plan import OnnxFacts


def inspect_onnx(path: Path) -> OnnxFacts:
    model = read_onnx(path, load_external_data=False)
    graph = model.graph
    fp16 = require("onnx").TensorProto.FLOAT16
    typed = list(graph.input) + list(graph.output) + list(graph.value_info)
    has_fp16 = (any(t.type.tensor_type.elem_type == fp16 for t in typed)
                or any(init.data_type == fp16 for init in graph.initializer)
                or any(node.op_type == "Cast" and _cast_to(node) == fp16 for node in graph.node))
    return OnnxFacts(has_qdq=has_qdq(model), has_fp16=has_fp16)


def _cast_to(node) -> int | None:
    for attribute in node.attribute:
        if attribute.name == "to":
            return attribute.i
    return None
