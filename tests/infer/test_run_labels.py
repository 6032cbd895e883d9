"""What a run's numbers do not mean is said, never silent: a preprocess recipe other than the model's is
refused or accepted and labelled, random weights and calibration images among the scored ones are labelled
from infer's summary through postprocess's result.json to the report; a static build takes its own batch."""
from __future__ import annotations

import json
from pathlib import Path

from harness.contracts import ConvertManifest, PreprocessManifest, read_run_summary
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli, tiny_classifier_onnx, write_bins

MODEL_CONFIG = {"input_size": 8, "resize": 9, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [0.5] * 3}


def labelled_bins(directory: Path, count: int, recipe: dict) -> Path:
    write_bins(directory, count)
    files = [{"stem": f"img_{i}", "source": f"img_{i}.JPEG"} for i in range(count)]
    PreprocessManifest(shape=[3, 8, 8], dtype="float32", layout="CHW", recipe=recipe, files=files).write(directory)
    (directory.parent / "labels.txt").write_text("".join(f"img_{i}.JPEG {i % 10}\n" for i in range(count)))
    return directory


def model_with(directory: Path, **fields) -> Path:
    make_convert_dir(directory, batch=4)
    manifest = ConvertManifest.read(directory)
    for key, value in fields.items():
        setattr(manifest, key, value)
    manifest.write(directory)
    return directory


def infer(model: Path, bins: Path, out: Path, *extra: str):
    return run_cli("-m", "infer", "--model", str(model), "--input", str(bins), "--output", str(out),
                   "--output_dirname", "run", "--outfmt", "TXT", "--no-progress", *extra)


def test_infer_refuses_another_recipe_in_one_line_naming_the_fields(tmp_path):
    model = model_with(tmp_path / "model", data_config=dict(MODEL_CONFIG))
    bins = labelled_bins(tmp_path / "bins", 5, {**MODEL_CONFIG, "mean": [0.485, 0.456, 0.406],
                                                  "std": [0.229, 0.224, 0.225]})
    proc = infer(model, bins, tmp_path / "res")
    assert_one_line_error(proc, "mean", "std", "python -m preprocess --model tiny", "--accept-preprocess-mismatch")
    assert "interpolation" not in proc.stderr and "resize" not in proc.stderr


def test_an_accepted_mismatch_and_random_weights_are_labelled_through_to_the_report(tmp_path):
    model = model_with(tmp_path / "model", data_config=dict(MODEL_CONFIG),
                       source={"weights": "random (seed 0)", "random_weights": True})
    bins = labelled_bins(tmp_path / "bins", 5, {**MODEL_CONFIG, "interpolation": "bicubic"})
    proc = infer(model, bins, tmp_path / "res", "--accept-preprocess-mismatch")
    assert proc.returncode == 0, proc.stderr
    summary = read_run_summary(tmp_path / "res" / "run")
    assert summary.extra["preprocess_mismatch"] == {"interpolation": {"preprocessed": "bicubic", "model": "bilinear"}}
    assert summary.extra["random_weights"] is True
    labels = summary.extra["labels"]
    assert any("random weights" in label for label in labels)
    assert any("preprocess mismatch (interpolation)" in label for label in labels)

    post = run_cli("-m", "postprocess", "--result", str(tmp_path / "res" / "run"), "--labels",
                   str(tmp_path / "labels.txt"))
    assert post.returncode == 0, post.stderr
    assert "accuracy means nothing" in post.stdout
    result = json.loads((tmp_path / "res" / "run" / "result.json").read_text())
    assert result["labels"] == labels and result["title"] == "Overall statistical evaluation"

    report = run_cli("-m", "report", "--input", str(tmp_path / "res"), "--output", str(tmp_path / "report"),
                     "--no-published")
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "random weights" in text and "preprocess mismatch (interpolation)" in text


def test_a_run_with_weights_and_the_model_recipe_carries_no_label(tmp_path):
    model = model_with(tmp_path / "model", data_config=dict(MODEL_CONFIG), source={"weights": "checkpoint"})
    bins = labelled_bins(tmp_path / "bins", 5, dict(MODEL_CONFIG))
    assert infer(model, bins, tmp_path / "res").returncode == 0
    assert "labels" not in read_run_summary(tmp_path / "res" / "run").extra
    assert run_cli("-m", "postprocess", "--result", str(tmp_path / "res" / "run"), "--labels",
                   str(tmp_path / "labels.txt")).returncode == 0
    assert "labels" not in json.loads((tmp_path / "res" / "run" / "result.json").read_text())


