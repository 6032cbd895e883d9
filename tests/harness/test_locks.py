"""Turns: a second process waits for the one doing the work, and is told who that is."""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.locks import LOCK_NAME, acquire, held_by, release, turn

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from pathlib import Path
from harness.locks import turn
lock, ready, waiting, done = (Path(a) for a in sys.argv[1:])
with turn(lock, lambda holder: sys.exit(f"waited for {holder}")):
    ready.touch()
    deadline = time.monotonic() + 120
    while not waiting.exists() and time.monotonic() < deadline:  # until the test process is about to block
        time.sleep(0.01)
    time.sleep(0.3)
    done.touch()
"""


def test_a_turn_waits_for_the_process_holding_it_and_names_it(tmp_path):
    lock, ready, waiting, done = (tmp_path / name for name in ("bs64.lock", "ready", "waiting", "done"))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(ready), str(waiting), str(done)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the holder did not take its turn"
            time.sleep(0.05)
        told: list[str] = []

        def tell(holder: str) -> None:
            told.append(holder)
            waiting.touch()

        with turn(lock, tell):
            assert done.exists()  # the holder's block ran to its end before this one began
            assert lock.read_text() == f"{os.getpid()}\n"
        assert told == [f"pid {holder.pid}"]
        assert holder.wait(60) == 0
    finally:
        holder.kill()
    again: list[str] = []
    with turn(lock, again.append):  # free now: nobody to wait for
        pass
    assert again == [] and lock.exists()


def test_a_probe_of_the_lock_does_not_refuse_a_run_that_starts_meanwhile(tmp_path):
    """postprocess's probe (held_by) holds a shared lock for an instant; a run starting then waits it out."""
    (tmp_path / LOCK_NAME).write_text("")
    probe = os.open(tmp_path / LOCK_NAME, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH)
    timer = threading.Timer(0.05, os.close, [probe])
    timer.start()
    fd = acquire(tmp_path, "infer")
    timer.join()
    assert held_by(tmp_path) == f"pid {os.getpid()}"
    release(tmp_path, fd)
    assert held_by(tmp_path) is None
