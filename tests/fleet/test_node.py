"""A cell's stages on a node, without Ray: the files sent back, and a batch that does not fit recorded as such."""
from __future__ import annotations

import json

import yaml

from fleet.matrix import load_matrix
from fleet.node import _run_stages
from fleet.shipping import ship
from tests.conftest import REPO_SAMPLE, tiny_classifier_onnx

NODE = {"node_id": "f" * 56, "ip": "127.0.0.1", "hostname": "here", "pid": 0, "accelerator_ids": {}}


def cells(tmp_path, targets, sweep):
    tiny_classifier_onnx(tmp_path / "tiny.onnx", 8, 10)
    matrix = {"data": {"path": str(REPO_SAMPLE)}, "targets": targets, "batch_sizes": [4], "sweep": sweep,
              "pure": {"loop": 3, "warmup": 1, "time_limit": 5},
              "models": [{"name": "tiny", "onnx": str(tmp_path / "tiny.onnx"),
                          "preprocess": {"preset": "resnet", "resize": 8, "input_size": 8}}]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(matrix))
    return load_matrix(tmp_path / "m.yaml")


def run_on_this_node(tmp_path, cell):
    def unused_get(ref):
        raise AssertionError("a path this node has is not fetched from the object store")

    shipments = {"data": ship(REPO_SAMPLE, "auto", lambda data: None),
                 "onnx": ship(tmp_path / "tiny.onnx", "auto", lambda data: None)}
    texts = {"labels": (REPO_SAMPLE / "val_label.txt").read_text(), "classes": None}
    log: list[str] = []
    files = _run_stages(cell, (0, 1), shipments, texts, tmp_path / "cache", tmp_path / "cache" / "node", NODE, log,
                        unused_get)
    return files, "".join(log)


def test_an_accuracy_cell_sends_back_its_sidecars_summary_and_scores_only(tmp_path):
    (cell,) = cells(tmp_path, ["cpu"], ["accuracy"]).cells
    files, log = run_on_this_node(tmp_path, cell)
    run = cell.run_name
    assert set(files) == {"preprocess.json", "convert.json", f"{run}_summary.json", f"{run}/result.json",
                          f"{run}/result_details.json"}
    summary = json.loads(files[f"{run}_summary.json"])
    assert summary["num_inputs"] == 48 and summary["extra"]["device_idle"]["method"]
    assert json.loads(files["preprocess.json"])["shape"] == [3, 8, 8]
    assert log.count("$ -m ") == 4 and "[exit 0]" in log


def test_a_batch_that_does_not_fit_is_an_out_of_memory_cell(tmp_path):
    (cell,) = cells(tmp_path, [{"name": "null", "options": {"memory_mib": 0.001}}], ["pure"]).cells
    files, _ = run_on_this_node(tmp_path, cell)
    status, reason = files.pop("__status__")
    assert status == "out_of_memory" and "does not fit in device memory" in reason
    assert json.loads(files[f"{cell.run_name}_summary.json"])["kind"] == "harness.out_of_memory"
