"""The start barrier of `--device 0,1`: a worker that fails or is killed before its timed loop ends the run at once
with its error, and a stop signal while workers prepare or wait leaves one line and no process behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.cli import INTERRUPTED, TERMINATED
from tests.conftest import ROOT, assert_one_line_error, make_convert_dir
from tests.faults.helpers import descendants, running, stop_all, wait_for

SLOW_PREPARATION_S = 60  # device 0's preparation (a long compile): the run must not wait for it to fail
PROMPT_S = 15  # well under it: how long the run may take to end once a worker failed


def worker_site(tmp_path: Path, per_device: dict[str, str]) -> dict:
    """An environment whose device workers (the processes given --start_barrier) first run per_device[device]."""
    site = tmp_path / "site"
    site.mkdir()
    lines = ["import os, signal, sys, time",
             "if '--start_barrier' in sys.argv:",
             "    device = sys.argv[sys.argv.index('--device') + 1]"]
    for device, code in per_device.items():
        lines += [f"    if device == {device!r}:", *(f"        {line}" for line in code.splitlines())]
    (site / "sitecustomize.py").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    env.pop("HARNESS_DEBUG", None)
    return env


def start_run(tmp_path: Path, env: dict) -> subprocess.Popen:
    """A two-device pure run in its own session, SIGINT handled as in a terminal's foreground job."""
    model = make_convert_dir(tmp_path / "model", target="null", batch=2)
    return subprocess.Popen([sys.executable, "-m", "infer", "--model", str(model), "--output", str(tmp_path / "res"),
                             "--output_dirname", "p", "--loop", "20", "--option", "compute_ms=5", "--device", "0,1",
                             "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc: subprocess.Popen, tree: list[int]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=PROMPT_S * 2)
        elapsed = time.monotonic() - started
        assert wait_for(lambda: not any(running(p) for p in tree), timeout=10), [p for p in tree if running(p)]
    finally:
        stop_all([proc.pid, *tree])
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), elapsed


def workers_of(proc: subprocess.Popen) -> list[int]:
    assert wait_for(lambda: len(descendants(proc.pid)) >= 2 or proc.poll() is not None), "no workers seen"
    return descendants(proc.pid)


def test_a_worker_failing_before_the_barrier_ends_the_run_with_its_error(tmp_path):
    env = worker_site(tmp_path, {"0": f"time.sleep({SLOW_PREPARATION_S})",
                                 "1": "sys.argv += ['--option', 'memory_mib=0.0001']"})  # its warm-up fails
    proc = start_run(tmp_path, env)
    tree = workers_of(proc)
    done, elapsed = finish(proc, tree)
    assert elapsed < PROMPT_S, elapsed
    assert_one_line_error(done, "device 1: worker failed (error: batch 2 does not fit in device memory")
    assert done.returncode == 8  # the worker's own code: out of device memory
    assert not (tmp_path / "res" / "p_summary.json").exists()


def test_the_error_line_of_a_worker_survives_its_buffered_output(tmp_path):
    # without PYTHONUNBUFFERED a worker's stdout (a file) flushes its [INFO] lines at exit, after its error line
    env = worker_site(tmp_path, {"0": f"time.sleep({SLOW_PREPARATION_S})",
                                 "1": "print('[INFO] a line held in the buffer')\n"
                                      "sys.argv += ['--option', 'memory_mib=0.0001']"})
    env.pop("PYTHONUNBUFFERED", None)
    proc = start_run(tmp_path, env)
    done, _ = finish(proc, workers_of(proc))
    assert_one_line_error(done, "device 1: worker failed (error: batch 2 does not fit in device memory")


def test_a_worker_killed_before_the_barrier_ends_the_run(tmp_path):
    env = worker_site(tmp_path, {"0": f"time.sleep({SLOW_PREPARATION_S})",
                                 "1": "time.sleep(0.5)\nos.kill(os.getpid(), signal.SIGKILL)"})
    proc = start_run(tmp_path, env)
    tree = workers_of(proc)
    done, elapsed = finish(proc, tree)
    assert elapsed < PROMPT_S, elapsed
    assert_one_line_error(done, "device 1: worker failed (killed by SIGKILL)")
    assert done.returncode == 7


def test_sigterm_while_one_worker_waits_at_the_barrier_leaves_nothing_running(tmp_path):
    env = worker_site(tmp_path, {"1": f"time.sleep({SLOW_PREPARATION_S})"})  # device 0 waits for it at the barrier
    proc = start_run(tmp_path, env)
    tree = workers_of(proc)
    time.sleep(3)  # device 0 is at the barrier by now
    assert proc.poll() is None
    os.kill(proc.pid, signal.SIGTERM)  # the parent alone, as a scheduler would
    done, elapsed = finish(proc, tree)
    assert elapsed < PROMPT_S, elapsed
    assert (done.returncode, done.stderr.strip()) == (143, TERMINATED)


def test_ctrl_c_while_workers_prepare_is_one_line(tmp_path):
    env = worker_site(tmp_path, {"1": f"time.sleep({SLOW_PREPARATION_S})"})
    proc = start_run(tmp_path, env)
    tree = workers_of(proc)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
    done, elapsed = finish(proc, tree)
    assert elapsed < PROMPT_S, elapsed
    assert "Traceback" not in done.stderr
    assert (done.returncode, done.stderr.strip()) == (130, INTERRUPTED)


def test_devices_without_warm_up_are_said_to_prepare_inside_their_loops(tmp_path):
    from tests.conftest import run_cli

    model = make_convert_dir(tmp_path / "model", target="null", batch=2)
    proc = run_cli("-m", "infer", "--model", str(model), "--output", str(tmp_path / "res"), "--output_dirname", "p",
                   "--loop", "3", "--warmup_count", "0", "--device", "0,1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    warning = json.loads((tmp_path / "res" / "p_summary.json").read_text())["extra"]["warning"]
    assert "--warmup_count 0: each device prepared its engine on its first timed batches" in warning
    assert "[WARN] --warmup_count 0" in proc.stdout
