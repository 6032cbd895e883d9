"""int8 calibration data against the model's recipe: calibrating on images preprocessed for another model is refused
in one line naming the calibration directory, each differing field and the fix, or accepted and labelled."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from convert.calibration import CALIBRATION_MISMATCH_NOTE, calibration_mismatch_record, check_calibration_recipe
from harness.contracts import PreprocessManifest
from harness.errors import ContractError
from tests.conftest import assert_one_line_error, run_cli, write_bins

# timm's pretrained config of test_resnet (160 px, crop_pct 0.95, bilinear, mean = std = 0.5), written out
RIGHT = {"input_size": 160, "resize": 168, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3}
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def calib_dir(path: Path, recipe: dict, count: int = 2) -> Path:
    write_bins(path, count, size=160)
    files = [{"stem": f"img_{i}", "source": f"/images/img_{i}.JPEG"} for i in range(count)]
    PreprocessManifest(shape=[3, 160, 160], dtype="float32", layout="CHW", recipe=recipe, files=files).write(path)
    return path


def test_calibration_data_of_another_recipe_is_refused_naming_the_directory_and_the_fix(tmp_path):
    calib = calib_dir(tmp_path / "calib", {**RIGHT, **IMAGENET, "interpolation": "bicubic"})
    with pytest.raises(ContractError) as caught:
        check_calibration_recipe(calib, "test_resnet", RIGHT, accept=False)
    message = str(caught.value)
    assert message.startswith(f"{calib}: calibration data preprocessed with ")
    for needle in ("interpolation bicubic (model: bilinear)", "mean [0.485, 0.456, 0.406] (model: [0.5, 0.5, 0.5])",
                   "std [0.229, 0.224, 0.225]", f"python -m preprocess --model test_resnet --input IMAGES --output "
                   f"{calib}", "--accept-preprocess-mismatch"):
        assert needle in message
    assert "resize" not in message and "\n" not in message


def test_the_model_recipe_passes_and_an_accepted_mismatch_is_labelled(tmp_path):
    assert check_calibration_recipe(calib_dir(tmp_path / "right", dict(RIGHT)), "test_resnet", RIGHT, False) == {}
    assert calibration_mismatch_record({}) == {}
    differences = check_calibration_recipe(calib_dir(tmp_path / "other", {**RIGHT, "resize": 182}), "test_resnet",
                                           RIGHT, accept=True)
    assert differences == {"resize": {"preprocessed": 182, "model": 168}}
    record = calibration_mismatch_record(differences)
    assert record == {"calibration_recipe_mismatch": differences, "labels": [f"{CALIBRATION_MISMATCH_NOTE} (resize)"]}
    assert CALIBRATION_MISMATCH_NOTE == "calibrated on data preprocessed with another recipe"


def convert_int8(tmp_path: Path, calib: Path, *extra: str):
    return run_cli("-m", "convert", "--model", "test_resnet", "--target", "cpu", "--precision", "int8",
                   "--batchsize", "2", "--calib", str(calib), "--calib-count", "2",
                   "--output", str(tmp_path / "out"), *extra)


def test_convert_refuses_calibration_data_of_another_recipe_and_records_an_accepted_one(tmp_path):
    calib = calib_dir(tmp_path / "calib", {**RIGHT, **IMAGENET})
    refused = convert_int8(tmp_path, calib)
    assert_one_line_error(refused, str(calib), "calibration data", "mean", "std", "--accept-preprocess-mismatch")
    assert refused.returncode == 4 and not (tmp_path / "out" / "convert.json").exists()
    accepted = convert_int8(tmp_path, calib, "--accept-preprocess-mismatch")
    assert accepted.returncode == 0, accepted.stderr
    info = json.loads((tmp_path / "out" / "convert.json").read_text())["target_info"]["precision_onnx"]
    assert sorted(info["calibration_recipe_mismatch"]) == ["mean", "std"]
    assert info["labels"] == [f"{CALIBRATION_MISMATCH_NOTE} (mean, std)"]
    ran = run_cli("-m", "infer", "--model", str(tmp_path / "out"), "--input", str(calib), "--output",
                  str(tmp_path / "res"), "--output_dirname", "run", "--accept-preprocess-mismatch",
                  "--score-calibration-images", "--no-progress")
    assert ran.returncode == 0, ran.stderr
    labels = json.loads((tmp_path / "res" / "run_summary.json").read_text())["extra"]["labels"]
    assert f"{CALIBRATION_MISMATCH_NOTE} (mean, std)" in labels
