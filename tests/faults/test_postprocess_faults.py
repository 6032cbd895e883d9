"""postprocess faults: outputs of different lengths without a summary, labels outside the classes,
file names with spaces in the label file."""
from __future__ import annotations

import json

from tests.faults.helpers import assert_clean_failure, fault_cli, snapshot


def write_txt(directory, stem, values):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}_0.txt").write_text(" ".join(f"{v:f}" for v in values) + " \n")


def one_hot(index: int, n: int = 10) -> list[float]:
    return [1.0 if i == index else 0.0 for i in range(n)]


def postprocess(case, tmp_path, res, labels):
    return fault_cli(case, "-m", "postprocess", "--result", str(res), "--labels", str(labels), base=tmp_path)


def test_outputs_of_the_wrong_length_name_the_file(tmp_path):
    res = tmp_path / "res"
    for stem in ("a", "b", "c"):
        write_txt(res, stem, one_hot(1))
    write_txt(res, "d", one_hot(1, n=7))  # another model's output, or a cut file
    (tmp_path / "labels.txt").write_text("a.JPEG 1\nb.JPEG 1\nc.JPEG 1\nd.JPEG 1\n")
    before = snapshot(res)
    proc = postprocess("postprocess: one output of the wrong length, no run summary", tmp_path, res,
                       tmp_path / "labels.txt")
    assert_clean_failure(proc, 3, "d_0.txt", "7 values", "other outputs hold 10")
    assert snapshot(res) == before  # no result.json written


def test_labels_outside_the_class_range_are_reported(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "a", one_hot(1))
    write_txt(res, "b", one_hot(2))
    (tmp_path / "labels.txt").write_text("a.JPEG 1\nb.JPEG 12\n")
    proc = postprocess("postprocess: a label index outside the model's classes", tmp_path, res,
                       tmp_path / "labels.txt")
    assert proc.returncode == 0, proc.stderr
    assert "labels.txt: 1 labels outside the model's 10 classes (e.g. b -> 12)" in proc.stdout, proc.stdout
    result = json.loads((res / "result.json").read_text())
    assert result["value"][2] == {"key": "Top1 accuracy", "value": "50.0%"}


def test_label_file_names_with_spaces(tmp_path):
    res = tmp_path / "res"
    write_txt(res, "my photo", one_hot(4))
    write_txt(res, "other", one_hot(3))
    (tmp_path / "labels.txt").write_text("my photo.JPEG 4\nother.JPEG\t3\n")
    proc = postprocess("postprocess: label file names with a space", tmp_path, res, tmp_path / "labels.txt")
    assert proc.returncode == 0, proc.stderr
    assert "2 images: Top1 accuracy 100.0%" in proc.stdout, proc.stdout
