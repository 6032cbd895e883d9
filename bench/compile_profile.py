"""Where a compile's time goes: each C++ compiler call it makes, timed, and the Python functions it waits in.

    from compile_profile import profiled
    value, report = profiled(lambda: torch._inductor.aoti_compile_and_package(...), workdir)

`report` holds the wall time, every call of inductor's C++ compiler (through a wrapper that inductor is given as
its compiler for the call: the real one, `$CXX` else `g++`, timed) grouped by what it made (precompiled header,
wrapper, CPU kernels, link, weights), and cProfile's top functions by cumulative time: Triton's kernel compiles,
autotuning's benchmarks and the C++ compiles show there with their share. Used by bench/nvidia_aoti_probe.py
(`--profile-compile`); it runs on the CPU too (a CPU package's kernels are C++).
"""
from __future__ import annotations

import cProfile
import os
import pstats
import shutil
import time
from pathlib import Path
from typing import Any, Callable

WRAPPER = """#!/usr/bin/env bash
start=$EPOCHREALTIME
"{real}" "$@"
rc=$?
out=-
prev=
for arg in "$@"; do
  if [ "$prev" = "-o" ]; then out=$arg; fi
  prev=$arg
done
printf '%s\\t%s\\t%s\\t%s\\n' "$start" "$EPOCHREALTIME" "$rc" "$out" >> "{log}"
exit $rc
"""


def what_it_made(output: str) -> str:
    name = os.path.basename(output)
    if output == "-":
        return "no output (a probe of the compiler)"
    for ending, kind in ((".gch", "precompiled header"), (".wrapper.o", "wrapper"), (".kernel.o", "cpu kernels"),
                         (".weights.o", "weights"), (".so", "link")):
        if name.endswith(ending):
            return kind
    return "other"


def compiler_calls(log: Path) -> dict:
    calls: dict[str, dict] = {}
    if not log.is_file():
        return calls
    for line in log.read_text().splitlines():
        start, end, rc, output = line.split("\t", 3)
        entry = calls.setdefault(what_it_made(output), {"calls": 0, "seconds": 0.0, "failed": 0})
        entry["calls"] += 1
        entry["seconds"] = round(entry["seconds"] + float(end) - float(start), 2)
        entry["failed"] += rc != "0"
    return calls


def top_functions(profile: cProfile.Profile, count: int) -> list[dict]:
    """The functions with the most cumulative time (torch's, Triton's, and the standard library's waits for the
    compiler and for workers among them)."""
    stats = pstats.Stats(profile)
    rows = []
    for (path, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = path.split("site-packages/", 1)[-1] if path != "~" else "builtin"
        rows.append({"function": f"{where}:{line}:{function}", "calls": calls, "cumulative_s": round(cumulative, 2),
                     "own_s": round(own, 2)})
    rows.sort(key=lambda row: -row["cumulative_s"])
    kept: list[dict] = []
    for row in rows:  # a chain of calls that only pass the time on shows once, by its first (outermost) row
        if not kept or kept[-1]["cumulative_s"] - row["cumulative_s"] > 0.05:
            kept.append(row)
    return kept[:count]


def profiled(compile_call: Callable[[], Any], workdir: Path, top: int = 40) -> tuple[Any, dict]:
    """Run `compile_call` with inductor's C++ compiler timed and under cProfile; its value and where its time went."""
    from torch._inductor import config

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "compiler_calls.tsv"
    log.unlink(missing_ok=True)
    real = shutil.which(os.environ.get("CXX") or "g++") or "g++"
    wrapper = workdir / "timed-cxx" / "g++"  # named g++: inductor tells compilers apart by their name too
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(WRAPPER.format(real=real, log=log))
    wrapper.chmod(0o755)
    profile = cProfile.Profile()
    started = time.perf_counter()
    with config.patch({"cpp.cxx": (None, str(wrapper))}):
        profile.enable()
        try:
            value = compile_call()
        finally:
            profile.disable()
    return value, {"wall_s": round(time.perf_counter() - started, 1), "compiler": real,
                   "compiler_calls": compiler_calls(log), "top_functions": top_functions(profile, top)}
