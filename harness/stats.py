"""Summaries of timing lists and the two throughput definitions (README "What each number means"),
each computed here only, used by every target and report."""
from __future__ import annotations

import math
from typing import Iterable

PERCENTILES = (90, 95, 99)


def _percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize_ms(values: Iterable[float]) -> dict:
    """min/max/mean/median/p90/p95/p99/std/cv of a list of milliseconds; empty -> count 0."""
    data = [float(v) for v in values]
    if not data:
        return {"count": 0}
    ordered = sorted(data)
    mean = sum(ordered) / len(ordered)
    var = sum((v - mean) ** 2 for v in ordered) / (len(ordered) - 1) if len(ordered) > 1 else 0.0
    std = math.sqrt(var)
    out = {"count": len(ordered), "min": ordered[0], "max": ordered[-1], "mean": mean,
           "median": _percentile(ordered, 50), "std": std, "cv": std / mean if mean > 0 else 0.0}
    for q in PERCENTILES:
        out[f"p{q}"] = _percentile(ordered, q)
    return out


def compute_only_throughput(batch_size: int, mean_ms: float) -> float:
    """Compute-only img/s, ais_bench's formula: 1000 * batchsize / mean compute ms per batch (0 when
    nothing was timed)."""
    return 1000.0 * batch_size / mean_ms if mean_ms > 0 else 0.0


def end_to_end_throughput(images: int, wall_s: float) -> float:
    """End-to-end img/s: images / host walltime of the whole loop, reading inputs, transfers and
    writing outputs included (0 when no time passed)."""
    return images / wall_s if wall_s > 0 else 0.0


def median_ci95_halfwidth(values: list[float]) -> float:
    """Half-width of a distribution-free 95% confidence interval of the median, relative to it."""
    ordered = sorted(values)
    n = len(ordered)
    if n < 6:
        return math.inf
    k = int(math.floor((n - 1.96 * math.sqrt(n)) / 2.0))
    k = max(k, 0)
    low, high = ordered[k], ordered[n - 1 - k]
    med = _percentile(ordered, 50)
    return (high - low) / 2.0 / med if med > 0 else math.inf
