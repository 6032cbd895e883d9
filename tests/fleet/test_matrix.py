"""The matrix file: the cells it makes, what each asks Ray for, and one-line errors for bad files."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleet.cluster import fits
from fleet.matrix import load_matrix
from fleet.shipping import content_hash, materialize, ship
from harness.errors import InputError
from tests.conftest import REPO_SAMPLE, assert_one_line_error, run_cli


def write(path: Path, matrix: dict) -> Path:
    path.write_text(yaml.safe_dump(matrix))
    return path


def base(**changes) -> dict:
    matrix = {"data": {"path": str(REPO_SAMPLE)}, "models": ["efficientnet_lite0", {"name": "resnet50"}],
              "targets": ["cpu", {"name": "nvidia", "options": {"engine": "torch"}}, "ascend", "null"],
              "precisions": ["fp32", "fp16"], "batch_sizes": [1, 8], "sweep": ["accuracy", "pure"]}
    return {**matrix, **changes}


def test_every_combination_is_one_cell_with_its_own_id(tmp_path):
    matrix = load_matrix(write(tmp_path / "m.yaml", base()))
    assert len(matrix.cells) == 2 * 4 * 2 * 2 * 2
    assert len({c.cell_id for c in matrix.cells}) == len(matrix.cells)
    assert matrix.data.labels == str(REPO_SAMPLE / "val_label.txt")
    assert matrix.data.classes == str(REPO_SAMPLE / "classes.txt")
    cell = next(c for c in matrix.cells if c.target.name == "nvidia")
    assert cell.cell_id.startswith(f"{cell.model.name}-nvidia-torch-{cell.precision}-bs{cell.batch_size}-{cell.sweep}-")


def test_each_target_asks_for_its_device(tmp_path):
    matrix = load_matrix(write(tmp_path / "m.yaml", base(targets=[{"name": "cpu", "cpus": 3}, "nvidia", "ascend"])))
    requests = {c.target.name: c.resources() for c in matrix.cells}
    assert requests == {"cpu": {"num_cpus": 3}, "nvidia": {"num_cpus": 1, "num_gpus": 1},
                        "ascend": {"num_cpus": 1, "resources": {"NPU": 1}}}
    assert fits(requests["ascend"], {"CPU": 4.0, "NPU": 8.0})
    assert not fits(requests["ascend"], {"CPU": 4.0, "GPU": 2.0})
    assert not fits(requests["cpu"], {"CPU": 2.0})


def test_shards_split_accuracy_runs_only(tmp_path):
    matrix = load_matrix(write(tmp_path / "m.yaml", base(targets=[{"name": "cpu", "shards": 4}])))
    assert {(c.sweep, c.shards) for c in matrix.cells} == {("accuracy", 4), ("pure", 1)}


@pytest.mark.parametrize("change, needle", [
    ({"targets": [None]}, "'null', in quotes"),
    ({"sweep": ["speed"]}, "unknown sweep"),
    ({"batch_sizes": [0]}, "integers of 1 or more"),
    ({"models": []}, "'models' must be a non-empty list"),
    ({"data": {}}, "'data' needs a path"),
])
def test_a_bad_matrix_is_one_line_naming_the_file(tmp_path, change, needle):
    path = write(tmp_path / "m.yaml", base(**change))
    with pytest.raises(InputError, match=needle):
        load_matrix(path)
    assert_one_line_error(run_cli("-m", "fleet", "--matrix", str(path), "--work", str(tmp_path)), str(path), needle)


def test_data_through_the_object_store_arrives_whole(tmp_path):
    """A node without the driver's path unpacks the tar the driver put, once, with the same content."""
    store = {}

    def put(data: bytes) -> int:
        store[len(store)] = data
        return len(store) - 1

    shipment = ship(REPO_SAMPLE, "object_store", put)
    local = materialize(shipment, tmp_path / "cache", store.__getitem__)
    assert local != REPO_SAMPLE and content_hash(local) == content_hash(REPO_SAMPLE) == shipment.sha256
    store.clear()  # a second cell on the node reuses the unpacked copy
    assert materialize(shipment, tmp_path / "cache", store.__getitem__) == local
    assert materialize(ship(REPO_SAMPLE, "auto", put), tmp_path / "cache", store.__getitem__) == REPO_SAMPLE


def test_classes_null_means_no_classes_file_though_the_data_has_one(tmp_path):
    assert (REPO_SAMPLE / "classes.txt").is_file()
    found = load_matrix(write(tmp_path / "m.yaml", base(data={"path": str(REPO_SAMPLE)})))
    assert found.data.classes == str(REPO_SAMPLE / "classes.txt")
    none = load_matrix(write(tmp_path / "n.yaml", base(data={"path": str(REPO_SAMPLE), "classes": None})))
    assert none.data.classes is None
