"""postprocess: exact ModelZoo JSON on hand-made outputs, 1001 classes, missing and foreign files."""
from __future__ import annotations

import json

import numpy as np

from tests.conftest import assert_one_line_error, run_cli


def write_txt(directory, stem, values):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}_0.txt").write_text(" ".join(f"{v:f}" for v in values) + " \n")


def scores(best: list[int], n: int = 10) -> list[float]:
    """Logits whose ranking puts best[0] first, best[1] second, ..."""
    values = [0.0] * n
    for rank, cls in enumerate(best):
        values[cls] = 10.0 - rank
    return values


def test_known_topk_gives_the_exact_modelzoo_json(tmp_path):
    res = tmp_path / "res"
    # a: label 3 at rank 0; b: label 1 at rank 1; c: label 2 at rank 4; d: label 9 nowhere in top 5
    write_txt(res, "a", scores([3, 1, 2, 4, 5]))
    write_txt(res, "b", scores([0, 1, 2, 4, 5]))
    write_txt(res, "c", scores([0, 1, 3, 4, 2]))
    write_txt(res, "d", scores([0, 1, 2, 3, 4]))
    (tmp_path / "val_label.txt").write_text("a.JPEG 3\nb.JPEG 1\nc.JPEG 2\nd.JPEG 9\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "val_label.txt"))
    assert proc.returncode == 0, proc.stderr
    expected = ('{"title": "Overall statistical evaluation", "value": [{"key": "Number of images", "value": "4"}, '
                '{"key": "Number of classes", "value": "10"}, {"key": "Top1 accuracy", "value": "25.0%"}, '
                '{"key": "Top2 accuracy", "value": "50.0%"}, {"key": "Top3 accuracy", "value": "50.0%"}, '
                '{"key": "Top4 accuracy", "value": "50.0%"}, {"key": "Top5 accuracy", "value": "75.0%"}]}')
    assert (res / "result.json").read_text() == expected
    details = json.loads((res / "result_details.json").read_text())
    assert details["per_class_top1"]["3"] == {"images": 1, "correct": 1, "accuracy": 1.0, "name": None}
    assert details["confusions"] == {"1->0": 1, "2->0": 1, "9->0": 1}
    assert [c["class"] for c in details["images"][0]["top5"]] == [3, 1, 2, 4, 5]


def test_percent_rounding_matches_modelzoo():
    from tasks.classification.record import percent

    assert percent(2 / 3) == "66.67%" and percent(0.801) == "80.1%" and percent(1.0) == "100.0%"


def test_1001_class_outputs_shift_by_the_background_class(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "a", scores([4, 0], n=1001))  # label 3 -> index 4 in a 1001-way output
    (tmp_path / "labels.txt").write_text("a.jpg 3\n")
    (tmp_path / "classes.txt").write_text("3 n01 tiger shark\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "labels.txt"),
                   "--classes", str(tmp_path / "classes.txt"))
    assert proc.returncode == 0, proc.stderr
    table = json.loads((res / "result.json").read_text())
    assert table["value"][1]["value"] == "1001" and table["value"][2]["value"] == "100.0%"
    details = json.loads((res / "result_details.json").read_text())
    assert details["images"][0]["label_name"] == "tiger shark"


def test_missing_labels_missing_outputs_and_foreign_files_are_reported(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "a", scores([1]))
    write_txt(res, "extra", scores([2]))
    (res / "notes.log").write_text("not a result")
    (res / "summary_old.json").write_text("{}")
    (tmp_path / "labels.txt").write_text("a.JPEG 1\nmissing.JPEG 2\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "labels.txt"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((res / "result.json").read_text())["value"][0]["value"] == "1"
    details = json.loads((res / "result_details.json").read_text())
    assert details["outputs_without_label"] == ["extra"]
    assert details["labels_without_output"] == ["missing"]
    assert details["not_results"] == ["notes.log"]
    assert "warning" in proc.stdout


def test_bin_outputs_are_read_through_summary_json(tmp_path):
    from harness.contracts import InferSummary

    res = tmp_path / "res"
    res.mkdir()
    np.array(scores([7]), dtype=np.float32).tofile(res / "a_0.bin")
    InferSummary(target="cpu", device="0", artifact="x", model="m", precision="fp32", batch_size=1,
                 mode="dataset", outfmt="BIN", outputs=[{"name": "class", "shape": [10], "dtype": "float32"}]
                 ).write(res)
    (tmp_path / "labels.txt").write_text("a.JPEG 7\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "labels.txt"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((res / "result.json").read_text())["value"][2]["value"] == "100.0%"


def test_bad_inputs_give_one_line(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "a", scores([1]))
    assert_one_line_error(run_cli("-m", "postprocess", "--result", str(res), "--labels",
                                  str(tmp_path / "none.txt")), "none.txt")
    (tmp_path / "other.txt").write_text("zzz.JPEG 1\n")
    assert_one_line_error(run_cli("-m", "postprocess", "--result", str(res), "--labels",
                                  str(tmp_path / "other.txt")), "no output has a label")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("-m", "postprocess", "--result", str(tmp_path / "empty"), "--labels",
                                  str(tmp_path / "other.txt")), "no output files")
