"""Is the device idle before a timed run? One record for every target, and the CPU's own check.

A device counts as busy when another process uses it or its utilization is at or above
BUSY_UTILIZATION_PERCENT; memory in use is recorded beside. The CPU has no per-device view: its check is
the share of all cores busy over a short window (/proc/stat), the load average and the processes that
used the most CPU in that window, stated as such.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

BUSY_UTILIZATION_PERCENT = 10.0
CPU_SAMPLE_S = 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SHOWN_PROCESSES = 3


@dataclass
class IdleState:
    idle: bool | None  # None: could not be checked (why in `method`)
    method: str  # how it was checked
    busy: list[str] = field(default_factory=list)  # why it is not idle
    facts: dict = field(default_factory=dict)  # utilization, memory in use, processes, load average

    def to_dict(self) -> dict:
        return asdict(self)

    def warning(self) -> str:
        return f"the device was not idle before the timed run ({'; '.join(self.busy)}; {self.method})"


def decide(method: str, utilization_percent: float | None, processes: list[dict], facts: dict) -> IdleState:
    """Busy when another process is on the device or utilization reaches the threshold."""
    busy = []
    if processes:
        shown = ", ".join(f"{p.get('name') or 'pid'} ({p['pid']})" for p in processes[:SHOWN_PROCESSES])
        busy.append(f"{len(processes)} other process(es) on the device: {shown}")
    if utilization_percent is not None and utilization_percent >= BUSY_UTILIZATION_PERCENT:
        busy.append(f"utilization {utilization_percent:.0f}%")
    return IdleState(idle=not busy, method=method, busy=busy,
                     facts={"utilization_percent": utilization_percent, "processes": processes, **facts})


def not_checked(why: str) -> IdleState:
    return IdleState(idle=None, method=why)


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores from /proc/stat's first line."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def _process_ticks(own: set[int]) -> dict[int, tuple[str, int]]:
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in own:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue  # the process ended
        name = text[text.find("(") + 1:text.rfind(")")]
        fields = text[text.rfind(")") + 2:].split()
        ticks[int(entry)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def cpu_idle_state(sample_s: float = CPU_SAMPLE_S) -> IdleState:
    if not os.path.exists("/proc/stat"):
        return not_checked("no /proc/stat on this system: the CPU was not checked")
    own = {os.getpid()}
    busy_before, total_before = _cpu_times()
    ticks_before = _process_ticks(own)
    time.sleep(sample_s)
    busy_after, total_after = _cpu_times()
    ticks_after = _process_ticks(own)
    total = total_after - total_before
    utilization = 100.0 * (busy_after - busy_before) / total if total > 0 else 0.0
    used = sorted(((after - ticks_before.get(pid, (name, after))[1], pid, name)
                   for pid, (name, after) in ticks_after.items()), reverse=True)
    cores = os.cpu_count() or 1
    processes = [{"pid": pid, "name": name, "cpu_percent": round(100.0 * t / CLOCK_TICKS / sample_s, 1)}
                 for t, pid, name in used[:SHOWN_PROCESSES] if t > 0]
    state = decide(f"CPU: share of all {cores} cores busy over {sample_s:g} s (/proc/stat), load average and "
                   "the busiest other processes; no per-device view", utilization, [],
                   {"load_average": list(os.getloadavg()), "cores": cores, "busiest_processes": processes})
    if not state.idle and processes:
        state.busy.append("busiest: " + ", ".join(f"{p['name']} ({p['pid']}) {p['cpu_percent']:.0f}%"
                                                  for p in processes))
    return state
