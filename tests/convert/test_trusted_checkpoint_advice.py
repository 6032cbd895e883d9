"""A timm train.py checkpoint keeps its argparse.Namespace `args` beside `state_dict` and `state_dict_ema`: read with
--allow-pickle-global, the line that says how to convert the EMA weights gives a load that reads that file."""
from __future__ import annotations

import argparse
import re

import pytest
import torch

from tests.conftest import run_cli

MODEL = "test_resnet"  # timm's 0.5M-parameter test network: exports in a second


def timm_weights(seed: int) -> dict:
    from convert.frameworks import import_timm

    torch.manual_seed(seed)
    return import_timm().create_model(MODEL, pretrained=False).state_dict()


def test_the_ema_advice_for_a_file_read_with_allowed_globals_loads_that_file(tmp_path):
    ema = timm_weights(2)
    checkpoint = tmp_path / "checkpoint-9.pth.tar"
    torch.save({"epoch": 9, "arch": MODEL, "state_dict": timm_weights(1), "args": argparse.Namespace(lr=0.1),
                "state_dict_ema": ema}, checkpoint)
    with pytest.raises(Exception):
        torch.load(checkpoint)  # weights-only by default: the Namespace is refused

    proc = run_cli("-m", "convert", "--model", MODEL, "--checkpoint", str(checkpoint), "--allow-pickle-global",
                   "argparse.Namespace", "--batchsize", "1", "--output", str(tmp_path / "out"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    advice = re.search(r"save them alone: (torch\.save\((.+)\['state_dict_ema'\], 'weights\.pth'\))", proc.stdout)
    assert advice, proc.stdout
    load = advice.group(2).replace("PATH", repr(str(checkpoint)))
    saved = eval(f"{load}['state_dict_ema']")  # the advice, as written
    assert saved.keys() == ema.keys() and all(torch.equal(saved[k], ema[k]) for k in ema)
