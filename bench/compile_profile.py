"""Where a compile's time goes: each C++ compiler call it makes, timed, and the Python functions it waits in.

    from compile_profile import profiled
    report = {}
    value = profiled(lambda: torch._inductor.aoti_compile_and_package(...), workdir, report)

`report` (filled also when the compile raises) holds the wall time, every call of inductor's C++ compiler grouped
by what it made (precompiled header, wrapper, CPU kernels, link, ...), inductor's own timed phases (torch's
`dynamo_timed` sections: lowering, code generation, the AOT C++ compile, ...; nested, so a phase's seconds include
those of the phases it calls), every process it starts through `subprocess` (from any thread: Triton's launcher
builds, nvcc, ld, a Python that loads a library ...), timed per program, and cProfile's top functions by
cumulative time. cProfile sees one thread, so work done in inductor's worker pool shows as waits whose sums can
exceed the wall time; the phases do not have that fault. The phases are read from, and clear, torch's own record
of them in this process (`torch._dynamo.utils.compile_times()` forgets earlier compiles).
Used by bench/nvidia_aoti_probe.py (`--profile-compile`); it runs on the CPU too (a CPU package's kernels are C++).

What it changes in what it measures:
- inductor is given a wrapper as its compiler (the real one, `cpp_builder.get_cpp_compiler()`, timed). Its path
  is part of inductor's cache keys for C++ code and precompiled headers, so a profiled compile finds none of an
  unprofiled one's: its figures are those of a compile with cold C++ caches. The wrapper's path is fixed per
  compiler, so profiled compiles share them among themselves.
- cProfile slows the compile's Python (a few % to tens of %) and sees the main thread only: C++ compiles run by
  inductor's worker pool show as waits.
"""
from __future__ import annotations

import cProfile
import hashlib
import os
import pstats
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

LOG_VARIABLE = "HARNESS_CXX_LOG"
WRAPPER = """#!/usr/bin/env bash
now() {{ if [ -n "${{EPOCHREALTIME:-}}" ]; then echo "${{EPOCHREALTIME/,/.}}"; else date +%s.%N; fi; }}
start=$(now)
{real} "$@"
rc=$?
out=-
prev=
for arg in "$@"; do
  if [ "$prev" = "-o" ]; then out=$arg; fi
  prev=$arg
done
if [ -n "${{{log}:-}}" ]; then printf '%s\\t%s\\t%s\\t%s\\n' "$start" "$(now)" "$rc" "$out" >> "${{{log}}}"; fi
exit $rc
"""
KINDS = ((".gch", "precompiled header"), (".i", "header preprocessing"), (".wrapper.o", "wrapper"),
         (".kernel.o", "cpu kernels"), (".weights.o", "weights"), (".wrapper.so", "link"),
         (".main.so", "cpu kernels"), (".so", "other library (the CPU's instruction-set probe, say)"))


def what_it_made(output: str) -> str:
    if output == "-":
        return "no output (a probe of the compiler)"
    name = os.path.basename(output)
    return next((kind for ending, kind in KINDS if name.endswith(ending)), "other")


def compiler_calls(log: Path) -> dict:
    calls: dict[str, dict] = {}
    lines = log.read_text().splitlines() if log.is_file() else []
    for line in lines:
        try:
            start, end, rc, output = line.split("\t", 3)
            seconds = float(end) - float(start)
        except ValueError:  # a line cut short, or a clock the shell could not read
            continue
        entry = calls.setdefault(what_it_made(output), {"calls": 0, "seconds": 0.0, "failed": 0})
        entry["calls"] += 1
        entry["seconds"] = round(entry["seconds"] + seconds, 2)
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


def timed_phases(metrics: dict, count: int = 25) -> list[dict]:
    """inductor's timed phases, longest first (`torch._dynamo.utils.compilation_time_metrics`: name -> seconds of
    each time it ran)."""
    rows = [{"phase": name, "runs": len(times), "seconds": round(sum(times), 2)} for name, times in metrics.items()]
    rows.sort(key=lambda row: -row["seconds"])
    return rows[:count]


