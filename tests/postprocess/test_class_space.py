"""postprocess on outputs whose classes are not those the classes file names: an ImageNet-21k head, an embedding
head, a fine-tuned head, each scored against the ImageNet-1k label set."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SHARED_SAMPLE, run_cli

IMAGENET_CLASSES = SHARED_SAMPLE / "classes.txt"
STEMS = ("n01440764_tench", "n01443537_goldfish")


def write_outputs(result_dir, width: int, labels: dict[str, int]) -> None:
    """Scores of `width` classes whose highest column is each image's label index (after the background class
    of a 1001-class output)."""
    result_dir.mkdir(parents=True, exist_ok=True)
    for stem, label in labels.items():
        scores = np.zeros(width, dtype=np.float32)
        scores[label + (width == 1001)] = 10.0
        np.save(result_dir / f"{stem}_0.npy", scores)


def score(tmp_path, width: int):
    labels = {stem: index for index, stem in enumerate(STEMS)}
    res = tmp_path / "res"
    write_outputs(res, width, labels)
    label_file = tmp_path / "val_label.txt"
    label_file.write_text("".join(f"{stem}.JPEG {index}\n" for stem, index in labels.items()))
    return res, run_cli("-m", "postprocess", "--result", str(res), "--labels", str(label_file),
                        "--classes", str(IMAGENET_CLASSES))


@pytest.mark.parametrize("width", [21843, 11821, 512, 10])
def test_outputs_of_another_class_set_than_the_classes_file_are_refused(tmp_path, width):
    res, proc = score(tmp_path, width)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(IMAGENET_CLASSES) in lines[0] and "1000 classes" in lines[0] and f"{width} scores" in lines[0]
    assert not (res / "result.json").exists()


@pytest.mark.parametrize("width", [1000, 1001])
def test_outputs_of_the_classes_file_set_are_scored(tmp_path, width):
    res, proc = score(tmp_path, width)
    assert proc.returncode == 0, proc.stderr
    table = json.loads((res / "result.json").read_text())
    assert table["value"][2]["value"] == "100.0%"


def test_a_classes_file_naming_some_classes_only_gives_names(tmp_path):
    labels = {stem: index for index, stem in enumerate(STEMS)}
    res = tmp_path / "res"
    write_outputs(res, 21843, labels)
    (tmp_path / "l.txt").write_text("".join(f"{stem}.JPEG {index}\n" for stem, index in labels.items()))
    (tmp_path / "c.txt").write_text("0 n01440764 tench\n7 n01514668 cock\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "l.txt"),
                   "--classes", str(tmp_path / "c.txt"))
    assert proc.returncode == 0, proc.stderr
    details = json.loads((res / "result_details.json").read_text())
    assert details["images"][0]["top5"][0]["name"] == "tench"


def test_a_classes_file_with_a_background_line_for_background_outputs_says_to_remove_it(tmp_path):
    labels = {stem: index for index, stem in enumerate(STEMS)}
    res = tmp_path / "res"
    write_outputs(res, 1001, labels)
    (tmp_path / "l.txt").write_text("".join(f"{stem}.JPEG {index}\n" for stem, index in labels.items()))
    names = [line.split(" ", 1)[1] for line in IMAGENET_CLASSES.read_text().splitlines()]
    lines = ["0 n00000000 background"] + [f"{i + 1} {name}" for i, name in enumerate(names)]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "l.txt"),
                   "--classes", str(tmp_path / "c.txt"))
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert "remove the background line and number the classes from 0" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (res / "result.json").exists()


@pytest.mark.parametrize("width", [1000, 1001])
def test_a_classes_file_numbered_from_one_is_refused(tmp_path, width):
    # what following the background advice without renumbering gives, or a label map of TensorFlow's numbering
    labels = {stem: index for index, stem in enumerate(STEMS)}
    res = tmp_path / "res"
    write_outputs(res, width, labels)
    (tmp_path / "l.txt").write_text("".join(f"{stem}.JPEG {index}\n" for stem, index in labels.items()))
    names = [line.split(" ", 1)[1] for line in IMAGENET_CLASSES.read_text().splitlines()]
    (tmp_path / "c.txt").write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(names)))
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "l.txt"),
                   "--classes", str(tmp_path / "c.txt"))
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert "numbers its 1000 classes from 1" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
