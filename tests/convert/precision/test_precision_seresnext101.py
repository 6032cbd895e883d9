"""SE-ResNeXt101_32x4d (timm, random weights) to an int8 Q/DQ ONNX on a handful of random calibration
tensors: it passes onnx.checker, quantizes every Conv/Gemm and runs on the CPU target near fp32."""
from __future__ import annotations

import numpy as np
import pytest

from tests.convert.precision.references import export_onnx, seresnext101_random, write_bin_dir

CALIBRATION_TENSORS = 4
RELATIVE_TOLERANCE = 0.05  # max |int8 - fp32| / max |fp32| on the calibration inputs


@pytest.fixture(scope="module")
def seresnext(tmp_path_factory):
    import torch

    from convert.precision import make_int8_onnx

    torch.set_num_threads(2)
    work = tmp_path_factory.mktemp("seresnext101")
    fp32 = export_onnx(seresnext101_random(), work / "seresnext101_32x4d.onnx", simplify=False)
    rng = np.random.default_rng(0)
    tensors = {f"random_{i}": rng.standard_normal((3, 224, 224)).astype(np.float32) for i in range(CALIBRATION_TENSORS)}
    calib = write_bin_dir(tensors, work / "calib")
    int8 = work / "seresnext101_32x4d.int8.onnx"
    make_int8_onnx(fp32, int8, calib, CALIBRATION_TENSORS, "minmax", "image")
    return fp32, int8, np.stack([tensors[k] for k in sorted(tensors)][:2])


def test_int8_onnx_passes_the_checker_and_quantizes_every_layer(seresnext):
    import onnx

    _, int8, _ = seresnext
    onnx.checker.check_model(str(int8), full_check=True)
    graph = onnx.load(str(int8), load_external_data=False).graph
    producer = {name: node for node in graph.node for name in node.output}
    layers = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(layers) == 171  # 170 Conv (SE 1x1 convs included) + the classifier
    assert all(producer[layer.input[1]].op_type == "DequantizeLinear" for layer in layers)


def test_int8_runs_on_the_cpu_target(seresnext, tmp_path):
    import onnxruntime

    from harness.contracts import TensorSpec
    from targets import get_target
    from targets.base import BuildRequest

    fp32, int8, batch = seresnext
    target = get_target("cpu")
    built = target.build(BuildRequest(onnx=int8, out_dir=tmp_path, model="seresnext101_32x4d", precision="int8",
                                      batch_sizes=[2], dynamic_batch=True, input=TensorSpec("image", [-1, 3, 224, 224]),
                                      output=TensorSpec("class", [-1, 1000])))
    with target.open(built.artifact, manifest=None) as session:
        result = session.run(batch)[0]
    expected = onnxruntime.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).run(None, {"image": batch})[0]
    assert result.shape == (2, 1000) and result.dtype == np.float32 and np.isfinite(result).all()
    assert np.abs(result - expected).max() < RELATIVE_TOLERANCE * np.abs(expected).max()
