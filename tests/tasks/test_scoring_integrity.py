"""Scoring never counts a hit it cannot vouch for: NaN/inf outputs, label files with a BOM, conflicting
duplicates or negative indices, and a class-names file that is not UTF-8."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError
from tasks.classification.contract import report_labels_outside
from tasks.classification.labels import read_class_names, read_labels
from tasks.classification.metrics import classification_metrics
from tasks.classification.scoring import score, top_k_accuracy
from tests.conftest import assert_one_line_error, run_cli


def write_txt(directory: Path, stem: str, values) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}_0.txt").write_text(" ".join(str(v) for v in values) + " \n")


def postprocess(res: Path, labels: Path, *extra: str):
    return run_cli("-m", "postprocess", "--result", str(res), "--labels", str(labels), *extra)


@pytest.mark.parametrize("bad", [["nan"] * 10, ["inf"] * 10, ["-inf"] + ["0.5"] * 9, ["1.0"] * 9 + ["nan"]])
def test_a_non_finite_output_is_a_miss_at_every_k(bad):
    good = np.arange(10, dtype=np.float32)  # class 9 first
    scored = score({"a": np.array(bad, dtype=np.float32), "b": good}, {"a": 0, "b": 9}, topk=5)
    assert scored["rank"].tolist() == [-1, 0]
    assert scored["cumulative"].tolist() == [0.5] * 5
    assert scored["non_finite"] == ["a"]
    assert top_k_accuracy(np.stack([np.array(bad, dtype=np.float32), good]), np.array([0, 9]), 10) == 0.5


def test_postprocess_counts_and_reports_nan_outputs(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "a", ["nan"] * 10)  # sorted last by argsort: an all-NaN row would rank class 0 first
    write_txt(res, "b", [0.0] * 9 + [5.0])
    (tmp_path / "labels.txt").write_text("a.JPEG 0\nb.JPEG 9\n")
    proc = postprocess(res, tmp_path / "labels.txt")
    assert proc.returncode == 0, proc.stderr
    table = json.loads((res / "result.json").read_text())
    assert [v["value"] for v in table["value"][2:]] == ["50.0%"] * 5
    warnings = [line for line in proc.stdout.splitlines() if "NaN" in line]
    assert warnings == ["postprocess: warning: 1 outputs holding NaN or infinite scores (counted as misses), e.g. a "
                        "(see result_details.json)"]
    details = json.loads((res / "result_details.json").read_text())
    assert details["non_finite_count"] == 1 and details["non_finite_outputs"] == ["a"]
    image = details["images"][0]
    assert (image["stem"], image["correct_top1"], image["rank"], image["top5"], image["finite"]) == \
        ("a", False, -1, [], False)
    assert details["per_class_top1"]["0"]["correct"] == 0 and details["confusions"] == {}
    assert details["precision_recall_f1"]["macro"]["recall"] == 0.5


def test_an_output_without_a_prediction_is_counted_for_no_class():
    metrics = classification_metrics([0, 1], [0, 0], predicts=[True, False])
    assert set(metrics["per_class"]) == {"0", "1"}
    assert metrics["per_class"]["0"]["precision"] == 1.0 and metrics["per_class"]["1"]["recall"] == 0.0


def test_a_bom_is_no_part_of_the_first_name(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes("\ufeffn01685808_whiptail.JPEG 41\nn01774384_black_widow.JPEG 75\n".encode("utf-8"))
    assert read_labels(path) == {"n01685808_whiptail": 41, "n01774384_black_widow": 75}


def test_conflicting_duplicate_labels_are_refused_identical_ones_read(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "whiptail", [0.0] * 9 + [1.0])
    path = tmp_path / "labels.txt"
    path.write_text("whiptail.JPEG 9\ndrake.JPEG 4\nwhiptail.JPEG 9\n")
    assert read_labels(path) == {"whiptail": 9, "drake": 4}
    path.write_text("whiptail.JPEG 9\ndrake.JPEG 4\nwhiptail.png 5\n")
    assert_one_line_error(postprocess(res, path), f"{path}: lines 1 and 3", "whiptail", "9 and 5")


def test_a_negative_label_is_refused(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "a", [1.0] + [0.0] * 1000)  # 1001 classes: -1 would meet the background class
    path = tmp_path / "labels.txt"
    path.write_text("b.JPEG 3\na.JPEG -1\n")
    proc = postprocess(res, path)
    assert proc.returncode == 3
    assert_one_line_error(proc, f"{path}:2: class index -1 is negative")
    assert not (res / "result.json").exists()


def test_a_label_outside_the_classes_never_meets_the_background_class(capsys):
    outputs = {"a": np.array([1.0] + [0.0] * 1000, dtype=np.float32)}  # the background class ranks first
    scored = score(outputs, {"a": -1}, topk=5)
    assert scored["rank"].tolist() == [-1] and scored["cumulative"].tolist() == [0.0] * 5
    assert report_labels_outside({"a": -1}, ["a"], 1001, Path("W/labels.txt")) == ["a"]
    assert "W/labels.txt: 1 labels outside the model's 1000 classes (e.g. a -> -1)" in capsys.readouterr().out
    assert report_labels_outside({"a": 1000}, ["a"], 1001, Path("W/labels.txt")) == ["a"]
    assert report_labels_outside({"a": 999}, ["a"], 1001, Path("W/labels.txt")) == []


def test_a_classes_file_that_is_not_utf8_is_one_line(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "a", [0.0] * 9 + [1.0])
    (tmp_path / "labels.txt").write_text("a.JPEG 9\n")
    classes = tmp_path / "classes.txt"
    classes.write_bytes("9 n01 caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="classes file is not UTF-8"):
        read_class_names(classes)
    assert_one_line_error(postprocess(res, tmp_path / "labels.txt", "--classes", str(classes)),
                          f"{classes}: classes file is not UTF-8")
