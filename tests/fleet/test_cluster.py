"""Fleet runs on a real multi-node Ray cluster on this machine: a head and two worker nodes, one advertising an
NPU and running the simulated Ascend toolchain, one CPU-only.

The fleet's report is checked against the same cells run one by one with the stage commands (same accuracy
numbers, same labels); a sharded cell scores exactly as one unsharded run; a worker node killed mid-run still
leaves every cell accounted for.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.targets.ascend.upstream import missing_reason
from tests.conftest import REPO_SAMPLE, ROOT, tiny_classifier_onnx
from tests.fleet.ray_cluster import ascend_sim_env, cluster_env, kill_processes_using, start_cluster

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason()))]

SIZE, CLASSES, BATCH = 8, 10, 4
PREPROCESS = {"preset": "resnet", "resize": SIZE, "input_size": SIZE}
ASCEND_OPTIONS = {"soc_version": "Ascend310P3"}


@pytest.fixture(scope="module")
def cluster():
    cluster = start_cluster()
    try:
        cluster.start_head(cpus=0)  # the driver's node: cells run on the workers only
        npu = cluster.start_worker("npu", cpus=1, resources={"NPU": 1}, env=ascend_sim_env())
        cpu = cluster.start_worker("cpu", cpus=1)
        yield cluster, npu, cpu
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The tiny classifier and labels that give it a non-trivial score on the sample images."""
    root = tmp_path_factory.mktemp("fleet-inputs")
    tiny_classifier_onnx(root / "tiny.onnx", SIZE, CLASSES)
    names = sorted(p.name for p in REPO_SAMPLE.glob("*.JPEG"))
    (root / "labels.txt").write_text("".join(f"{name} {i % CLASSES}\n" for i, name in enumerate(names)))
    return root


def write_matrix(path: Path, inputs: Path, targets: list, batch_sizes: list[int]) -> Path:
    matrix = {"data": {"path": str(REPO_SAMPLE), "labels": str(inputs / "labels.txt"), "classes": None},
              "models": [{"name": "tiny", "onnx": str(inputs / "tiny.onnx"), "preprocess": PREPROCESS}],
              "targets": targets, "precisions": ["fp32"], "batch_sizes": batch_sizes, "sweep": ["accuracy"]}
    path.write_text(yaml.safe_dump(matrix))
    return path


