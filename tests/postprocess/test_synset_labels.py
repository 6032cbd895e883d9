"""Labels given as synsets (`<file name> n01440764`, as ImageNet's own lists give them) are the class indices
the classes file gives those synsets; without a classes file they are refused in one line, since synsets have
no one order."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError
from tasks.classification.labels import read_class_synsets, read_labels
from tests.conftest import assert_one_line_error, run_cli

CLASSES = "0 n01440764 tench\n1 n01443537 goldfish\n2 n01484850 great_white_shark\n3 n01491361 tiger_shark\n"


def test_synset_labels_read_as_the_classes_file_numbers_them(tmp_path):
    (tmp_path / "classes.txt").write_text(CLASSES)
    (tmp_path / "labels.txt").write_text("val/x.JPEG n01491361\r\ny.JPEG n01440764\r\nz.JPEG 2\r\n")
    synsets = read_class_synsets(tmp_path / "classes.txt")
    assert synsets == {"n01440764": 0, "n01443537": 1, "n01484850": 2, "n01491361": 3}
    assert read_labels(tmp_path / "labels.txt", synsets) == {"x": 3, "y": 0, "z": 2}


def test_a_synset_without_classes_or_outside_them_is_refused(tmp_path):
    (tmp_path / "labels.txt").write_text("x.JPEG 1\ny.JPEG n01440764\n")
    with pytest.raises(InputError, match=r"labels.txt:2: the label n01440764 is a synset.*--classes"):
        read_labels(tmp_path / "labels.txt")
    with pytest.raises(InputError, match=r"labels.txt:2: synset n01440764 is not in the classes file"):
        read_labels(tmp_path / "labels.txt", {"n01443537": 1})
    (tmp_path / "classes.txt").write_text("0 n01440764 tench\n1 n01440764 tench_again\n")
    with pytest.raises(InputError, match="n01440764 is listed as class 0 and class 1"):
        read_class_synsets(tmp_path / "classes.txt")


def write_outputs(res: Path, best: dict[str, int], n_classes: int = 4) -> None:
    res.mkdir()
    for stem, cls in best.items():
        values = np.zeros(n_classes, dtype=np.float32)
        values[cls] = 1.0
        (res / f"{stem}_0.txt").write_text(" ".join(f"{v:.6f}" for v in values) + " \n")


def test_postprocess_scores_synset_labels_as_their_indices(tmp_path):
    res = tmp_path / "res"
    write_outputs(res, {"a": 0, "b": 1, "c": 3, "d": 2})  # top-1 classes
    (tmp_path / "classes.txt").write_text(CLASSES)
    (tmp_path / "by_synset.txt").write_text("a.JPEG n01440764\nb.JPEG n01443537\nc.JPEG n01491361\n"
                                            "d.JPEG n01440764\n")  # d is class 0, its top-1 is 2: 3 of 4
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "by_synset.txt"),
                   "--classes", str(tmp_path / "classes.txt"), "--topk", "1")
    assert proc.returncode == 0, proc.stderr
    table = json.loads((res / "result.json").read_text())
    assert table["value"][2] == {"key": "Top1 accuracy", "value": "75.0%"}
    refused = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "by_synset.txt"))
    assert_one_line_error(refused, "by_synset.txt:1: the label n01440764 is a synset", "--classes")
    assert refused.returncode == 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_label_file_with_its_bom_is_read(tmp_path, encoding):
    """Windows Notepad's "Unicode" is UTF-16 with a BOM; the names and indices are those of the UTF-8 file."""
    text = "val/caf\u00e9 1.JPEG 3\r\ny.JPEG n01440764\r\n"
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    (tmp_path / "labels.txt").write_bytes(bom + text.encode(encoding))
    (tmp_path / "classes.txt").write_bytes(CLASSES.encode("utf-16"))
    synsets = read_class_synsets(tmp_path / "classes.txt")
    assert read_labels(tmp_path / "labels.txt", synsets) == {"caf\u00e9 1": 3, "y": 0}


def test_a_label_file_in_another_encoding_is_one_clear_line(tmp_path):
    (tmp_path / "labels.txt").write_bytes("caf\u00e9.JPEG 3\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"labels.txt: label file is not UTF-8 .*byte 3.*save it as UTF-8"):
        read_labels(tmp_path / "labels.txt")
