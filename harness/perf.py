"""Throughput statistics, a stability check, peak host memory and a description of the machine.

Pure functions the infer stage calls after a run; none of them imports torch or fails for lack of
a tool. The fps figures follow the TF-TRT benchmark script (tensorflow/models,
research/tensorrt/tensorrt.py, `log_stats`), in milliseconds instead of seconds:

    speeds            = batch_size * 1000 / batch_ms            (one fps value per timed batch)
    fps_median        = median(speeds)
    fps_mean          = mean(speeds)                            (mean of per-batch fps, not
                                                                  batch_size / mean time)
    fps_uncertainty   = std(speeds, ddof=1) / sqrt(n)           (standard error of fps_mean)
    fps_jitter        = 1.4826 * median(|speeds - median(speeds)|)   (MAD scaled to a std)
    latency_p99_uncertainty = |p99(batch_ms[0::2]) - p99(batch_ms[1::2])|
Percentiles interpolate linearly between closest ranks (numpy's default, as that script used).
Non-positive times (a null target can report 0 ms) are left out of the fps figures.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
from typing import Sequence

import numpy as np

from harness.errors import HarnessError
from harness.tools import run_tool

MAD_TO_STD = 1.4826  # makes the median absolute deviation estimate the std of a normal distribution
UNSTABLE_CV = 0.025  # trtexec warns when the GPU compute time's coefficient of variation exceeds 2.5%
HOST_IN_COMPUTE_SHARE = 0.01  # compute-only is labelled when host time may make up more than 1% of it
REPORTED_PACKAGES = ("numpy", "onnxruntime", "torch", "tensorrt", "aclruntime", "ais_bench")


def fps_stats(batch_ms: Sequence[float], batch_size: int) -> dict:
    """fps median/mean/uncertainty/jitter and latency median/mean/p99 of per-batch times in ms."""
    times = np.asarray([float(v) for v in batch_ms if v and v > 0], dtype=np.float64)
    if times.size == 0:
        return {"steps": 0}
    speeds = batch_size * 1000.0 / times
    return {
        "steps": int(times.size),
        "batch_size": int(batch_size),
        "fps_median": float(np.median(speeds)),
        "fps_mean": float(np.mean(speeds)),
        "fps_uncertainty": _standard_error(speeds),
        "fps_jitter": float(MAD_TO_STD * np.median(np.abs(speeds - np.median(speeds)))),
        "latency_median_ms": float(np.median(times)),
        "latency_mean_ms": float(np.mean(times)),
        "latency_p99_ms": float(np.percentile(times, 99)),
        "latency_p99_uncertainty_ms": _p99_split_difference(times),
    }


def _standard_error(values: np.ndarray) -> float | None:
    if values.size < 2:
        return None
    return float(np.std(values, ddof=1) / np.sqrt(values.size))


def _p99_split_difference(times: np.ndarray) -> float | None:
    if times.size < 2:
        return None
    return float(abs(np.percentile(times[0::2], 99) - np.percentile(times[1::2], 99)))


STEADYING_ADVICE = {
    "cpu": "pin the CPU frequency (performance governor, no turbo), give ONNX Runtime cores nothing else uses "
           "(--option threads=N), stop other jobs on the machine",
    "nvidia": "lock the GPU clocks (nvidia-smi -lgc), stop other jobs on the GPU",
    "ascend": "stop other jobs on the NPU (npu-smi info shows them), keep the host CPU frequency fixed",
    "null": "stop other jobs on the machine: the null target times only the harness's own loop",
}


def stability(compute_summary: dict, threshold: float = UNSTABLE_CV, target: str | None = None) -> str | None:
    """A warning when the compute times vary too much to trust one number, like trtexec's; else None.

    `compute_summary` is harness.stats.summarize_ms output, whose `cv` is a fraction (0.031 = 3.1%).
    The advice is the one that fits `target` (clocks of the device that ran the batches).
    """
    count = compute_summary.get("count", 0)
    cv = compute_summary.get("cv")
    if count < 2 or cv is None or cv <= threshold:
        return None
    advice = STEADYING_ADVICE.get(target or "", "lock the GPU/NPU clocks or the CPU frequency, stop other jobs "
                                                "on the machine")
    return (f"compute time is unstable: coefficient of variation {cv * 100:.1f}% over {count} batches "
            f"(above {threshold * 100:.1f}%); {advice}, or run longer (--loop, --time_limit)")


def host_time_in_compute(timings: list) -> dict | None:
    """How much of the timed batches' compute time may be the host queueing work for an idle device
    (BatchTiming.host_in_compute_ms, an upper bound per batch); None when the target cannot tell."""
    known = [(t.compute_ms, min(t.host_in_compute_ms, t.compute_ms)) for t in timings
             if t.host_in_compute_ms is not None]  # no batch holds more host time than its whole compute time
    if not known:
        return None
    flagged = [host for _, host in known if host > 0]
    return _host_time(len(flagged), len(known), max(flagged, default=0.0), sum(flagged), sum(ms for ms, _ in known))


def merge_host_time_in_compute(infos: list[dict | None]) -> dict | None:
    """host_time_in_compute over several runs (one per device), from their own sums."""
    known = [info for info in infos if info]
    if not known:
        return None
    return _host_time(sum(i["batches"] for i in known), sum(i["of"] for i in known),
                      max(i["max_ms"] for i in known), sum(i["total_ms"] for i in known),
                      sum(i["compute_ms"] for i in known))


def _host_time(batches: int, of: int, max_ms: float, total_ms: float, compute_ms: float) -> dict:
    return {"batches": batches, "of": of, "max_ms": round(max_ms, 4), "total_ms": round(total_ms, 3),
            "compute_ms": round(compute_ms, 3),
            "share_of_compute": round(total_ms / compute_ms, 4) if compute_ms > 0 else 0.0}


def host_time_exceeds(info: dict | None, threshold: float = HOST_IN_COMPUTE_SHARE) -> bool:
    """Whether host time may make up more than `threshold` of the compute-only time (info: host_time_in_compute)."""
    return info is not None and float(info.get("share_of_compute") or 0.0) > threshold


def host_time_warning(info: dict | None, threshold: float = HOST_IN_COMPUTE_SHARE) -> str | None:
    """A warning when host time may make up more than `threshold` of the compute-only time; else None."""
    if info is None or not host_time_exceeds(info, threshold):
        return None
    return (f"compute-only time may include host time: in {info['batches']} of {info['of']} batches the device had "
            f"passed the batch's start before the host finished queueing it, so up to {info['total_ms']:.3g} ms "
            f"({info['share_of_compute'] * 100:.1f}% of the compute time) may be the device waiting for the host; "
            "compute-only is an upper bound there, and the host may limit this run (see end-to-end)")


def host_peak_rss_mib() -> float | None:
    """Peak resident memory of this process in MiB, or None where the OS does not report it."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    divisor = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, KiB on Linux
    return peak / divisor


