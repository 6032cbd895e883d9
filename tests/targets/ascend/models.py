"""Small ONNX classifiers and build requests for the Ascend tests (no torch needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.contracts import ConvertManifest, TensorSpec
from targets.base import BuildRequest, BuildResult

IMAGE = 32
CLASSES = 10


def tiny_classifier(path: Path, batch: int | str = "N", seed: int = 0) -> Path:
    """Conv-ReLU-Conv-GAP-Gemm on image [N,3,32,32] -> class [N,10], opset 11."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def weight(name: str, *shape: int, scale: float = 0.5):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    nodes = [helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["class"])]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, IMAGE, IMAGE])],
        [helper.make_tensor_value_info("class", TensorProto.FLOAT, [batch, CLASSES])],
        [weight("w1", 8, 3, 3, 3), weight("b1", 8), weight("w2", 16, 8, 3, 3, scale=0.2), weight("b2", 16),
         weight("w3", 16, CLASSES), weight("b3", CLASSES)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def build_request(onnx_path: Path, out_dir: Path, precision: str = "fp32", batch_sizes=(4,),
                  dynamic: bool = False, preprocess: dict | None = None, **options) -> BuildRequest:
    out_dir.mkdir(parents=True, exist_ok=True)
    return BuildRequest(onnx=onnx_path, out_dir=out_dir, model="tiny", precision=precision,
                        batch_sizes=list(batch_sizes), dynamic_batch=dynamic,
                        input=TensorSpec("image", [-1, 3, IMAGE, IMAGE]), output=TensorSpec("class", [-1, CLASSES]),
                        options={"soc_version": "Ascend310P3", **options}, preprocess=preprocess)


def manifest_for(request: BuildRequest, result: BuildResult) -> ConvertManifest:
    """What convert would write after this build (target_info = the build info)."""
    return ConvertManifest(model=request.model, target="ascend", precision=request.precision,
                           artifact=result.artifact.name, onnx=str(request.onnx), sim_onnx=str(request.onnx),
                           input=request.input, output=request.output, batch_sizes=request.batch_sizes,
                           dynamic_batch=request.dynamic_batch, opset=11, target_info=result.info)


def cpu_reference(onnx_path: Path, batch: np.ndarray) -> np.ndarray:
    """ONNX Runtime CPU with the CPU target's own session settings: the accuracy reference."""
    import onnxruntime as ort

    from targets.cpu.target import session_options

    session = ort.InferenceSession(str(onnx_path), sess_options=session_options(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"image": batch})[0]