def int8_model(tmp_path: Path, bins: Path, calib: Path) -> Path:
    onnx = tmp_path / "tiny.onnx"
    tiny_classifier_onnx(onnx)
    out = tmp_path / "int8"
    proc = run_cli("-m", "convert", "--onnx", str(onnx), "--model", "tiny", "--precision", "int8", "--calib",
                   str(calib), "--calib-count", "2", "--calib-method", "minmax", "--preprocess", str(bins),
                   "--batches", "1 4", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_int8_calibration_images_are_left_out_of_the_scored_set_by_default(tmp_path):
    bins = labelled_bins(tmp_path / "bins", 6, dict(MODEL_CONFIG))
    model = int8_model(tmp_path, bins, calib=bins)
    info = ConvertManifest.read(model).target_info["precision_onnx"]
    assert info["calibration_stems"] == ["img_0", "img_1"]  # the first two in sorted order
    assert info["calibration_overlap"]["count"] == 2
    proc = infer(model, bins, tmp_path / "res")
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in (tmp_path / "res" / "run").iterdir())
    assert written == [f"img_{i}_0.txt" for i in range(2, 6)]
    summary = read_run_summary(tmp_path / "res" / "run")
    assert summary.extra["calibration_left_out"] == ["img_0", "img_1"] and "labels" not in summary.extra


def test_scoring_calibration_images_anyway_is_labelled(tmp_path):
    bins = labelled_bins(tmp_path / "bins", 6, dict(MODEL_CONFIG))
    model = int8_model(tmp_path, bins, calib=bins)
    proc = infer(model, bins, tmp_path / "res", "--score-calibration-images")
    assert proc.returncode == 0, proc.stderr
    summary = read_run_summary(tmp_path / "res" / "run")
    assert summary.num_inputs == 6 and summary.extra["calibration_overlap"] == ["img_0", "img_1"]
    assert any("calibration overlap: 2 of 6" in label for label in summary.extra["labels"])


def test_a_separate_calibration_set_has_no_overlap(tmp_path):
    bins = labelled_bins(tmp_path / "bins", 6, dict(MODEL_CONFIG))
    calib = tmp_path / "calib"
    write_bins(calib, 3, seed=5)
    for path in calib.glob("*.bin"):
        path.rename(calib / f"cal_{path.name}")
    files = [{"stem": f"cal_img_{i}", "source": f"cal_{i}.JPEG"} for i in range(3)]
    PreprocessManifest(shape=[3, 8, 8], dtype="float32", layout="CHW", recipe=dict(MODEL_CONFIG),
                       files=files).write(calib)
    model = int8_model(tmp_path, bins, calib=calib)
    assert ConvertManifest.read(model).target_info["precision_onnx"]["calibration_overlap"]["count"] == 0
    assert infer(model, bins, tmp_path / "res").returncode == 0
    assert read_run_summary(tmp_path / "res" / "run").num_inputs == 6


def test_a_static_cpu_build_takes_only_its_own_batch_size(tmp_path):
    onnx = tmp_path / "tiny.onnx"
    tiny_classifier_onnx(onnx)  # a dynamic batch axis: ONNX Runtime itself would take any size
    proc = run_cli("-m", "convert", "--onnx", str(onnx), "--model", "tiny", "--batchsize", "4",
                   "--output", str(tmp_path / "static"))
    assert proc.returncode == 0, proc.stderr
    refused = run_cli("-m", "infer", "--model", str(tmp_path / "static"), "--batchsize", "2", "--loop", "1")
    assert_one_line_error(refused, "--batchsize 2", "takes batch 4 only")
    assert run_cli("-m", "infer", "--model", str(tmp_path / "static"), "--batchsize", "4").returncode == 0


def test_a_dynamic_build_takes_its_declared_range(tmp_path):
    onnx = tmp_path / "tiny.onnx"
    tiny_classifier_onnx(onnx)
    proc = run_cli("-m", "convert", "--onnx", str(onnx), "--model", "tiny", "--batches", "2 8",
                   "--output", str(tmp_path / "dynamic"))
    assert proc.returncode == 0, proc.stderr
    for batch in (2, 5, 8):
        assert run_cli("-m", "infer", "--model", str(tmp_path / "dynamic"), "--batchsize", str(batch)).returncode == 0
    for batch in (1, 16):
        assert_one_line_error(run_cli("-m", "infer", "--model", str(tmp_path / "dynamic"), "--batchsize",
                                      str(batch)), f"--batchsize {batch}", "built for batch 2 to 8")
