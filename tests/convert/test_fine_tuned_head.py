"""A checkpoint whose classifier has another number of classes than the architecture's default (a fine-tune):
refused with the flag that takes it, then converted with --num-classes and scored on real images."""
from __future__ import annotations

import json

import numpy as np
import torch

from tests.conftest import SHARED_SAMPLE, assert_one_line_error, run_cli

MODEL = "test_resnet"  # timm's 0.5M-parameter test network: exports in a second
CLASSES = 10
IMAGES = ("n01440764_tench", "n01443537_goldfish", "n01484850_great_white_shark")


def fine_tuned(path) -> torch.nn.Module:
    from convert.frameworks import import_timm

    torch.manual_seed(3)
    model = import_timm().create_model(MODEL, pretrained=False, num_classes=CLASSES).eval()
    torch.save({"state_dict": model.state_dict()}, path)
    return model


def reference_top1(model, directory) -> dict[str, int]:
    """PyTorch float32 top-1 of each image, preprocessed by timm's own eval transform."""
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config({}, model=model))
    with torch.no_grad():
        return {stem: int(model(transform(Image.open(directory / f"{stem}.JPEG").convert("RGB"))[None]).argmax())
                for stem in IMAGES}


def convert(tmp_path, *flags: str):
    return run_cli("-m", "convert", "--model", MODEL, "--checkpoint", str(tmp_path / "ft.pth"), "--batchsize", "1",
                   "--output", str(tmp_path / "model"), *flags, timeout=300)


def test_a_fine_tuned_head_is_refused_naming_the_flag_that_takes_it(tmp_path):
    fine_tuned(tmp_path / "ft.pth")
    proc = convert(tmp_path)
    assert_one_line_error(proc, str(tmp_path / "ft.pth"), "fc.weight (10, 96) vs model (1000, 96)",
                          "--num-classes 10")
    assert proc.returncode == 4


def test_num_classes_converts_a_fine_tuned_head_and_it_scores_as_pytorch(tmp_path):
    model = fine_tuned(tmp_path / "ft.pth")
    images = tmp_path / "img"
    images.mkdir()
    for stem in IMAGES:
        (images / f"{stem}.JPEG").symlink_to(SHARED_SAMPLE / f"{stem}.JPEG")
    expected = reference_top1(model, images)
    proc = convert(tmp_path, "--num-classes", str(CLASSES))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "model" / "convert.json").read_text())
    assert manifest["output"]["shape"] == [1, CLASSES]
    steps = [("-m", "preprocess", "--input", str(images), "--output", str(tmp_path / "bins"), "--model", MODEL,
              "--no-progress"),
             ("-m", "infer", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "bins"), "--output",
              str(tmp_path / "res"), "--output_dirname", "run", "--outfmt", "NPY", "--no-progress")]
    for step in steps:
        done = run_cli(*step)
        assert done.returncode == 0, done.stderr
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{stem}.JPEG {top}\n" for stem, top in expected.items()))
    done = run_cli("-m", "postprocess", "--result", str(tmp_path / "res" / "run"), "--labels", str(labels))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "res" / "run" / "result.json").read_text())
    assert result["value"][1]["value"] == str(CLASSES) and result["value"][2]["value"] == "100.0%"
    for stem in IMAGES:
        scores = np.load(tmp_path / "res" / "run" / f"{stem}_0.npy")
        assert int(np.argmax(scores)) == expected[stem]


def test_num_classes_is_refused_where_no_timm_head_is_built(tmp_path):
    proc = run_cli("-m", "convert", "--onnx", str(tmp_path / "m.onnx"), "--num-classes", "10",
                   "--output", str(tmp_path / "out"))
    assert_one_line_error(proc, "--num-classes 10: a --onnx model has its classifier already")
    assert proc.returncode == 3 and not (tmp_path / "out").exists()
    proc = run_cli("-m", "convert", "--model", MODEL, "--num-classes", "0", "--output", str(tmp_path / "out"))
    assert proc.returncode == 2 and "--num-classes" in proc.stderr


HEADLESS = "convnextv2_pico.fcmae"  # timm's pretrained config: num_classes 0, a self-supervised feature extractor


def test_a_timm_model_without_a_classifier_is_refused_and_takes_one_with_num_classes(tmp_path):
    from convert.frameworks import import_timm

    timm = import_timm()
    torch.save(timm.create_model(HEADLESS, pretrained=False).state_dict(), tmp_path / "features.pth")
    proc = run_cli("-m", "convert", "--model", HEADLESS, "--checkpoint", str(tmp_path / "features.pth"),
                   "--batchsize", "1", "--output", str(tmp_path / "model"), timeout=300)
    assert_one_line_error(proc, HEADLESS, "no classifier", "features", "--num-classes")
    assert proc.returncode == 3 and not (tmp_path / "model").exists()
    torch.save(timm.create_model(HEADLESS, pretrained=False, num_classes=CLASSES).state_dict(), tmp_path / "ft.pth")
    proc = run_cli("-m", "convert", "--model", HEADLESS, "--checkpoint", str(tmp_path / "ft.pth"), "--batchsize",
                   "1", "--num-classes", str(CLASSES), "--output", str(tmp_path / "model"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "model" / "convert.json").read_text())["output"]["shape"] == [1, CLASSES]
