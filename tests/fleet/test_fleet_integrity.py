"""Matrix files at the edges (a single value for a list, empty or repeated axes, unknown keys, repeated cells) and
cell keys of two models of one name with other weights. No Ray: the matrix and the keys only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fleet import driver
from fleet.matrix import load_matrix
from harness.errors import InputError
from tests.conftest import REPO_SAMPLE, assert_one_line_error, run_cli


def write(path: Path, matrix: dict) -> Path:
    path.write_text(yaml.safe_dump(matrix))
    return path


def base(**changes) -> dict:
    return {"data": {"path": str(REPO_SAMPLE)}, "models": ["resnet18"], "targets": ["cpu"], **changes}


def test_a_single_value_is_a_list_of_one(tmp_path):
    matrix = load_matrix(write(tmp_path / "m.yaml", base(precisions="fp16", batch_sizes=4, sweep="pure")))
    assert [(c.precision, c.batch_size, c.sweep) for c in matrix.cells] == [("fp16", 4, "pure")]


@pytest.mark.parametrize("change, needle", [
    ({"precisions": []}, "'precisions' must be a non-empty list, found []"),
    ({"batch_sizes": []}, "'batch_sizes' must be a non-empty list"),
    ({"sweep": []}, "'sweep' must be a non-empty list"),
    ({"batch_sizes": [8, 8]}, "'batch_sizes' lists 8 more than once; list each value once"),
    ({"precisions": ["fp16", "fp16"]}, "'precisions' lists fp16 more than once"),
    ({"batch_sizes": [True]}, "batch_sizes takes integers of 1 or more, found True"),
    ({"precisions": [None]}, "precisions takes fp32, fp16, int8, found None"),
    ({"precisions": ["FP16"]}, "precisions takes fp32, fp16, int8, found 'FP16'"),
    ({"batch_size": [1, 64]}, "unknown keys ['batch_size']; a matrix file has data, models, targets, precisions, "
                              "batch_sizes"),
    ({"pure": [50]}, "'pure' must be a mapping"),
    ({"calib": 5}, "'calib' must be a mapping"),
    ({"models": ["resnet18", "resnet18"]}, "comes out of the matrix twice"),
    ({"targets": ["cpu", {"name": "cpu"}]}, "comes out of the matrix twice"),
])
def test_a_matrix_that_would_run_nothing_something_twice_or_not_what_it_says_is_refused(tmp_path, change, needle):
    path = write(tmp_path / "m.yaml", base(**change))
    with pytest.raises(InputError) as caught:
        load_matrix(path)
    assert str(caught.value).startswith(f"{path}: ") and needle in str(caught.value)


def test_the_command_says_it_in_one_line(tmp_path):
    path = write(tmp_path / "m.yaml", base(batch_sizes=[]))
    proc = run_cli("-m", "fleet", "--matrix", str(path), "--work", str(tmp_path / "work"))
    assert_one_line_error(proc, str(path), "'batch_sizes' must be a non-empty list")
    assert not (tmp_path / "work").exists()


def test_two_models_of_one_name_each_keep_the_key_of_their_own_weights(tmp_path):
    """Changing one checkpoint reruns its cells and only those, whatever the order of the models."""
    first, second = tmp_path / "a.pth", tmp_path / "b.pth"
    first.write_bytes(b"weights a")
    second.write_bytes(b"weights b")
    path = write(tmp_path / "m.yaml", base(models=[{"name": "resnet18", "checkpoint": str(first)},
                                                   {"name": "resnet18", "checkpoint": str(second)}]))

    def keys() -> dict:
        matrix = load_matrix(path)
        inputs = driver._input_hashes(matrix)
        return {cell.model.checkpoint: driver._cell_key(cell, inputs) for cell in matrix.cells}

    before = keys()
    first.write_bytes(b"weights a, fine-tuned")
    after = keys()
    assert after[str(first)] != before[str(first)]
    assert after[str(second)] == before[str(second)]


def _result(files: dict, status: str = "ok") -> dict:
    node = {"node_id": "n" * 16, "hostname": "host", "ip": "127.0.0.2", "pid": 1, "accelerator_ids": {}}
    return {"status": status, "reason": "", "node": node, "device": "0", "shard": [0, 1], "seconds": 1.0,
            "files": {"preprocess.json": b"{}", "convert.json": b"{}", "stages.log": b"", **files}}


def test_a_cell_stored_again_holds_only_the_files_of_its_last_attempt(tmp_path):
    """A cell that scored once, then (other weights) ran out of memory: its old result.json is not left beside the
    out-of-memory record for the report to show as the cell's accuracy."""
    from fleet.store import store_cell, store_failure
    from report.collect import collect
    from tasks.classification.record import MODELZOO_TITLE
    from tests.report.report_fixtures import summary_dict

    cell = load_matrix(write(tmp_path / "m.yaml", base(batch_sizes=[4]))).cells[0]
    summary = summary_dict(target="cpu", precision="fp32", batch_size=4, compute_ms=[1.0], device_name="cpu",
                           model="resnet18", mode="dataset")
    result = {"title": MODELZOO_TITLE, "value": [{"key": "Number of images", "value": "4"},
                                                 {"key": "Top1 accuracy", "value": "75.0%"}]}
    scored = {f"{cell.run_name}_summary.json": json.dumps(summary).encode(),
              f"{cell.run_name}/result.json": json.dumps(result).encode()}
    work = tmp_path / "work"
    directory = store_cell(work, cell, "key1", [_result(scored)], "ok", "", {})
    assert len(collect([directory]).accuracy) == 1

    out_of_memory = {"kind": "harness.out_of_memory", "model": "resnet18", "target": "cpu", "precision": "fp32",
                     "device": "0", "artifact": "/x", "batch_size": 4}
    oom_files = {f"{cell.run_name}_summary.json": json.dumps(out_of_memory).encode()}
    assert store_cell(work, cell, "key2", [_result(oom_files, "out_of_memory")], "out_of_memory", "", {}) == directory
    assert not (directory / cell.run_name / "result.json").exists()
    found = collect([directory])
    assert found.accuracy == [] and len(found.out_of_memory) == 1
    assert json.loads((directory / "cell.json").read_text())["key"] == "key2"
    assert sorted(p.name for p in directory.parent.iterdir()) == [cell.cell_id]  # no staging left

    store_cell(work, cell, "key3", [_result(scored)], "ok", "", {})
    store_failure(work, cell, "key4", "node lost", [_result({"stages.log": b"preprocess ..."})])
    assert sorted(p.name for p in directory.iterdir()) == ["cell.json", "stages.0.log"]
