"""One input's output is one row of class scores; a file holding a whole batch's rows is refused instead of
being ranked as one row of rows x classes scores. Singleton sides ([10, 1], [1, 10, 1, 1]) are one row."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_one_line_error, run_cli

LABELS = {"a": 1, "b": 2, "c": 3, "d": 4}


def scores(label: int) -> np.ndarray:
    row = np.linspace(0.0, 0.5, 10, dtype=np.float32)  # class 9 first ...
    row[label] = 1.0 if label % 2 else 0.0  # ... except for a and c, whose label ranks first: top-1 50 %
    return row


def postprocess(tmp_path: Path, shape: tuple[int, ...]):
    res = tmp_path / "res"
    res.mkdir()
    rows = 4 if shape[0] == 4 else 1
    for stem, label in LABELS.items():
        batch = np.stack([scores(label)] * rows)  # a batch file repeats rows; one row otherwise
        np.save(res / f"{stem}_0.npy", batch.reshape(shape))
    (tmp_path / "labels.txt").write_text("".join(f"{stem}.JPEG {label}\n" for stem, label in LABELS.items()))
    return res, run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "labels.txt"),
                        "--topk", "1")


@pytest.mark.parametrize("shape", [(10,), (1, 10), (10, 1), (1, 10, 1, 1)])
def test_one_row_in_any_singleton_shape_is_scored(tmp_path, shape):
    res, proc = postprocess(tmp_path, shape)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((res / "result.json").read_text())["value"][2]["value"] == "50.0%"


def test_a_file_of_several_rows_is_refused(tmp_path):
    res, proc = postprocess(tmp_path, (4, 10))
    assert_one_line_error(proc, f"{res / 'a_0.npy'}: scores of shape [4, 10]", "one file per input")
    assert proc.returncode == 4 and not (res / "result.json").exists()
