"""Weights saved from a wrapper module (a PyTorch Lightning module's self.model): every key carries the wrapper's
attribute name. Refused as not fitting, with the line that saves them without it; that advice, followed as written,
converts to the model's own PyTorch float32 outputs."""
from __future__ import annotations

import re

import torch

from tests.conftest import run_cli
from tests.convert.references import assert_artifact_matches_module

MODEL = "test_resnet"  # timm's 0.5M-parameter test network: exports in a second


def convert(tmp_path, checkpoint):
    return run_cli("-m", "convert", "--model", MODEL, "--checkpoint", str(checkpoint), "--batchsize", "2",
                   "--output", str(tmp_path / "out"), timeout=300)


def test_a_lightning_checkpoint_is_refused_with_advice_that_converts_it(tmp_path):
    from convert.frameworks import import_timm

    torch.manual_seed(4)
    model = import_timm().create_model(MODEL, pretrained=False).eval()
    checkpoint = tmp_path / "epoch=3-step=100.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, checkpoint)

    proc = convert(tmp_path, checkpoint)
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "every key starts with 'model.'" in lines[0], proc.stderr
    advice = re.search(r"(torch\.save\(\{k\.removeprefix.+, 'weights\.pth'\))", lines[0])
    assert advice, lines[0]
    weights = tmp_path / "weights.pth"
    eval(advice.group(1).replace("PATH", repr(str(checkpoint))).replace("'weights.pth'", repr(str(weights))))

    proc = convert(tmp_path, weights)
    assert proc.returncode == 0, proc.stderr
    assert_artifact_matches_module(tmp_path / "out", model, seed=6)


def test_keys_that_fit_no_model_get_no_prefix_advice(tmp_path):
    torch.save({"state_dict": {"model.conv.weight": torch.zeros(2, 2)}}, tmp_path / "other.ckpt")
    proc = convert(tmp_path, tmp_path / "other.ckpt")
    assert proc.returncode == 4 and "unexpected: model.conv.weight" in proc.stderr
    assert "every key starts with" not in proc.stderr
