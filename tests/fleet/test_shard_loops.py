"""A sharded cell's combined throughput says what it measured: fleet shards start with no start barrier, so their
timed loops may not overlap (CPU shards of one machine never do: they take turns), and then the summed compute-only
and the end-to-end over their span are labelled as what they are, not shown as devices running side by side."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from fleet.shard_loops import APART, SIDE_BY_SIDE, UNKNOWN, device_names, mark_shard_loops, shards_that_ran
from harness.contracts import InferSummary
from infer.multi import merge
from tests.conftest import REPO_SAMPLE, ROOT, tiny_classifier_onnx
from tests.fleet.ray_cluster import kill_processes_using


def part(start: float, wall: float = 1.0, boot: str = "b") -> InferSummary:
    summary = InferSummary(target="nvidia", device="0", artifact="a", model="m", precision="fp16", batch_size=4,
                           mode="dataset", outfmt="BIN", num_inputs=400, num_batches=100,
                           throughput={"compute_only": 800.0, "end_to_end": 400.0 / wall, "wall_s": wall})
    summary.extra["timed_loop"] = {"boot_id": boot, "monotonic_start_s": start, "monotonic_end_s": start + wall}
    return summary


def result(shard: int, host: str = "h1", node: str = "n1" * 8, gpu: str | None = None) -> dict:
    ids = {"GPU": [gpu]} if gpu is not None else {}
    return {"shard": [shard, 2], "device": "0",
            "node": {"hostname": host, "node_id": node, "accelerator_ids": ids}}


def merged_cell(parts: list[InferSummary], results: list[dict], target: str = "nvidia") -> tuple[InferSummary, str]:
    merged = merge(parts, device_names(results), 5.0)
    return merged, mark_shard_loops(merged, parts, target, results)


def test_shards_on_two_gpus_whose_loops_ran_together_carry_no_label():
    merged, label = merged_cell([part(10.0), part(10.05)], [result(0, gpu="0"), result(1, gpu="1")])
    assert label == "" and "warning" not in merged.extra
    assert merged.extra["shard_loops"]["overlap"] == SIDE_BY_SIDE
    assert merged.extra["shard_loops"]["devices"] == ["h1 GPU 0", "h1 GPU 1"]
    assert merged.throughput["end_to_end"] == pytest.approx(800 / 1.05)  # both loops' images over their span


def test_shards_whose_loops_ran_one_after_the_other_are_labelled_with_what_was_measured():
    merged, label = merged_cell([part(10.0), part(12.0)], [result(0, gpu="0"), result(1, gpu="1")])
    assert merged.extra["shard_loops"] == {"overlap": APART, "together_s": 0.0, "shortest_s": 1.0,
                                           "devices": ["h1 GPU 0", "h1 GPU 1"]}
    assert "did not run side by side (0% of the shortest ran together" in label
    assert "compute-only is the sum of the rates each shard reached on its own" in label
    assert merged.extra["warning"] == label  # the report shows it beside the figures
    assert "labels" not in merged.extra  # not a caveat of the cell's accuracy
    assert merged.throughput["compute_only"] == pytest.approx(1600.0)
    assert merged.throughput["end_to_end"] == pytest.approx(800 / 3.0)  # over the 3 s span, as the label says


def test_shards_on_machines_without_a_shared_clock_say_their_overlap_is_unknown():
    merged, label = merged_cell([part(10.0, boot="b"), part(900.0, boot="c")],
                                [result(0, "h1", "a" * 16, gpu="0"), result(1, "h2", "b" * 16, gpu="0")])
    assert merged.extra["shard_loops"]["overlap"] == UNKNOWN
    assert "whether their timed loops overlapped is not known" in label
    assert "take the loops as running at once (all images over the longest shard's walltime)" in label
    assert merged.throughput["end_to_end"] == pytest.approx(800 / 1.0)


def test_two_cpu_shards_of_one_node_keep_their_own_figures_and_are_not_two_devices():
    parts = [part(10.0), part(12.0)]
    parts[1].throughput = {"compute_only": 700.0, "end_to_end": 350.0, "wall_s": 1.0}
    merged, label = merged_cell(parts, [result(0), result(1)], target="cpu")
    assert merged.device == f"h1:{'n1' * 4}:0/shard0,h1:{'n1' * 4}:0/shard1"
    assert [v["compute_only"] for v in merged.throughput["per_device"].values()] == [800.0, 700.0]
    assert "several of them on one device (h1 CPU)" in label and "counts that device once per shard" in label


def test_a_shard_that_had_no_batch_is_not_counted_as_a_device():
    """More shards than batches (batches are dealt out whole): the empty shard ran nothing."""
    empty = InferSummary(target="nvidia", device="0", artifact="a", model="m", precision="fp16", batch_size=4,
                         mode="dataset", outfmt="BIN", num_inputs=0, num_batches=0,
                         throughput={"compute_only": 0.0, "end_to_end": 0.0, "wall_s": 0.0})
    parts, results = [part(10.0), part(10.0), empty], [result(0, gpu="0"), result(1, gpu="1"), result(2, gpu="2")]
    ran, kept, warning = shards_that_ran(parts, results)
    assert ran == parts[:2] and [r["shard"][0] for r in kept] == [0, 1]
    assert warning == ("shard 2 of 3 had no batch to run (the inputs make 200 batches of 4) and is not counted "
                       "among the devices; ask for at most 200 shards")
    assert shards_that_ran(parts[:2], results[:2]) == (parts[:2], results[:2], "")
    merged = merge(ran, device_names(kept), 5.0)
    assert merged.device.count(",") == 1 and merged.throughput["compute_only"] == pytest.approx(1600.0)


@pytest.mark.slow
def test_a_sharded_cell_on_a_local_ray_labels_loops_that_took_turns(tmp_path):
    """Two null-target shards on one machine: the machine's timed-CPU lock makes them take turns, so the stored
    summary must not read as two devices side by side."""
    tiny_classifier_onnx(tmp_path / "tiny.onnx", 8, 10)
    names = sorted(p.name for p in REPO_SAMPLE.glob("*.JPEG"))
    (tmp_path / "labels.txt").write_text("".join(f"{name} {i % 10}\n" for i, name in enumerate(names)))
    matrix = {"data": {"path": str(REPO_SAMPLE), "labels": str(tmp_path / "labels.txt"), "classes": None},
              "models": [{"name": "tiny", "onnx": str(tmp_path / "tiny.onnx"),
                          "preprocess": {"preset": "resnet", "resize": 8, "input_size": 8}}],
              "targets": [{"name": "null", "shards": 2}], "precisions": ["fp32"], "batch_sizes": [4],
              "sweep": ["accuracy"]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(matrix))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HARNESS_DEBUG")}
    env.update(RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(ROOT))
    try:
        proc = subprocess.run([sys.executable, "-m", "fleet", "--matrix", str(tmp_path / "m.yaml"), "--work",
                               str(tmp_path / "work"), "--cache", str(tmp_path / "cache")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
    finally:
        kill_processes_using(str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [summary_path] = (tmp_path / "work" / "fleet").glob("tiny-*/tiny-*_summary.json")
    summary = json.loads(summary_path.read_text())
    walls = [p["wall_s"] for p in summary["throughput"]["per_device"].values()]
    assert len(walls) == 2 and summary["num_inputs"] == 48
    assert summary["throughput"]["wall_s"] >= sum(walls)  # the span holds both loops whole: they took turns
    assert summary["extra"]["shard_loops"]["overlap"] == APART
    label = proc.stdout.split(": 2 shards, ")[1].splitlines()[0]
    assert "several of them on one device" in label and f"2 shards, {label}" in summary["extra"]["warning"]
    assert "labels" not in summary["extra"]  # the accuracy row carries no throughput caveat
    report = (tmp_path / "work" / "fleet" / "report" / "report.md").read_text()
    assert "counts that device once per shard" in report
