"""A pure cell with `time_limit: 0` runs its `loop` batches: --stable_ci, which acts only with a time limit (infer
refuses it alone), reaches infer only with one."""
from __future__ import annotations

import json

import pytest
import yaml

from fleet.matrix import load_matrix
from harness.errors import InputError
from fleet.stages import infer_args
from tests.conftest import REPO_SAMPLE, tiny_classifier_onnx
from tests.fleet.test_node import run_on_this_node


def pure_cell(tmp_path, pure: dict):
    tiny_classifier_onnx(tmp_path / "tiny.onnx", 8, 10)
    matrix = {"data": {"path": str(REPO_SAMPLE)}, "targets": ["null"], "batch_sizes": [4], "sweep": ["pure"],
              "pure": pure, "models": [{"name": "tiny", "onnx": str(tmp_path / "tiny.onnx"),
                                        "preprocess": {"preset": "resnet", "resize": 8, "input_size": 8}}]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(matrix))
    (cell,) = load_matrix(tmp_path / "m.yaml").cells
    return cell


def test_a_pure_cell_without_a_time_limit_runs_its_loop(tmp_path):
    cell = pure_cell(tmp_path, {"loop": 3, "warmup": 1, "time_limit": 0})
    assert "--stable_ci" not in infer_args(cell, tmp_path, tmp_path, tmp_path, "0", (0, 1))
    files, log = run_on_this_node(tmp_path, cell)
    assert "__status__" not in files, log[-2000:]
    summary = json.loads(files[f"{cell.run_name}_summary.json"])
    assert summary["num_batches"] == 3 and "median_ci95" not in summary["extra"]


def test_a_pure_cell_with_a_time_limit_asks_for_a_stable_median(tmp_path):
    cell = pure_cell(tmp_path, {"loop": 3, "warmup": 1, "time_limit": 0.2, "stable_ci": 0.05})
    args = [str(a) for a in infer_args(cell, tmp_path, tmp_path, tmp_path, "0", (0, 1))]
    assert args[args.index("--time_limit") + 1] == "0.2" and args[args.index("--stable_ci") + 1] == "0.05"


def test_a_stable_ci_without_a_time_limit_is_refused_in_one_line(tmp_path):
    with pytest.raises(InputError, match="'pure.stable_ci' acts with a time limit only"):
        pure_cell(tmp_path, {"loop": 3, "warmup": 1, "time_limit": 0, "stable_ci": 0.05})
