"""Ctrl-C while infer's I/O worker processes are still starting (a spawned interpreter importing numpy, before it
has a handler of its own): one line from the run, no traceback from any worker, nothing left running."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, make_convert_dir, write_bins
from tests.faults.helpers import descendants, running, stop_all, wait_for

SLOW_START_S = 3.0  # a worker's own start (imports from a cold or network file system), stretched


def slow_worker_start(site: Path) -> None:
    """Spawned workers (`--multiprocessing-fork` in their command line) sleep on their way in, as a slow import."""
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys, time\n"
        "if any('multiprocessing-fork' in a or 'spawn_main' in a for a in sys.argv + sys.orig_argv):\n"
        f"    time.sleep({SLOW_START_S})\n")


def spawned_workers(pid: int) -> list[int]:
    found = []
    for child in descendants(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found


def start_with_slow_workers(site: Path, *args: str) -> subprocess.Popen:
    """tests.faults.helpers.start_stage, with the slow-start site module on the path."""
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    env.pop("HARNESS_DEBUG", None)
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_while_io_workers_start_is_one_line(tmp_path):
    make_convert_dir(tmp_path / "model", target="null", batch=1)
    write_bins(tmp_path / "bins", 20)
    slow_worker_start(tmp_path / "site")
    proc = start_with_slow_workers(tmp_path / "site", "-m", "infer", "--model", str(tmp_path / "model"), "--input",
                                   str(tmp_path / "bins"), "--output", str(tmp_path / "res"), "--output_dirname",
                                   "run", "--io", "processes", "--io_workers", "2", "--batchsize", "1",
                                   "--no-progress")
    tree: list[int] = []
    try:
        assert wait_for(lambda: len(spawned_workers(proc.pid)) >= 2 or proc.poll() is not None), "no workers seen"
        assert proc.poll() is None
        tree = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        assert (proc.returncode, err.strip()) == (130, "error: interrupted; rerun the same command to resume")
        assert wait_for(lambda: not any(running(p) for p in tree), timeout=10), [p for p in tree if running(p)]
    finally:
        stop_all([proc.pid, *tree])