def fleet(cluster, matrix: Path, work: Path, cache: Path, *extra: str) -> subprocess.Popen:
    env = {**cluster_env(cluster.temp_dir), "RAY_ADDRESS": cluster.address, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "fleet", "--matrix", str(matrix), "--work", str(work),
                             "--cache", str(cache), *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def accuracy_rows(report_json: Path) -> dict:
    rows = json.loads(report_json.read_text())["accuracy"]
    keys = ("model", "target", "precision", "batch_size", "images", "top1", "top5", "macro_f1", "weighted_f1",
            "labels")
    return {row["target"]: {k: row[k] for k in keys} for row in rows}


def one_by_one(tmp: Path, inputs: Path, target: str, options: dict) -> Path:
    """The cell as a user runs it on one machine: the four stage commands, then its result directory."""
    env = {**cluster_env(tmp), "PYTHONPATH": str(ROOT)}
    if target == "ascend":
        sim = ascend_sim_env()
        env.update(sim, PYTHONPATH=f"{ROOT}:{sim['PYTHONPATH']}")
    option_args = [a for k, v in options.items() for a in ("--option", f"{k}={v}")]
    prep, model, results = tmp / "prep", tmp / f"model-{target}", tmp / "results"
    steps = [["preprocess", "--input", REPO_SAMPLE, "--output", prep, "--model", "tiny", "--preset", "resnet",
              "--resize", SIZE, "--input-size", SIZE, "--no-progress"],
             ["convert", "--onnx", inputs / "tiny.onnx", "--model", "tiny", "--target", target, "--precision",
              "fp32", "--batchsize", BATCH, "--preprocess", prep, "--output", model, *option_args],
             ["infer", "--model", model, "--input", prep, "--output", results, "--output_dirname", target,
              "--outfmt", "TXT", "--batchsize", BATCH, "--no-progress", *option_args],
             ["postprocess", "--result", results / target, "--labels", inputs / "labels.txt"]]
    for step in steps:
        proc = subprocess.run([sys.executable, "-m", *map(str, step)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, f"{step[0]}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    return results


def test_a_matrix_over_three_nodes_reports_what_the_cells_give_one_by_one(cluster, inputs, tmp_path):
    cluster_, npu, _ = cluster
    targets = [{"name": "cpu", "shards": 2}, {"name": "null"}, {"name": "ascend", "options": ASCEND_OPTIONS}]
    matrix = write_matrix(tmp_path / "matrix.yaml", inputs, targets, [BATCH])
    work, cache = tmp_path / "work", tmp_path / "cache"
    try:
        proc = fleet(cluster_, matrix, work, cache)
        out, _ = proc.communicate(timeout=900)
    finally:
        kill_processes_using(str(cache))
    assert proc.returncode == 0, out[-4000:]
    fleet_rows = accuracy_rows(work / "fleet" / "report" / "report.json")
    assert set(fleet_rows) == {"cpu", "null", "ascend"}

    reference = tmp_path / "one-by-one"
    for target, options in (("cpu", {}), ("null", {}), ("ascend", ASCEND_OPTIONS)):
        results = one_by_one(reference, inputs, target, options)
    subprocess.run([sys.executable, "-m", "report", "--input", str(results), "--output", str(reference / "report")],
                   cwd=ROOT, check=True, capture_output=True)
    assert fleet_rows == accuracy_rows(reference / "report" / "report.json")
    assert fleet_rows["cpu"]["images"] == 48 and 0 < fleet_rows["cpu"]["top1"] < 100

    records = {p.parent.name: json.loads(p.read_text()) for p in (work / "fleet").glob("*/cell.json")}
    by_target = {r["definition"]["target"]["name"]: r for r in records.values()}
    assert [len(r["runs"]) for r in (by_target["cpu"], by_target["null"], by_target["ascend"])] == [2, 1, 1]
    npu_node = by_target["ascend"]["runs"][0]["node"]
    assert npu_node["accelerator_ids"].get("NPU") == ["0"] and npu_node["ip"] == "127.0.0.2"
    assert all(state["idle"]["method"] for r in records.values() for state in r["device_idle"])

    rerun = fleet(cluster_, matrix, work, cache)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out[-3000:]
    assert out.count("stored results are complete and unchanged, skipped") == 3, out


def _running_markers(cache: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in cache.glob("*/running/*.json") if p.stat().st_size]


def test_a_worker_killed_mid_run_leaves_every_cell_accounted_for(cluster, inputs, tmp_path):
    cluster_, npu, cpu = cluster
    targets = [{"name": "null", "options": {"compute_ms": 250}}, {"name": "ascend", "options": ASCEND_OPTIONS},
               {"name": "nvidia"}]  # no node has a GPU: those cells must end failed, saying so
    matrix = write_matrix(tmp_path / "matrix.yaml", inputs, targets, [1, 2])
    work, cache = tmp_path / "work", tmp_path / "cache"
    raylets = {npu.raylet_pid(): npu, cpu.raylet_pid(): cpu}
    proc = fleet(cluster_, matrix, work, cache, "--unplaceable-after", "5")
    try:
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            for marker in _running_markers(cache):
                if "-null-" in marker["cell"] and marker["raylet_pid"] in raylets:
                    victim = marker
                    break
            time.sleep(0.2)
        assert victim is not None, "no null cell was seen running on a worker"
        cluster_.kill_raylet(victim["raylet_pid"])
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_processes_using(str(cache))
    summary = json.loads((work / "fleet" / "fleet.json").read_text())["cells"]
    print(f"killed the raylet of the {raylets[victim['raylet_pid']].name} worker while {victim['cell']} ran there;",
          {cell_id: cell["status"] for cell_id, cell in summary.items()})
    assert len(summary) == 6, out[-3000:]
    for cell_id, cell in summary.items():
        assert cell["status"] == "ok" or (cell["status"] == "failed" and cell["reason"]), (cell_id, cell, out[-3000:])
    killed = json.loads((work / "fleet" / victim["cell"] / "cell.json").read_text())
    assert killed["status"] == "ok", (killed, out[-3000:])  # retried on the other worker, which has CPUs too
    assert killed["runs"][0]["node"]["node_id"] != victim["node_id"]
    if raylets[victim["raylet_pid"]] is npu:  # no NPU left: the ascend cells failed, saying why, unless done before
        for cell_id, cell in summary.items():
            if "-ascend-" in cell_id and cell["status"] == "failed":
                assert "no live node has the resources" in cell["reason"] or "Died" in cell["reason"], cell
    for cell_id, cell in summary.items():
        if "-nvidia-" in cell_id:
            assert cell == {"status": "failed", "reason": "no live node has the resources it needs (CPU: 1, GPU: 1) "
                                                          "for 5 s"}, cell
    assert proc.returncode == 2 and "cell(s) failed" in out, out[-3000:]
