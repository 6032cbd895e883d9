"""Top-k over outputs of k classes or fewer holds every class: those columns are a hit for every label whatever
the model, so result.json labels them; outputs of one score rank nothing and are refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.classification.contract import every_class_label
from tests.conftest import assert_one_line_error, run_cli


def write_outputs(res: Path, rows: dict[str, list[float]]) -> None:
    res.mkdir()
    for stem, values in rows.items():
        (res / f"{stem}_0.txt").write_text(" ".join(f"{v:.6f}" for v in values) + " \n")


def postprocess(res: Path, labels: Path, *extra: str):
    return run_cli("-m", "postprocess", "--result", str(res), "--labels", str(labels), *extra)


def test_top_k_over_every_class_is_labelled(tmp_path):
    res = tmp_path / "res"
    write_outputs(res, {"a": [0.1, 0.2, 0.7], "b": [0.6, 0.3, 0.1], "c": [0.2, 0.5, 0.3]})
    (tmp_path / "labels.txt").write_text("a.JPEG 0\nb.JPEG 0\nc.JPEG 2\n")  # top-1 1 of 3, top-2 2 of 3
    proc = postprocess(res, tmp_path / "labels.txt")
    assert proc.returncode == 0, proc.stderr
    table = json.loads((res / "result.json").read_text())
    assert [v["value"] for v in table["value"][2:]] == ["33.33%", "66.67%", "100.0%", "100.0%", "100.0%"]
    label = ("Top3 to Top5 accuracy count every class (the outputs hold only 3): a hit for each label, "
             "whatever the model")
    assert table["labels"] == [label]
    assert f"postprocess: warning: {label}" in proc.stdout.splitlines()


@pytest.mark.parametrize("n_classes, topk, expected", [
    (10, 5, None), (5, 4, None), (5, 5, "Top5 accuracy counts every class (the outputs hold only 5)"),
    (1001, 10, None), (3, 10, "Top3 to Top10 accuracy count every class (the outputs hold only 3)")])
def test_the_label_names_the_columns_that_hold_every_class(n_classes, topk, expected):
    label = every_class_label(n_classes, topk)
    if expected is None:
        assert label is None, label
    else:
        assert label is not None and label.startswith(expected), label


def test_one_score_per_output_is_refused(tmp_path):
    res = tmp_path / "res"
    write_outputs(res, {"a": [2.5], "b": [-1.0]})  # a single-logit binary head: class 0 would always rank first
    (tmp_path / "labels.txt").write_text("a.JPEG 1\nb.JPEG 0\n")
    proc = postprocess(res, tmp_path / "labels.txt")
    assert_one_line_error(proc, f"{res}: the outputs hold 1 score each", "threshold")
    assert proc.returncode == 4 and not (res / "result.json").exists()
