"""postprocess on outputs wider than float32 and on label files that name images with a folder."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli


def write_npy(directory, stem, values, dtype):
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / f"{stem}_0.npy", np.asarray(values, dtype=dtype))


def top1(result_dir) -> str:
    return json.loads((result_dir / "result.json").read_text())["value"][2]["value"]


@pytest.mark.parametrize("dtype, close", [("float64", [1.0, 1.0 + 1e-9, 0.5]),
                                          ("int64", [300_000_001, 300_000_002, 0])])
def test_scores_float32_cannot_tell_apart_rank_as_the_model_gave_them(tmp_path, dtype, close):
    res = tmp_path / "res"
    write_npy(res, "a", close, dtype)  # class 1 is the highest, by less than float32 resolves
    write_npy(res, "b", close[::-1], dtype)  # class 1 is the highest again
    (tmp_path / "labels.txt").write_text("a.JPEG 1\nb.JPEG 1\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "labels.txt"))
    assert proc.returncode == 0, proc.stderr
    assert top1(res) == "100.0%"
    details = json.loads((res / "result_details.json").read_text())
    assert [image["top5"][0]["class"] for image in details["images"]] == [1, 1]


@pytest.mark.parametrize("names", [("./a.JPEG", "./b.JPEG"), ("val.v2/a.JPEG", "val.v2/b.JPEG"),
                                   ("n01/a.JPEG", "n02/b.JPEG")])
def test_label_lines_naming_a_folder_match_the_images_by_file_name(tmp_path, names):
    res = tmp_path / "res"
    write_npy(res, "a", [0.0, 5.0, 1.0], "float32")
    write_npy(res, "b", [0.0, 1.0, 5.0], "float32")
    (tmp_path / "labels.txt").write_text(f"{names[0]} 1\n{names[1]} 2\n")
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "labels.txt"))
    assert proc.returncode == 0, proc.stderr
    assert "without a label" not in proc.stdout and top1(res) == "100.0%"
    assert json.loads((res / "result.json").read_text())["value"][0]["value"] == "2"
