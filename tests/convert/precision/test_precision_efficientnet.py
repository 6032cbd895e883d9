"""EfficientNet-Lite0 with its real ImageNet weights: int8 (calibrated on the first 200 sample images)
against fp32 on the other 800 through the CPU target, the Q/DQ form TensorRT needs, and fp16."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.classification.scoring import top_k_accuracy
from tests.convert.precision.references import CALIBRATION_COUNT, CALIBRATION_METHOD, load_batch

MAX_TOP1_DROP = 1.5  # points, the acceptance bound
MAX_TOP5_DROP = 1.5
FP32_TOP1_FLOOR = 85.0  # 88.2% on all 1000 in PyTorch (SPEC 5); ImageNet mean/std instead gives 77.5%
BATCH = 8


def cpu_target_logits(onnx_path: Path, precision: str, directory: Path, stems: list[str]) -> np.ndarray:
    from harness.contracts import TensorSpec
    from targets import get_target
    from targets.base import BuildRequest

    out = onnx_path.parent / f"cpu-{precision}"
    out.mkdir(exist_ok=True)
    target = get_target("cpu")
    built = target.build(BuildRequest(onnx=onnx_path, out_dir=out, model="efficientnet_lite0", precision=precision,
                                      batch_sizes=[BATCH], dynamic_batch=True,
                                      input=TensorSpec("image", [-1, 3, 224, 224]),
                                      output=TensorSpec("class", [-1, 1000])))
    with target.open(built.artifact, manifest=None) as session:
        return np.concatenate([session.run(load_batch(directory, stems[i:i + BATCH]))[0]
                               for i in range(0, len(stems), BATCH)])


@pytest.fixture(scope="module")
def scored(efficientnet_fp32, efficientnet_int8, imagenet_bins, labels) -> dict:
    directory, stems = imagenet_bins
    held_out = stems[CALIBRATION_COUNT:]
    truth = np.array([labels[s] for s in held_out])
    result = {"images": len(held_out)}
    for precision, path in (("fp32", efficientnet_fp32), ("int8", efficientnet_int8[0])):
        logits = cpu_target_logits(path, precision, directory, held_out)
        result[precision] = {"top1": 100.0 * top_k_accuracy(logits, truth, 1),
                             "top5": 100.0 * top_k_accuracy(logits, truth, 5)}
    print(f"\nefficientnet_lite0 on {len(held_out)} held-out images: fp32 {result['fp32']}, int8 "
          f"({CALIBRATION_METHOD}, {CALIBRATION_COUNT} images) {result['int8']}")
    return result


def test_fp32_reference_classifies_the_sample(scored):
    assert scored["images"] == 800
    assert scored["fp32"]["top1"] >= FP32_TOP1_FLOOR


def test_int8_top1_within_1_5_points_of_fp32(scored):
    assert scored["int8"]["top1"] >= scored["fp32"]["top1"] - MAX_TOP1_DROP


def test_int8_top5_close_to_fp32(scored):
    assert scored["int8"]["top5"] >= scored["fp32"]["top5"] - MAX_TOP5_DROP


def test_int8_records_its_calibration(efficientnet_int8, imagenet_bins):
    from convert.precision import calibration_fingerprint

    _, info = efficientnet_int8
    assert (info["method"], info["count"]) == (CALIBRATION_METHOD, CALIBRATION_COUNT)
    assert info["calibration"] == calibration_fingerprint(imagenet_bins[0], CALIBRATION_COUNT, CALIBRATION_METHOD)


def test_int8_is_the_qdq_form_tensorrt_builds(efficientnet_int8):
    """Explicit quantization as TensorRT 10/11 parse it: signed int8, zero points 0, per-channel int8
    weights behind DequantizeLinear, quantized activations into every Conv/Gemm, float biases."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(efficientnet_int8[0]))
    onnx.checker.check_model(model)
    graph = model.graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producer = {name: node for node in graph.node for name in node.output}
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zero_point = consts[node.input[2]]
            assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
        if node.op_type == "DequantizeLinear" and node.input[0] in consts:
            assert consts[node.input[0]].dtype == np.int8, f"{node.name}: TensorRT dequantizes int8 only"
    layers = [n for n in graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(layers) == 50  # 49 Conv + the classifier
    for layer in layers:
        activation, weight = producer[layer.input[0]], producer[layer.input[1]]
        assert activation.op_type == weight.op_type == "DequantizeLinear", layer.name
        weights, scales = consts[weight.input[0]], consts[weight.input[1]]
        assert weights.dtype == np.int8 and scales.ndim == 1 and scales.size == weights.shape[0] > 1, layer.name
        if len(layer.input) > 2:
            assert consts[layer.input[2]].dtype == np.float32, layer.name
    io_types = [v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)]
    assert [v.name for v in (*graph.input, *graph.output)] == ["image", "class"] and io_types == [TensorProto.FLOAT] * 2


def test_fp16_agrees_with_fp32(efficientnet_fp32, imagenet_bins):
    import onnx
    import onnxruntime
    from onnx import TensorProto

    from convert.precision import make_fp16_onnx

    half = efficientnet_fp32.with_name("efficientnet_lite0.fp16.onnx")
    make_fp16_onnx(efficientnet_fp32, half)
    model = onnx.load(str(half))
    assert {init.data_type for init in model.graph.initializer} == {TensorProto.FLOAT16}
    assert sum(n.op_type == "Cast" for n in model.graph.node) == 2  # only at the float32 input and output
    directory, stems = imagenet_bins
    batch = load_batch(directory, stems[CALIBRATION_COUNT:CALIBRATION_COUNT + 32])
    full, reduced = (onnxruntime.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"image": batch})[0]
                     for p in (efficientnet_fp32, half))
    assert reduced.dtype == np.float32
    assert (full.argmax(1) == reduced.argmax(1)).mean() >= 0.95
    assert np.abs(full - reduced).max() < 0.02 * np.abs(full).max()  # measured 0.0035 on the 800
