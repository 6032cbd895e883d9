"""convert.json `verification.input` names the batch the ONNX was checked on: a model that takes uint8 pixels (its
normalisation inside, preprocess --mode uint8) is fed pixel values 0-255, not normal(0, 1) floats."""
from __future__ import annotations

import json
import shutil

import numpy as np

from tests.conftest import SHARED_SAMPLE, run_cli

MODEL = "test_resnet"  # timm's 0.5M-parameter test network: exports in a second


def uint8_classifier_onnx(path, size: int = 8, classes: int = 4) -> None:
    """image uint8 [N,3,S,S] -> Cast -> GlobalAveragePool -> Flatten -> Gemm -> class [N,classes]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
             helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "W", "B"], ["class"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny8", [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", 3, size, size])],
        [helper.make_tensor_value_info("class", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(rng.standard_normal((classes, 3)).astype(np.float32), "W"),
         numpy_helper.from_array(rng.standard_normal(classes).astype(np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def verification(out) -> dict:
    return json.loads((out / "convert.json").read_text())["verification"]


def test_a_given_uint8_onnx_is_checked_on_pixel_values(tmp_path):
    uint8_classifier_onnx(tmp_path / "tiny8.onnx")
    proc = run_cli("-m", "convert", "--onnx", str(tmp_path / "tiny8.onnx"), "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    record = verification(tmp_path / "out")
    assert record["input"] == "uniform integers 0-255 (uint8 pixels), seed 0"


def test_a_model_exported_for_uint8_input_is_checked_on_pixel_values_and_floats_stay_normal(tmp_path):
    (tmp_path / "img").mkdir()
    shutil.copy(SHARED_SAMPLE / "n01440764_tench.JPEG", tmp_path / "img")
    proc = run_cli("-m", "preprocess", "--input", str(tmp_path / "img"), "--output", str(tmp_path / "u8"),
                   "--model", MODEL, "--mode", "uint8", "--no-progress", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    for name, extra in (("uint8", ["--preprocess", str(tmp_path / "u8")]), ("float32", [])):
        proc = run_cli("-m", "convert", "--model", MODEL, "--batchsize", "1", "--output", str(tmp_path / name),
                       *extra, timeout=300)
        assert proc.returncode == 0, proc.stderr
    uint8, float32 = verification(tmp_path / "uint8"), verification(tmp_path / "float32")
    assert uint8["input"] == "uniform integers 0-255 (uint8 pixels), seed 0"
    assert uint8["input_shape"][-1] == 3  # HWC pixels
    assert float32["input"] == "normal(0, 1), seed 0" and float32["input_shape"][1] == 3
