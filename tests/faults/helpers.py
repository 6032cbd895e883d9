"""The fault suite's common checks: one clean line, nothing earlier disturbed, nothing left running.

Setting FAULT_LOG=<file> appends one JSON line per command run through `fault_cli` (case, command,
exit code, the last line of stderr, the last of stdout); tests/faults/table.py turns two such logs
(before and after a change) into the table in docs/faults.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, assert_one_line_error, run_cli

FULL_DISK = Path(__file__).with_name("full_disk.py")


def _shown(args: tuple[str, ...], base: Path | None) -> str:
    words = ["python" if a == sys.executable else a.replace(f"{ROOT}/", "") for a in args]
    text = " ".join(f"'{w}'" if " " in w else w for w in words)
    return text.replace(str(base), "W") if base else text


def fault_cli(case: str, *args: str, base: Path | None = None, env: dict | None = None):
    """run_cli, recorded under `case` when FAULT_LOG is set (paths under `base` shown as W)."""
    proc = run_cli(*args, env=env)
    log = os.environ.get("FAULT_LOG")
    if log:
        last = lambda text: (text.strip().splitlines() or [""])[-1]  # noqa: E731
        record = {"case": case, "command": _shown(args, base), "rc": proc.returncode,
                  "stderr": last(proc.stderr).replace(str(base), "W") if base else last(proc.stderr),
                  "stdout": last(proc.stdout).replace(str(base), "W") if base else last(proc.stdout),
                  "traceback": "Traceback" in proc.stderr}
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    return proc


def full_disk_cli(case: str, match: str, *args: str, base: Path | None = None):
    """A stage run whose writes to files named like `match` fail with ENOSPC (tests/faults/full_disk.py)."""
    return fault_cli(case, str(FULL_DISK), match, *args, base=base)


def assert_clean_failure(proc, code: int, *needles: str) -> None:
    """Exit `code`, one line on stderr holding every needle, no traceback."""
    assert_one_line_error(proc, *needles)
    assert proc.returncode == code, (proc.returncode, proc.stderr)


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of every file under `directory`: what 'left intact' compares."""
    return {str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


# ---- processes ------------------------------------------------------------------------------------
def start_stage(*args: str) -> subprocess.Popen:
    """A stage in its own session (so a test can signal its whole group), output captured, with SIGINT handled as
    in a terminal's foreground job even when the tests themselves run in the background (which ignores it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HARNESS_DEBUG", None)
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc (no procps needed)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return found


def descendants(pid: int) -> list[int]:
    parents = _parents()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        todo += kids
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a dead child whose new parent has not reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(predicate, timeout: float = 60.0, step: float = 0.05) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def stop_all(pids: list[int]) -> None:
    """Kill what a test started, by pid, whatever state it is in."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
