"""Matrix files at the edges (a single value for a list, empty or repeated axes, unknown keys, repeated cells) and
cell keys of two models of one name with other weights. No Ray: the matrix and the keys only."""
from __future__ import annotations

import json
import shutil
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


def assert_refused(tmp_path, change: dict, needle: str) -> None:
    """The matrix with `change` is refused in one line that names its file."""
    path = write(tmp_path / "m.yaml", base(**change))
    with pytest.raises(InputError) as caught:
        load_matrix(path)
    assert str(caught.value).startswith(f"{path}: ") and needle in str(caught.value)


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
    assert_refused(tmp_path, change, needle)


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


def external_data_onnx(directory: Path) -> Path:
    """The tiny classifier (8x8 input) saved with its weights in `weights.data` beside `ext.onnx`."""
    import onnx

    from tests.conftest import tiny_classifier_onnx

    directory.mkdir(parents=True, exist_ok=True)
    tiny_classifier_onnx(directory / "plain.onnx", 8, 10)
    onnx.save(onnx.load(str(directory / "plain.onnx")), str(directory / "ext.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="weights.data", size_threshold=0)
    (directory / "plain.onnx").unlink()
    return directory / "ext.onnx"


def test_an_onnx_model_with_external_data_reaches_a_node_without_the_path_whole(tmp_path):
    """The .onnx and its weights.data travel together through the object store, and convert there finds both."""
    from fleet.node import _run_stages
    from fleet.shipping import ship

    model = external_data_onnx(tmp_path / "models")
    matrix = load_matrix(write(tmp_path / "m.yaml", base(
        models=[{"name": "tiny", "onnx": str(model), "preprocess": {"preset": "resnet", "resize": 8,
                                                                    "input_size": 8}}],
        batch_sizes=[4], sweep=["pure"], pure={"loop": 2, "warmup": 0, "time_limit": 5})))
    store: dict = {}

    def put(data: bytes) -> int:
        store[len(store)] = data
        return len(store) - 1

    shipments = {"data": ship(REPO_SAMPLE, "auto", put), "onnx": ship(model, "auto", put)}
    (tmp_path / "models").rename(tmp_path / "elsewhere")  # this node does not have the driver's path
    node = {"node_id": "f" * 56, "ip": "127.0.0.1", "hostname": "here", "pid": 0, "accelerator_ids": {}}
    log: list[str] = []
    files = _run_stages(matrix.cells[0], (0, 1), shipments, {"labels": "", "classes": None}, tmp_path / "cache",
                        tmp_path / "cache" / "node", node, log, store.__getitem__)
    assert "__status__" not in files, "".join(log)
    source = json.loads(files["convert.json"])["source"]["files"]
    assert source["onnx_input"]["external_data"] == ["weights.data"]
    unpacked = tmp_path / "cache" / "node" / "inputs" / shipments["onnx"].sha256
    assert sorted(p.name for p in unpacked.iterdir()) == ["ext.onnx", "weights.data"]


def test_new_weights_in_the_external_data_of_an_onnx_model_rerun_its_cells(tmp_path):
    """On a shared path only the data file changes: the key of the cell changes with it, and the shipment's hash
    (which names the node's unpacked copy and converted model) too."""
    from fleet.shipping import ship

    model = external_data_onnx(tmp_path / "models")
    path = write(tmp_path / "m.yaml", base(models=[{"name": "tiny", "onnx": str(model)}]))

    def key_and_hash() -> tuple[str, str]:
        matrix = load_matrix(path)
        return (driver._cell_key(matrix.cells[0], driver._input_hashes(matrix)),
                ship(model, "auto", lambda data: None).sha256)

    before = key_and_hash()
    data = tmp_path / "models" / "weights.data"  # float32 tensors one after another: new weights, same .onnx
    import numpy as np

    (2.0 * np.fromfile(data, dtype="<f4")).astype("<f4").tofile(data)
    after = key_and_hash()
    assert after[0] != before[0] and after[1] != before[1]


def test_missing_external_data_is_one_line_naming_it_before_any_cell_runs(tmp_path):
    model = external_data_onnx(tmp_path / "models")
    (tmp_path / "models" / "weights.data").unlink()
    path = write(tmp_path / "m.yaml", base(models=[{"name": "tiny", "onnx": str(model)}]))
    proc = run_cli("-m", "fleet", "--matrix", str(path), "--work", str(tmp_path / "work"))
    assert_one_line_error(proc, f"{tmp_path / 'models' / 'weights.data'}: external data of {model} not found")


def scored_files(cell, top1: str) -> dict:
    from tasks.classification.record import MODELZOO_TITLE
    from tests.report.report_fixtures import summary_dict

    summary = summary_dict(target="cpu", precision="fp32", batch_size=4, compute_ms=[1.0], device_name="cpu",
                           model="resnet18", mode="dataset")
    result = {"title": MODELZOO_TITLE, "value": [{"key": "Number of images", "value": "4"},
                                                 {"key": "Top1 accuracy", "value": top1}]}
    return {f"{cell.run_name}_summary.json": json.dumps(summary).encode(),
            f"{cell.run_name}/result.json": json.dumps(result).encode()}


def store_killed_between_the_renames(monkeypatch, work: Path, cell, key: str, files: dict) -> None:
    """store_cell as a driver killed after the cell's directory was set aside, before the new one took its place."""
    from fleet import store

    real_rename = Path.rename

    def rename(self, target):
        if self.name == f".{cell.cell_id}.new":
            raise SystemExit("driver killed")
        return real_rename(self, target)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "rename", rename)
        with pytest.raises(SystemExit):
            store.store_cell(work, cell, key, [_result(files)], "ok", "", {})
    assert not store.cell_dir(work, cell).exists()


@pytest.mark.parametrize("staged_whole, kept_top1", [(True, "80.0%"), (False, "75.0%")])
def test_a_driver_killed_mid_swap_keeps_a_whole_attempt_and_does_not_rerun_it(tmp_path, monkeypatch, capsys,
                                                                              staged_whole, kept_top1):
    """Killed between the two renames: the staged attempt (whole: its cell.json is there) or else the one set
    aside takes the cell's place; the rerun skips the cell and nothing is left beside it."""
    from fleet.store import store_cell

    path = write(tmp_path / "m.yaml", base(batch_sizes=[4]))
    matrix = load_matrix(path)
    (cell,) = matrix.cells
    key = driver._cell_key(cell, driver._input_hashes(matrix))
    work = tmp_path / "work"
    store_cell(work, cell, key, [_result(scored_files(cell, "75.0%"))], "ok", "", {})
    store_killed_between_the_renames(monkeypatch, work, cell, key, scored_files(cell, "80.0%"))
    if not staged_whole:
        (work / "fleet" / f".{cell.cell_id}.new" / "cell.json").unlink()

    def no_ray():
        raise AssertionError("a cell with a whole attempt stored is not run again")

    monkeypatch.setattr(driver, "connect", no_ray)
    summary = driver.run(driver.FleetConfig(matrix=path, work=work, report=False))
    assert summary["cells"][cell.cell_id]["status"] == "ok"
    assert "stored results are complete and unchanged, skipped" in capsys.readouterr().out
    assert sorted(p.name for p in (work / "fleet").iterdir()) == ["fleet.json", cell.cell_id]
    result = json.loads((work / "fleet" / cell.cell_id / cell.run_name / "result.json").read_text())
    assert result["value"][1]["value"] == kept_top1


def test_the_report_passes_over_attempts_stored_beside_a_cell(tmp_path, monkeypatch):
    """An attempt left beside its cell (.<cell>.old, .<cell>.new) is not reported as more rows of the cell."""
    from fleet.store import store_cell
    from report.collect import collect

    (cell,) = load_matrix(write(tmp_path / "m.yaml", base(batch_sizes=[4]))).cells
    work = tmp_path / "work"
    store_cell(work, cell, "key1", [_result(scored_files(cell, "75.0%"))], "ok", "", {})
    store_killed_between_the_renames(monkeypatch, work, cell, "key2", scored_files(cell, "80.0%"))
    store_cell(work, cell, "key3", [_result(scored_files(cell, "70.0%"))], "ok", "", {})
    (work / "fleet" / f".{cell.cell_id}.new").mkdir()
    (work / "fleet" / cell.cell_id).rename(work / "fleet" / f".{cell.cell_id}.old")
    shutil.copytree(work / "fleet" / f".{cell.cell_id}.old", work / "fleet" / cell.cell_id)
    found = collect([work / "fleet"])
    assert len(found.accuracy) == 1 and len(found.perf) == 1
    assert all(f"/.{cell.cell_id}." not in source for source in found.sources)


@pytest.mark.parametrize("change, needle", [
    ({"calib": {"counts": 100}}, "'calib' has unknown keys ['counts']; it takes count, method"),
    ({"pure": {"loops": 50}}, "'pure' has unknown keys ['loops']; it takes loop, warmup, time_limit, stable_ci"),
    ({"pure": {"loop": 0}}, "'pure.loop' takes an integer of 1 or more, found 0"),
    ({"pure": {"loop": 2.5}}, "'pure.loop' takes an integer of 1 or more, found 2.5"),
    ({"pure": {"warmup": True}}, "'pure.warmup' takes an integer of 0 or more, found True"),
    ({"pure": {"time_limit": float("nan")}}, "'pure.time_limit' takes a finite number of 0 or more, found nan"),
    ({"pure": {"stable_ci": -0.01}}, "'pure.stable_ci' takes a finite number of 0 or more, found -0.01"),
    ({"pure": {"time_limit": "10s"}}, "'pure.time_limit' takes a finite number of 0 or more, found '10s'"),
    ({"calib": {"count": -5}}, "'calib.count' takes an integer of 1 or more, found -5"),
    ({"calib": {"method": "kl"}}, "'calib.method' takes one of minmax, entropy, percentile, found 'kl'"),
])
def test_pure_and_calib_settings_a_stage_would_not_take_as_meant_are_refused(tmp_path, change, needle):
    assert_refused(tmp_path, change, needle)


def test_pure_and_calib_settings_reach_the_cells(tmp_path):
    path = write(tmp_path / "m.yaml", base(precisions=["int8"], sweep=["pure"], calib={"count": 100},
                                           pure={"loop": 50, "stable_ci": 0.05, "time_limit": 7.5}))
    (cell,) = load_matrix(path).cells
    assert cell.calib == {"count": 100, "method": "entropy"}
    assert cell.pure == {"loop": 50, "warmup": 20, "time_limit": 7.5, "stable_ci": 0.05}
    proc = run_cli("-m", "fleet", "--matrix", str(write(tmp_path / "bad.yaml", base(calib={"counts": 100}))),
                   "--work", str(tmp_path / "work"))
    assert_one_line_error(proc, str(tmp_path / "bad.yaml"), "'calib' has unknown keys ['counts']")


def test_a_models_crop_mode_reaches_preprocess_and_its_recipe(tmp_path):
    from fleet.stages import preprocess_args, recipe_key

    path = write(tmp_path / "m.yaml", base(models=[{"name": "resnet18", "preprocess": {"crop": "border"}}]))
    (cell,) = load_matrix(path).cells
    args = preprocess_args(cell, tmp_path / "img", tmp_path / "prep")
    assert args[args.index("--crop") + 1] == "border"
    plain = write(tmp_path / "p.yaml", base(models=["resnet18"]))
    assert recipe_key(cell, "d" * 64) != recipe_key(load_matrix(plain).cells[0], "d" * 64)