def environment() -> dict:
    """Machine, OS, Python, versions of already-imported packages, NVIDIA driver when present."""
    env = {
        "machine": {"cpu_model": cpu_model(), "architecture": platform.machine(),
                    "logical_cores": os.cpu_count(), "usable_cores": usable_cores()},
        "os": {"system": platform.system(), "release": platform.release(), "platform": platform.platform()},
        "python": platform.python_version(),
        "packages": imported_package_versions(),
    }
    nvidia = nvidia_smi_info()
    if nvidia:
        env["nvidia"] = nvidia
    return env


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo on Linux, else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def imported_package_versions(names: Sequence[str] = REPORTED_PACKAGES) -> dict:
    """Versions of the listed packages that this process has already imported; nothing is imported."""
    versions = {}
    for name in names:
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def nvidia_smi_info(timeout: float = 10.0) -> dict | None:
    """Driver version and GPUs from nvidia-smi, or None when it is absent or fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]
    try:
        result = run_tool(query, timeout=timeout, check=False)
    except HarnessError:
        return None
    if result.returncode != 0:
        return None
    return parse_nvidia_smi_csv(result.output)


def parse_nvidia_smi_csv(text: str) -> dict | None:
    """Parse `name, driver_version, memory.total` lines (MiB, no units) into driver + GPU list."""
    gpus, driver = [], None
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not parts[0]:
            continue
        name, driver, memory = parts
        gpus.append({"name": name, "memory_mib": float(memory) if _is_number(memory) else None})
    if not gpus:
        return None
    return {"driver": driver, "gpus": gpus}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
