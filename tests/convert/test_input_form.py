"""uint8 HWC input with the normalisation as the model's first op: the same function as float32 input.

The real check: EfficientNet-Lite0 with its packaged weights, converted for the cpu target from
preprocess --mode float32 and from --mode uint8, classifies the repository's sample images alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convert.export import Uint8Normalize
from convert.input_form import FLOAT32, input_form
from tasks.classification.presets import resolve_recipe
from tasks.classification.transform import to_tensor
from tests.conftest import ROOT

SAMPLE = ROOT / "data" / "sample"


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


def test_prefix_computes_what_float32_preprocessing_writes():
    recipe = resolve_recipe("seresnext101_32x4d")  # ImageNet mean/std: three different channels
    pixels = np.random.default_rng(3).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    want = np.stack([to_tensor(Image.fromarray(p), recipe) for p in pixels])
    got = Uint8Normalize(Identity(), recipe["mean"], recipe["std"])(torch.from_numpy(pixels)).numpy()
    assert got.shape == want.shape == (2, 3, 5, 7)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)


def test_input_form_per_target():
    uint8 = {"dtype": "uint8", "recipe": {"mean": [0.5] * 3, "std": [0.25] * 3}}
    assert input_form(uint8, "cpu")["form"] == input_form(uint8, "nvidia")["form"] == "uint8"
    assert input_form(uint8, "null")["form"] == "uint8"  # it stands in for the nvidia device in I/O benches
    assert input_form(uint8, "cpu")["std"] == [0.25] * 3
    assert input_form(uint8, "ascend") == FLOAT32  # Ascend normalises in AIPP, from the float ONNX
    assert input_form({"dtype": "float32"}, "cpu") == FLOAT32 and input_form(None, "nvidia") == FLOAT32


def prepare(tmp: Path, mode: str, images: Path = SAMPLE):
    from convert import parse_args, run
    from preprocess.cli import parse_args as preprocess_args
    from preprocess.run import run as preprocess

    prep = tmp / f"prep-{mode}"
    preprocess(preprocess_args(["--input", str(images), "--output", str(prep), "--model", "efficientnet_lite0",
                                "--mode", mode, "--no-progress"]))
    out = tmp / f"model-{mode}"
    manifest = run(parse_args(["--model", "efficientnet_lite0", "--target", "cpu", "--batchsize", "16",
                               "--preprocess", str(prep), "--output", str(out)]))
    return prep, out, manifest


def classify(prep: Path, out: Path, manifest) -> dict[str, np.ndarray]:
    from targets import get_target

    spec = manifest.input
    stems = sorted(p.stem for p in prep.glob("*.bin"))
    batch = np.stack([np.fromfile(prep / f"{s}.bin", dtype=spec.dtype).reshape(spec.sample_shape) for s in stems])
    with get_target("cpu").open(out / manifest.artifact, manifest) as session:
        logits = np.concatenate([session.run(batch[i:i + 16])[0] for i in range(0, len(batch), 16)])
    return dict(zip(stems, logits))


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="data/sample is absent")
def test_lite0_uint8_input_classifies_the_sample_like_float32(tmp_path):
    prep32, out32, manifest32 = prepare(tmp_path, "float32")
    prep8, out8, manifest8 = prepare(tmp_path, "uint8")
    assert manifest32.input.dtype == "float32" and manifest32.data_config["input_form"]["form"] == "float32"
    assert manifest8.input.dtype == "uint8" and manifest8.input.shape[1:] == [224, 224, 3]
    assert manifest8.data_config["input_form"]["mean"] == [0.5, 0.5, 0.5]
    assert manifest8.verification["passed"]
    float_logits, pixel_logits = classify(prep32, out32, manifest32), classify(prep8, out8, manifest8)
    assert float_logits.keys() == pixel_logits.keys() and len(float_logits) >= 40
    labels = dict(line.split() for line in (SAMPLE / "val_label.txt").read_text().splitlines() if line.strip())
    top1_float = {s: int(v.argmax()) for s, v in float_logits.items()}
    top1_pixels = {s: int(v.argmax()) for s, v in pixel_logits.items()}
    assert top1_pixels == top1_float
    correct = sum(top1_float[s] == int(labels[f"{s}.JPEG"]) for s in top1_float if f"{s}.JPEG" in labels)
    assert correct >= 0.8 * len(top1_float)  # the real weights: a broken prefix could not agree and be right
    worst = max(float(np.abs(pixel_logits[s] - float_logits[s]).max()) for s in float_logits)
    assert worst < 1e-3


def test_a_uint8_artifact_is_up_to_date_on_the_same_command(tmp_path, capsys):
    """Its input is (H, W, C): the preprocess check must still read it as H x W (it once read W x C)."""
    from convert import parse_args, run

    images = tmp_path / "images"
    images.mkdir()
    for image in sorted(SAMPLE.glob("*.JPEG"))[:2]:
        (images / image.name).symlink_to(image)
    prep, out, first = prepare(tmp_path, "uint8", images)
    argv = ["--model", "efficientnet_lite0", "--target", "cpu", "--batchsize", "16", "--preprocess", str(prep),
            "--output", str(out)]
    capsys.readouterr()
    again = run(parse_args(argv))
    assert "is up to date" in capsys.readouterr().out
    assert again.build_key == first.build_key and again.input.shape[1:] == [224, 224, 3]
