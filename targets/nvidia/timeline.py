"""Reading a session's per-batch event timeline (CudaPipelineSession.record_timeline): do copies overlap?"""
from __future__ import annotations

import statistics


def h2d_overlap_share(timeline: list[dict]) -> float:
    """Median share of batch n+1's host-to-device copy that lies inside batch n's compute interval
    (1.0: every copy ran entirely beside compute)."""
    shares = []
    for before, after in zip(timeline, timeline[1:]):
        length = after["h2d_end"] - after["h2d_start"]
        inside = min(after["h2d_end"], before["compute_end"]) - max(after["h2d_start"], before["compute_start"])
        if length > 0:
            shares.append(max(0.0, inside) / length)
    return statistics.median(shares) if shares else float("nan")


def compute_gap_ms(timeline: list[dict]) -> float:
    """Median idle time of the compute stream between two batches (ms)."""
    gaps = [after["compute_start"] - before["compute_end"] for before, after in zip(timeline, timeline[1:])]
    return statistics.median(gaps) if gaps else float("nan")
