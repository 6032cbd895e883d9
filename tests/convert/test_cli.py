"""`python -m convert` on bad input: one line on stderr, non-zero exit, and an earlier result left intact."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from tests.conftest import assert_one_line_error, run_cli, tiny_classifier_onnx


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def earlier_result(tmp_path_factory):
    """An output directory that already holds a finished conversion."""
    work = tmp_path_factory.mktemp("cli")
    tiny_classifier_onnx(work / "tiny.onnx")
    proc = run_cli("-m", "convert", "--onnx", str(work / "tiny.onnx"), "--target", "cpu",
                   "--output", str(work / "out"))
    assert proc.returncode == 0, proc.stderr
    assert (work / "out" / "convert.json").is_file()
    return work


@pytest.fixture(scope="module")
def bad_checkpoints(earlier_result):
    work = earlier_result
    torch.save(torch.nn.Linear(2, 2), work / "pickled.pth")
    torch.save({"fc.weight": torch.zeros(10, 512), "conv1.weight": torch.zeros(64, 3, 7, 7)}, work / "misfit.pth")
    (work / "garbage.pth").write_bytes(b"not a checkpoint at all" * 8)
    return work


CASES = {
    "unknown model": (["--model", "resnet_no_such_arch"], ["unknown model 'resnet_no_such_arch'", "timm"]),
    "checkpoint does not fit": (["--model", "resnet18", "--checkpoint", "{work}/misfit.pth"],
                                ["misfit.pth: checkpoint does not fit resnet18",
                                 "fc.weight (10, 512) vs model (1000, 512)", "missing: bn1.weight"]),
    "pickled object": (["--model", "resnet18", "--checkpoint", "{work}/pickled.pth"],
                       ["pickled.pth: holds a pickled Python object", "torch.nn.modules.linear.Linear"]),
    "missing checkpoint": (["--model", "resnet18", "--checkpoint", "{work}/absent.pth"],
                           ["absent.pth: checkpoint not found"]),
    "unreadable checkpoint": (["--model", "resnet18", "--checkpoint", "{work}/garbage.pth"],
                              ["garbage.pth: not a readable PyTorch checkpoint"]),
    "checkpoint is a directory": (["--model", "resnet18", "--checkpoint", "{work}"], ["checkpoint is not a file"]),
    "precision the target lacks": (["--model", "resnet18", "--target", "cpu", "--precision", "fp16"],
                                   ["'cpu'", "fp16"]),
    "int8 without calibration data": (["--model", "resnet18", "--precision", "int8"], ["--calib"]),
    "unknown target": (["--model", "resnet18", "--target", "tpu"], ["unknown target 'tpu'"]),
    "onnx with a checkpoint": (["--onnx", "{work}/tiny.onnx", "--checkpoint", "{work}/misfit.pth"],
                               ["--onnx is used as is"]),
    "bad batch list": (["--model", "resnet18", "--batches", "1 x"], ["--batches"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_keeps_the_earlier_result(case, bad_checkpoints):
    work = bad_checkpoints
    args, needles = CASES[case]
    args = [a.format(work=work) for a in args] + ([] if "--target" in args else ["--target", "null"])
    before = snapshot(work / "out")
    proc = run_cli("-m", "convert", *args, "--output", str(work / "out"))
    assert_one_line_error(proc, *needles)
    assert snapshot(work / "out") == before


def test_output_directory_that_cannot_be_written(tmp_path):
    tiny_classifier_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "a_file").write_text("x")
    proc = run_cli("-m", "convert", "--onnx", str(tmp_path / "tiny.onnx"),
                   "--output", str(tmp_path / "a_file" / "out"))
    assert_one_line_error(proc, "output directory cannot be written")
