"""The nvidia target's torch engine refuses, before convert does any work, what it cannot build: int8, and a model
given as ONNX (it exports the PyTorch module itself). Host-side only: no GPU, no TensorRT."""
from __future__ import annotations

import pytest

from harness.errors import TargetError
from targets import get_target
from tests.conftest import assert_one_line_error, run_cli, tiny_classifier_onnx


def test_torch_engine_refuses_int8_when_asked_for_the_precision():
    target = get_target("nvidia", engine="torch")
    target.check_precision("fp32")
    target.check_precision("fp16")
    with pytest.raises(TargetError, match="the torch engine runs fp32 and fp16, not int8"):
        target.check_precision("int8")
    assert "torch engine builds from a PyTorch model" in target.pytorch_model_only


def test_tensorrt_engine_takes_int8_and_a_given_onnx():
    target = get_target("nvidia", engine="tensorrt")
    target.check_precision("int8")
    assert target.pytorch_model_only == ""


def test_given_onnx_for_the_torch_engine_is_refused_before_any_file_is_written(tmp_path):
    tiny_classifier_onnx(tmp_path / "tiny.onnx")
    proc = run_cli("-m", "convert", "--onnx", str(tmp_path / "tiny.onnx"), "--target", "nvidia", "--option",
                   "engine=torch", "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, f"{tmp_path / 'tiny.onnx'}: the nvidia target's torch engine builds from a PyTorch "
                                "model", "not from --onnx", "engine=tensorrt")
    assert proc.returncode == 3
    assert not (tmp_path / "out").exists()


def test_int8_for_the_torch_engine_is_refused_before_any_file_is_written(tmp_path):
    proc = run_cli("-m", "convert", "--model", "resnet18", "--target", "nvidia", "--option", "engine=torch",
                   "--precision", "int8", "--calib", str(tmp_path), "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, "the torch engine runs fp32 and fp16, not int8", "--option engine=tensorrt")
    assert proc.returncode == 7  # TargetError: what the target cannot do
    assert not (tmp_path / "out").exists()
