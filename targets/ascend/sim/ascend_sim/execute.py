"""Run a simulated OM: ONNX Runtime on the CPU, in the precision atc was asked for.

fp32 runs the ONNX as given, with the session settings of the harness's CPU target, so its numbers
equal the CPU target's. cube_fp16in (force_fp32, cube_fp16in_fp32out) rounds the inputs and weights of
Conv, MatMul and Gemm to float16 and keeps everything else fp32. fp16 (force_fp16 and the other fp16 modes) rounds every float weight, the
network input and every float activation to float16 (Cast pairs after each node) while arithmetic
inside an op stays fp32: the cube units' fp16-in / fp32-accumulate behaviour, close to but not
equal to fp32. AIPP (crop, then (x - min_chn) * var_reci_chn) is applied to uint8 NHWC input first.
"""
from __future__ import annotations

import os

import numpy as np

NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8, "int8": np.int8,
                "int32": np.int32, "int64": np.int64}


def _ort():
    import onnxruntime

    return onnxruntime


def emulate_fp16(model_bytes: bytes) -> bytes:
    """The ONNX with fp16-rounded weights, input and activations (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32:
            init.CopyFrom(numpy_helper.from_array(array.astype(np.float16).astype(np.float32), init.name))
    inferred = onnx.shape_inference.infer_shapes(model)
    float_names = {v.name for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
                   if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    initializers = {i.name for i in graph.initializer}

    def round_trip(source: str, target: str) -> list:
        return [helper.make_node("Cast", [source], [source + "__fp16"], to=TensorProto.FLOAT16),
                helper.make_node("Cast", [source + "__fp16"], [target], to=TensorProto.FLOAT)]

    nodes = []
    renamed_inputs = {}
    for graph_input in graph.input:
        if graph_input.name in float_names and graph_input.name not in initializers:
            renamed_inputs[graph_input.name] = graph_input.name + "__rounded"
            nodes += round_trip(graph_input.name, renamed_inputs[graph_input.name])
    for node in graph.node:
        node.input[:] = [renamed_inputs.get(name, name) for name in node.input]
        produced = [name for name in node.output if name in float_names]
        node.output[:] = [name + "__fp32" if name in float_names else name for name in node.output]
        nodes.append(node)
        for name in produced:
            nodes += round_trip(name + "__fp32", name)
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


CUBE_OPS = ("Conv", "MatMul", "Gemm", "ConvTranspose")


def emulate_cube_fp16_inputs(model_bytes: bytes) -> bytes:
    """The ONNX with the float inputs of every cube op rounded to float16 (Cast pairs in front)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(model_bytes)
    nodes = []
    for index, node in enumerate(model.graph.node):
        if node.op_type in CUBE_OPS:
            for slot, name in enumerate(node.input[:2]):  # activation and weight; the bias stays fp32
                rounded = f"{name}__cube{index}_{slot}"
                nodes += [helper.make_node("Cast", [name], [rounded + "_h"], to=TensorProto.FLOAT16),
                          helper.make_node("Cast", [rounded + "_h"], [rounded], to=TensorProto.FLOAT)]
                node.input[slot] = rounded
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model.SerializeToString()


def session_for(model_bytes: bytes):
    ort = _ort()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
    except AttributeError:
        options.intra_op_num_threads = os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def apply_aipp(images: np.ndarray, aipp: dict) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW: crop, subtract min_chn, multiply by var_reci_chn (mean_chn is 0 here)."""
    if aipp.get("crop"):
        top, left = int(aipp.get("load_start_pos_h", 0)), int(aipp.get("load_start_pos_w", 0))
        images = images[:, top:top + int(aipp["crop_size_h"]), left:left + int(aipp["crop_size_w"]), :]
    pixels = images.astype(np.float32)
    for c in range(3):
        pixels[..., c] = (pixels[..., c] - np.float32(aipp.get(f"mean_chn_{c}", 0))
                          - np.float32(aipp.get(f"min_chn_{c}", 0.0))) * np.float32(aipp.get(f"var_reci_chn_{c}", 1.0))
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))


class SimModel:
    """What the NPU would run for one OM: input bytes of one batch in, output arrays out."""

    def __init__(self, header: dict, onnx_bytes: bytes) -> None:
        self.header = header
        self.fp16 = header["compute_precision"] == "fp16"
        if self.fp16:
            onnx_bytes = emulate_fp16(onnx_bytes)
        elif header["compute_precision"] == "cube_fp16in":
            onnx_bytes = emulate_cube_fp16_inputs(onnx_bytes)
        self._session = session_for(onnx_bytes)
        self._onnx_input = header["onnx_input_name"]

    def run(self, data: bytes, batch: int) -> list[np.ndarray]:
        spec = self.header["input"]
        array = np.frombuffer(data, dtype=NUMPY_DTYPES[spec["dtype"]]).reshape(batch, *spec["shape"][1:])
        if self.header.get("aipp"):
            array = apply_aipp(array, self.header["aipp"])
            if self.fp16:  # AIPP hands fp16 to the network
                array = array.astype(np.float16).astype(np.float32)
        outputs = self._session.run(None, {self._onnx_input: array})
        wanted = [NUMPY_DTYPES[o["dtype"]] for o in self.header["outputs"]]
        return [np.ascontiguousarray(o, dtype=w) for o, w in zip(outputs, wanted)]
