"""Idle device check before a timed run: the decision, the CPU's /proc view, and what infer records and the
report shows (NVML: tests/targets/nvidia/test_idle.py, npu-smi: tests/targets/ascend/test_idle.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from harness.idle import BUSY_UTILIZATION_PERCENT, cpu_idle_state, decide
from tests.conftest import make_convert_dir, run_cli


def test_other_processes_or_high_utilization_make_a_device_busy():
    assert decide("m", 0.0, [], {}).idle is True
    assert decide("m", BUSY_UTILIZATION_PERCENT - 1, [], {}).idle is True
    busy = decide("m", BUSY_UTILIZATION_PERCENT, [{"pid": 7, "name": "python3"}], {"memory_used_bytes": 5})
    assert busy.idle is False and busy.busy == ["1 other process(es) on the device: python3 (7)",
                                                f"utilization {BUSY_UTILIZATION_PERCENT:.0f}%"]
    assert busy.facts["memory_used_bytes"] == 5


def test_the_cpu_check_sees_a_spinning_process():
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        state = cpu_idle_state(sample_s=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert state.idle is False
    assert spinner.pid in [p["pid"] for p in state.facts["busiest_processes"]]
    spinning = next(p for p in state.facts["busiest_processes"] if p["pid"] == spinner.pid)
    assert spinning["cpu_percent"] > 50  # one core, minus what the shared machine takes from it
    assert state.facts["cores"] == os.cpu_count() and len(state.facts["load_average"]) == 3
    assert "no per-device view" in state.method


def test_infer_records_the_check_and_the_report_shows_it(tmp_path):
    model = make_convert_dir(tmp_path / "model", target="cpu")
    proc = run_cli("-m", "infer", "--model", str(model), "--batchsize", "4", "--loop", "3", "--output",
                   str(tmp_path / "runs"), "--output_dirname", "bs4", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    idle = json.loads((tmp_path / "runs" / "bs4_summary.json").read_text())["extra"]["device_idle"]
    assert idle["idle"] in (True, False) and idle["method"].startswith("CPU: share of all")
    assert ("[WARN] the device was not idle before the timed run" in proc.stdout) is (idle["idle"] is False)
    proc = run_cli("-m", "report", "--input", str(tmp_path / "runs"), "--output", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    idle_count = 1 if idle["idle"] else 0
    assert f"Device idle before the timed run: {idle_count} of 1 runs idle, {1 - idle_count} not idle" in text
