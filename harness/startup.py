"""How long this process has run: a start's cost as a user sees it, from `python` to a moment of the run."""
from __future__ import annotations

import os
import time

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


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
