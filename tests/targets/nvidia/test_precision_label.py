"""Precision labels are effective precisions: fp32 where TF32 is allowed on a GPU that has it says so;
tf32=0 is strict fp32 (the process-wide switches off) and the label follows the option."""
from __future__ import annotations

import pytest
import torch

from harness.errors import TargetError
from targets import get_target
from targets.nvidia.options import NvidiaOptions
from tests.targets.nvidia.test_torch_engine import build

TF32 = "fp32 (TF32 matmul/conv)"


def switches() -> tuple[bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def runner(tmp_path, monkeypatch, capability, **kwargs):
    from targets.nvidia.torch_runtime import TorchRunner
    from targets.nvidia.variants import resolve_variant

    monkeypatch.setattr(TorchRunner, "_capability", lambda self: capability)
    _, result, _, _ = build(tmp_path, batches=(2,), dynamic=False)
    return TorchRunner(result.artifact, torch.device("cpu"), kwargs.pop("precision", "fp32"),
                       resolve_variant("plain"), (3, 8, 8), **kwargs)


def test_tf32_option_parses_and_defaults_on():
    assert NvidiaOptions.parse({}).tf32 is True
    assert NvidiaOptions.parse({"tf32": "0"}).tf32 is False
    assert get_target("nvidia", engine="torch", tf32="0").options.tf32 is False


def test_fp32_on_an_ampere_or_later_gpu_is_labelled_tf32(tmp_path, monkeypatch):
    session = runner(tmp_path, monkeypatch, (9, 0))
    try:
        info = session.info()
        assert switches() == (True, True)
    finally:
        session.close()
    assert info["effective_precision"] == TF32 and info["tf32_allowed"] is True


def test_tf32_0_turns_the_switches_off_labels_strict_fp32_and_puts_them_back(tmp_path, monkeypatch):
    before = switches()
    session = runner(tmp_path, monkeypatch, (9, 0), tf32=False)
    try:
        assert switches() == (False, False)
        info = session.info()
    finally:
        session.close()
    assert info["effective_precision"] == "fp32" and info["tf32_allowed"] is False
    assert switches() == before


@pytest.mark.parametrize("capability, precision, label", [((7, 5), "fp32", "fp32"), (None, "fp32", "fp32"),
                                                           ((9, 0), "fp16", "fp16")])
def test_no_tf32_label_where_tf32_cannot_apply(tmp_path, monkeypatch, capability, precision, label):
    session = runner(tmp_path, monkeypatch, capability, precision=precision)
    session.close()
    assert session.info()["effective_precision"] == label


def test_a_tensorrt_fp32_engine_is_labelled_tf32_and_refuses_tf32_0():
    target = get_target("nvidia", engine="tensorrt")
    meta = {"engine": "tensorrt", "precision": "fp32", "gpu": {"compute_capability": "9.0"}}
    assert target._tensorrt_precision(meta) == {"effective_precision": TF32}
    with pytest.raises(TargetError, match="engine=torch"):
        get_target("nvidia", engine="tensorrt", tf32="0")._tensorrt_precision(meta)