class ChildProcesses:
    """Every process this one starts through `subprocess` while it is entered (from any thread), timed from its
    start to the wait that found it ended: the compiler, Triton's builds of its launchers, nvcc, ld, a Python that
    loads a library... A process's own children, and the processes of inductor's worker pool, are not seen; one
    never waited for (polled only, or still running at the end) is counted as started, not timed. A program's
    seconds are sums: children of several threads overlap, so they can exceed the wall time."""

    def __init__(self) -> None:
        self.started = 0
        self.finished: list[tuple[float, list[str]]] = []

    def __enter__(self) -> "ChildProcesses":
        import subprocess

        self._popen = subprocess.Popen
        original_init, original_wait, watcher = subprocess.Popen.__init__, subprocess.Popen.wait, self

        def init(proc, args, *rest, **kwargs):
            if not isinstance(args, (str, bytes, os.PathLike)):
                args = list(args)  # a generator is read once: what the real Popen gets is this list
            words = [args] if isinstance(args, (str, bytes, os.PathLike)) else args
            argv = [os.fsdecode(w) if isinstance(w, (bytes, os.PathLike)) else str(w) for w in words]
            if kwargs.get("executable"):
                argv[:1] = [os.fsdecode(kwargs["executable"])]
            original_init(proc, args, *rest, **kwargs)
            proc._harness_timed = (time.perf_counter(), argv)  # only a process that started
            watcher.started += 1

        def wait(proc, *rest, **kwargs):
            code = original_wait(proc, *rest, **kwargs)
            timed = proc.__dict__.pop("_harness_timed", None)
            if timed is not None:
                watcher.finished.append((time.perf_counter() - timed[0], timed[1]))
            return code

        self._originals = (original_init, original_wait)
        subprocess.Popen.__init__, subprocess.Popen.wait = init, wait  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._popen.__init__, self._popen.wait = self._originals  # type: ignore[method-assign]

    def summary(self, longest: int = 5) -> dict:
        """Per program (the first word's file name): calls and summed seconds; the longest command lines; how many
        started and how many of them were timed."""
        programs: dict[str, dict] = {}
        for seconds, argv in self.finished:
            words = argv[0].split() if argv else []
            name = os.path.basename(words[0]) if words else "?"
            entry = programs.setdefault(name, {"calls": 0, "seconds": 0.0})
            entry["calls"] += 1
            entry["seconds"] = round(entry["seconds"] + seconds, 2)
        slowest = sorted(self.finished, key=lambda row: -row[0])[:longest]
        return {"started": self.started, "timed": len(self.finished),
                "programs": dict(sorted(programs.items(), key=lambda kv: -kv[1]["seconds"])),
                "longest": [{"seconds": round(seconds, 2), "command": shlex.join(argv)[:300]}
                            for seconds, argv in slowest]}


def timed_compiler(real: str) -> Path:
    """The wrapper for `real`, named as it is (inductor tells gcc from clang by the name too), at a path fixed per
    compiler and without spaces (inductor splits its command lines on them)."""
    tag = hashlib.sha256(real.encode()).hexdigest()[:12]
    wrapper = Path(tempfile.gettempdir()) / "harness-timed-cxx" / tag / os.path.basename(real)
    if any(c.isspace() for c in str(wrapper)):
        raise ValueError(f"{wrapper}: a compiler path with spaces would break inductor's command lines; set TMPDIR")
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    text = WRAPPER.format(real=shlex.quote(real), log=LOG_VARIABLE)
    if not wrapper.is_file() or wrapper.read_text() != text:
        wrapper.write_text(text)
        wrapper.chmod(0o755)
    return wrapper


def profiled(compile_call: Callable[[], Any], workdir: Path, report: dict, top: int = 40) -> Any:
    """Run `compile_call` with inductor's C++ compiler timed and under cProfile; its value. `report` says where the
    time went, also when the call raises; the whole profile is `workdir`/compile.prof."""
    from torch._dynamo.utils import compilation_time_metrics
    from torch._inductor import config, cpp_builder

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log, raw = workdir / "compiler_calls.tsv", workdir / "compile.prof"
    log.unlink(missing_ok=True)
    raw.unlink(missing_ok=True)  # a copy of an earlier compile's profile must not pass for this one's
    real = shutil.which(cpp_builder.get_cpp_compiler()) or cpp_builder.get_cpp_compiler()
    wrapper = timed_compiler(real)
    profile = cProfile.Profile()
    before = os.environ.get(LOG_VARIABLE)
    os.environ[LOG_VARIABLE] = str(log)
    compilation_time_metrics.clear()  # this compile's phases only
    children = ChildProcesses()
    started = time.perf_counter()
    try:
        with config.patch({"cpp.cxx": (None, str(wrapper))}), children:
            profile.enable()
            try:
                return compile_call()
            finally:
                profile.disable()
    finally:
        if before is None:
            os.environ.pop(LOG_VARIABLE, None)
        else:
            os.environ[LOG_VARIABLE] = before
        report["wall_s"] = round(time.perf_counter() - started, 1)
        try:  # a fault of the report must not take the place of the compile's value or error
            profile.dump_stats(raw)  # all of it, for pstats' callers and callees
            report.update({"compiler": real, "compiler_calls": compiler_calls(log),
                           "phases": timed_phases(compilation_time_metrics), "child_processes": children.summary(),
                           "top_functions": top_functions(profile, top)})
        except Exception as exc:
            report["report_error"] = f"{type(exc).__name__}: {exc}"
