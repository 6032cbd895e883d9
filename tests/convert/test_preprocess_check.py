"""convert against the preprocessed data it is given: another recipe than the model's data config is
refused in one line naming each differing field and the fixing command, or accepted and recorded; a model
without weights says so and convert.json marks it."""
from __future__ import annotations

import json
from pathlib import Path

from harness.contracts import PreprocessManifest
from tests.conftest import assert_one_line_error, run_cli

# timm's pretrained config of test_resnet (160 px, crop_pct 0.95, bilinear, mean = std = 0.5), written out
RIGHT = {"input_size": 160, "resize": 168, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3}
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def prep_dir(path: Path, recipe: dict) -> Path:
    path.mkdir()
    PreprocessManifest(shape=[3, 160, 160], dtype="float32", layout="CHW", recipe=recipe).write(path)
    return path


def convert(tmp_path: Path, prep: Path, *extra: str):
    return run_cli("-m", "convert", "--model", "test_resnet", "--target", "cpu", "--batchsize", "2",
                   "--preprocess", str(prep), "--output", str(tmp_path / "out"), *extra)


def test_another_recipe_is_refused_naming_each_field_and_the_fix(tmp_path):
    prep = prep_dir(tmp_path / "prep", {**RIGHT, **IMAGENET, "interpolation": "bicubic"})
    proc = convert(tmp_path, prep)
    assert_one_line_error(proc, str(prep), "mean", "std", "interpolation bicubic (model: bilinear)",
                          "python -m preprocess --model test_resnet", "--accept-preprocess-mismatch")
    assert "resize" not in proc.stderr and "input_size" not in proc.stderr
    assert not (tmp_path / "out" / "convert.json").exists()


def test_an_accepted_mismatch_is_recorded_and_checked_again_on_an_unchanged_rerun(tmp_path):
    prep = prep_dir(tmp_path / "prep", {**RIGHT, "resize": 182})
    proc = convert(tmp_path, prep, "--accept-preprocess-mismatch")
    assert proc.returncode == 0, proc.stderr
    data_config = json.loads((tmp_path / "out" / "convert.json").read_text())["data_config"]
    assert data_config["preprocess_mismatch"] == {"resize": {"preprocessed": 182, "model": 168}}
    assert_one_line_error(convert(tmp_path, prep), "resize 182 (model: 168)")


def test_the_model_recipe_passes_and_random_weights_are_said_and_marked(tmp_path):
    proc = convert(tmp_path, prep_dir(tmp_path / "prep", dict(RIGHT)))
    assert proc.returncode == 0, proc.stderr
    assert "random weights: throughput only, accuracy means nothing" in proc.stdout
    manifest = json.loads((tmp_path / "out" / "convert.json").read_text())
    assert manifest["source"]["random_weights"] is True
    assert "preprocess_mismatch" not in manifest["data_config"]
    rerun = convert(tmp_path, tmp_path / "prep")
    assert rerun.returncode == 0 and "up to date" in rerun.stdout
    assert "accuracy means nothing" in rerun.stdout
