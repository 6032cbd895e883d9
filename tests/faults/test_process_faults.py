"""Killed and concurrent runs: no orphaned workers, no worker tracebacks, a second run refused.

Every test stops what it starts, by pid, in a finally block.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import make_convert_dir, write_bins
from tests.faults.helpers import (assert_clean_failure, descendants, fault_cli, running, start_stage, stop_all,
                                  wait_for)


@pytest.fixture
def slow_images(tmp_path) -> Path:
    """Enough large images that preprocess runs for seconds (copies of one, so making them is quick)."""
    src = tmp_path / "img"
    src.mkdir()
    Image.effect_noise((1600, 1200), 60).convert("RGB").save(src / "img0.jpg", quality=90)
    data = (src / "img0.jpg").read_bytes()
    for i in range(1, 120):
        (src / f"img{i}.jpg").write_bytes(data)
    return src


@pytest.fixture
def slow_infer(tmp_path) -> Path:
    """A null-target model that takes 20 ms a batch of one, and 400 inputs: eight seconds of run."""
    make_convert_dir(tmp_path / "model", target="null", batch=1)
    write_bins(tmp_path / "bins", 400)
    return tmp_path


def infer_argv(work: Path, dirname: str = "run") -> list[str]:
    return ["-m", "infer", "--model", str(work / "model"), "--input", str(work / "bins"), "--output",
            str(work / "res"), "--output_dirname", dirname, "--io", "processes", "--batchsize", "1",
            "--option", "compute_ms=20", "--no-progress"]


def kill_when_started(proc, outputs: Path, pattern: str, how) -> list[int]:
    """Wait for the first outputs, note the process tree, deliver `how`; returns the tree's pids."""
    started = wait_for(lambda: len(list(outputs.glob(pattern))) >= 2 or proc.poll() is not None)
    assert started and proc.poll() is None, "the run ended before it could be killed"
    tree = descendants(proc.pid)
    how(proc)
    return tree


def kill9(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)


def ctrl_c(proc) -> None:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group


def term_group(proc) -> None:
    os.killpg(proc.pid, signal.SIGTERM)  # what `timeout` and batch schedulers do


def term_main(proc) -> None:
    os.kill(proc.pid, signal.SIGTERM)  # plain `kill PID`: the workers are not told


ONE_LINE = {ctrl_c: (130, "error: interrupted; rerun the same command to resume"),
            term_group: (143, "error: terminated (SIGTERM); rerun the same command to resume"),
            term_main: (143, "error: terminated (SIGTERM); rerun the same command to resume")}


@pytest.mark.parametrize("how", [kill9, ctrl_c, term_group, term_main],
                         ids=["kill -9 of the main process", "Ctrl-C", "SIGTERM to the group", "SIGTERM to the main"])
def test_killed_preprocess_leaves_no_workers_and_no_tracebacks(slow_images, tmp_path, how):
    out = tmp_path / "out"
    proc = start_stage("-m", "preprocess", "--input", str(slow_images), "--output", str(out), "--workers", "2",
                       "--no-progress")
    tree = []
    try:
        tree = kill_when_started(proc, out, "*.bin", how)
        assert tree, "no worker processes seen"
        _, err = proc.communicate(timeout=60)
        assert wait_for(lambda: not any(running(p) for p in tree), timeout=10), \
            [p for p in tree if running(p)]
        assert "Traceback" not in err, err
        if how in ONE_LINE:
            assert (proc.returncode, err.strip()) == ONE_LINE[how]
        assert len(list(out.glob("*.bin"))) < 120, "the workers went on after the run was stopped"
    finally:
        stop_all([proc.pid, *tree])
    rerun = fault_cli(f"preprocess: rerun after {how.__name__}", "-m", "preprocess", "--input", str(slow_images),
                      "--output", str(out), "--no-progress", base=tmp_path)
    assert rerun.returncode == 0 and "already done" in rerun.stdout, rerun.stdout + rerun.stderr


@pytest.mark.parametrize("how", [kill9, ctrl_c, term_group, term_main],
                         ids=["kill -9 of the main process", "Ctrl-C", "SIGTERM to the group", "SIGTERM to the main"])
def test_killed_infer_with_io_processes_is_quiet_and_leaves_nothing(slow_infer, how):
    run = slow_infer / "res" / "run"
    proc = start_stage(*infer_argv(slow_infer))
    tree = []
    try:
        tree = kill_when_started(proc, run, "*_0.bin", how)
        assert len(tree) >= 2, "no I/O worker processes seen"
        _, err = proc.communicate(timeout=60)
        assert wait_for(lambda: not any(running(p) for p in tree), timeout=10), \
            [p for p in tree if running(p)]
        assert "Traceback" not in err and "leaked" not in err, err
        if how in ONE_LINE:
            assert (proc.returncode, err.strip()) == ONE_LINE[how]
        else:
            assert err.strip() == "", err
    finally:
        stop_all([proc.pid, *tree])


def test_two_infer_runs_into_one_directory_at_once(slow_infer):
    first = start_stage(*infer_argv(slow_infer))
    tree = []
    try:
        lock = slow_infer / "res" / "run" / ".harness.lock"
        assert wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid))
        tree = descendants(first.pid)
        second = fault_cli("infer: two runs into one result directory at once", *infer_argv(slow_infer),
                           base=slow_infer)
        assert_clean_failure(second, 10, str(slow_infer / "res" / "run"), "another infer run",
                             f"pid {first.pid}")
        assert first.poll() is None  # the first run goes on undisturbed
    finally:
        stop_all([first.pid, *tree])
        first.communicate(timeout=60)
