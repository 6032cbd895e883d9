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
    """Half-width of a distribution-free 95% confidence interval of the median, relative to it: the
    narrowest pair of order statistics, symmetric in rank, that holds the median with at least 95%
    probability (exact binomial coverage; inf below 6 values, where no pair does)."""
    ordered = sorted(values)
    n = len(ordered)
    k = _median_ci_rank(n)
    if k is None:
        return math.inf
    low, high = ordered[k], ordered[n - 1 - k]
    med = _percentile(ordered, 50)
    return (high - low) / 2.0 / med if med > 0 else math.inf


def _median_ci_rank(n: int, level: float = 0.95) -> int | None:
    """The largest 0-based k such that [x_(k), x_(n-1-k)] covers the median with probability >= level:
    P(k < B < n-1-k+1) for B ~ Binomial(n, 1/2), i.e. B from k+1 to n-1-k. None when even k = 0 falls short."""
    if n < 2:
        return None
    log_half_n = n * math.log(0.5)

    def pmf(b: int) -> float:
        return math.exp(math.lgamma(n + 1) - math.lgamma(b + 1) - math.lgamma(n - b + 1) + log_half_n)

    # widen from the centre: B in [lo, hi] with lo = k + 1 and hi = n - 1 - k
    lo, hi = (n - 1) // 2 + 1, n - 1 - (n - 1) // 2
    if lo > hi:
        lo, hi = hi, lo
    covered = sum(pmf(b) for b in range(lo, hi + 1))
    while covered < level:
        if lo - 1 < 1:
            return None
        lo, hi = lo - 1, hi + 1
        covered += pmf(lo) + pmf(hi)
    return lo - 1


PADDED_SHARE_SHOWN = 0.01  # padded rows are labelled once they are more than 1% of the rows run


def padded_share(padded_slots: int, batches: int, batch_size: int) -> float:
    """The share of the rows run that were padding of a last partial batch (0 when nothing ran)."""
    rows = batches * batch_size
    return padded_slots / rows if rows > 0 else 0.0
