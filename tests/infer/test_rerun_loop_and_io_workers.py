"""A rerun with another --loop is another measurement (each batch timed that many times), so it runs; an identical
rerun is still skipped. --io_workers is bounded: each worker is a process started before the timed loop."""
from __future__ import annotations

import json

from harness.contracts import run_summary_path
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli, write_bins


def infer(tmp_path, *extra: str):
    return run_cli("-m", "infer", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "bins"), "--output",
                   str(tmp_path / "res"), "--output_dirname", "r", "--no-progress", "--io", "threads", *extra)


def test_a_rerun_with_another_loop_count_runs_and_the_same_one_is_skipped(tmp_path):
    make_convert_dir(tmp_path / "model", target="null", batch=4)
    write_bins(tmp_path / "bins", 8)
    assert infer(tmp_path).returncode == 0
    proc = infer(tmp_path, "--loop", "3")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" not in proc.stdout
    summary = json.loads(run_summary_path(tmp_path / "res" / "r").read_text())
    assert summary["extra"]["runs_per_input"] == 3 and len(summary["compute_ms"]) == 2 * 3
    again = infer(tmp_path, "--loop", "3")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    back = infer(tmp_path, "--loop", "1")
    assert back.returncode == 0 and "nothing to do" not in back.stdout
    summary = json.loads(run_summary_path(tmp_path / "res" / "r").read_text())
    assert "runs_per_input" not in summary["extra"] and len(summary["compute_ms"]) == 2


def test_more_io_workers_than_the_bound_are_refused_in_one_line(tmp_path):
    proc = run_cli("-m", "infer", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "bins"),
                   "--output", str(tmp_path / "res"), "--io", "processes", "--io_workers", "100000")
    assert proc.returncode == 2
    assert_one_line_error(proc, "--io_workers must be at most 64, got 100000")
    assert not (tmp_path / "res").exists()
