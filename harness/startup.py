"""How long this process has run: a start's cost as a user sees it, from `python` to a moment of the run."""
from __future__ import annotations

import os
import time

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_marks: dict[str, float] = {}
_origin: list[float] = []  # time.perf_counter() when the kernel started this process, once known


def process_age_s() -> float | None:
    """Seconds since the kernel started this process (Linux /proc, 10 ms steps), None where unknown."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as up:
            fields = stat.read().rsplit(")", 1)[1].split()
            uptime = float(up.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return max(0.0, uptime - int(fields[19]) / _TICKS)  # field 22 of stat: starttime, after pid and (comm)


def age_at(moment: float) -> float | None:
    """The process's age at an earlier time.perf_counter() reading."""
    age = process_age_s()
    return None if age is None else round(age - (time.perf_counter() - moment), 2)


def mark(name: str, moment: float | None = None) -> None:
    """Note the process's age now (or at an earlier perf_counter reading) as `name`: the steps of a start,
    in the run summary (extra.startup.marks). /proc is read once; later marks are perf_counter differences."""
    now = time.perf_counter() if moment is None else moment
    if not _origin:
        age = process_age_s()
        if age is None:
            return
        _origin.append(time.perf_counter() - age)
    _marks.setdefault(name, round(now - _origin[0], 3))


def begin_stage() -> None:
    """A stage's start: the marks of an earlier stage run in this process are forgotten, this one is marked."""
    _marks.clear()
    mark("stage")


def begin_run() -> None:
    """Forget the marks of an earlier run in this process (a stage runs in-process more than once in tests and
    guards); the stage's own start is kept."""
    for name in [n for n in _marks if n != "stage"]:
        del _marks[name]


def marks() -> dict[str, float]:
    """The marks so far, in the order they were made: name -> seconds since the process started."""
    return dict(_marks)
