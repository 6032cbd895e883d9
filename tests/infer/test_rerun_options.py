"""An unchanged rerun is skipped only when it would be the same run: another run option (the device's speed on the
null target, TF32 on the torch engine, threads on the CPU) or another device is a run of its own."""
from __future__ import annotations

import json

import pytest

from harness.contracts import run_summary_path
from tests.conftest import make_convert_dir, run_cli, write_bins


@pytest.fixture
def work(tmp_path):
    make_convert_dir(tmp_path / "model", target="null", batch=4)
    write_bins(tmp_path / "bins", 8)
    return tmp_path


def infer(work, *extra: str):
    proc = run_cli("-m", "infer", "--model", str(work / "model"), "--input", str(work / "bins"), "--output",
                   str(work / "res"), "--output_dirname", "r", "--no-progress", "--io", "threads", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(run_summary_path(work / "res" / "r").read_text())


def test_a_rerun_with_another_run_option_runs(work):
    infer(work, "--option", "compute_ms=0")
    proc, summary = infer(work, "--option", "compute_ms=20")
    assert "nothing to do" not in proc.stdout
    assert summary["extra"]["target_options"]["run"]["compute_ms"] == 20.0
    assert min(summary["compute_ms"]) >= 19.9  # the device of the speed asked for ran these batches
    proc, _ = infer(work, "--option", "compute_ms=20")
    assert "nothing to do" in proc.stdout  # the same command again is the same run


def test_a_rerun_on_another_device_runs(work):
    infer(work, "--device", "0")
    proc, summary = infer(work, "--device", "1")
    assert "nothing to do" not in proc.stdout and summary["device"] == "1"
