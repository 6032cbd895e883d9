"""The documented example runs as the README says, on one machine (Ray started locally), and a rerun skips it."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.fleet.ray_cluster import kill_processes_using

pytestmark = pytest.mark.slow


def test_the_example_matrix_runs_with_a_local_ray_and_a_rerun_skips_every_cell(tmp_path):
    env_remove = ("RAY_ADDRESS", "HARNESS_DEBUG")
    env = {k: v for k, v in __import__("os").environ.items() if k not in env_remove}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    cmd = ["make", "-s", "fleet", "MATRIX=fleet/examples/cpu.yaml", f"WORK={tmp_path / 'work'}",
           f"PYTHON={sys.executable}"]
    try:
        first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    finally:
        kill_processes_using(str(tmp_path))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    cells = json.loads((tmp_path / "work" / "fleet" / "fleet.json").read_text())["cells"]
    assert len(cells) == 4 and {c["status"] for c in cells.values()} == {"ok"}
    report = json.loads((tmp_path / "work" / "fleet" / "report" / "report.json").read_text())
    accuracy = {row["target"]: row for row in report["accuracy"]}
    assert accuracy["cpu"]["images"] == 48 and accuracy["cpu"]["top1"] > 85.0  # the packaged ImageNet weights
    assert {(r["target"], r["mode"]) for r in report["perf"]} >= {("cpu", "pure"), ("cpu", "dataset")}
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("stored results are complete and unchanged, skipped") == 4
    assert "on Ray" not in second.stdout  # nothing to run: Ray is not even started
