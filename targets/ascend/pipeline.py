"""The pipelined path of the Ascend runtime: the batches in flight run as one group through aclruntime's
`run_pipeline`, whose threads copy one batch in and another out while a third executes (ref-ascend.md
sections 4.1 and 5.2; upstream `pipeline.cpp`). Only newer generations have it (2025 yes, 2023-03 no);
which path ran, and why not the pipelined one, goes into summary.json (`engine.pipeline`).

Per-batch times come from what the runtime records per batch in the pipeline too: each execution's own
(start, end) pair in exec_time_list, each copy's own ms in MemorySummary, taken in batch order (one thread per
stage). A list that cannot be split evenly into the group's batches is not guessed at: transfers are then
left out, and compute is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import TargetError
from targets.base import BatchTiming

CHOICES = ("auto", "1", "0")
# ais_bench's InferSession.infer_pipeline takes at most this many feeds lists (PIPELINE_API_SAMPLE_COUNT_MAX)
GROUP_MAX = 512
SINCE = ("the aclruntime and ais_bench wheels of a generation with run_pipeline (ascend/tools ais_bench of "
         "2025 has it, that of 2023-03 not), or --option pipeline=auto to run without it")
TIMING = ("compute_ms: each batch's own (start, end) pair in exec_time_list; h2d_ms/d2h_ms: each batch's own "
          "copies in MemorySummary, made while other batches of its group execute; e2e_ms: submit to collect, "
          "and a group runs when its first batch is collected")


def pipeline_problem(aclruntime: Any, infer_session: Any) -> str | None:
    """Why this runtime has no pipelined path, or None when it has one (by what its classes offer)."""
    if not hasattr(aclruntime.InferenceSession, "run_pipeline"):
        return "this aclruntime's InferenceSession has no run_pipeline, an older generation"
    if infer_session is not None and not hasattr(infer_session, "infer_pipeline"):
        return "this ais_bench's InferSession has no infer_pipeline, an older generation"
    if infer_session is None and not hasattr(aclruntime, "BaseTensor"):
        return "this aclruntime has no BaseTensor, which run_pipeline takes"
    return None


@dataclass
class PipelineChoice:
    """The path a session runs: `requested` is the run option, `active` what runs."""

    requested: str
    active: bool
    why_not: str = ""
    groups: int = 0
    largest_group: int = 0

    @classmethod
    def choose(cls, requested: str, problem: str | None) -> PipelineChoice:
        if requested == "0":
            return cls(requested, False, "pipeline=0")
        return cls(requested, problem is None, problem or "")

    def ran(self, size: int) -> None:
        self.groups += 1
        self.largest_group = max(self.largest_group, size)

    def info(self) -> dict:
        if not self.active:
            return {"pipeline": "sequential", "pipeline_requested": self.requested,
                    "pipeline_why_not": self.why_not}
        return {"pipeline": "pipelined", "pipeline_requested": self.requested, "pipeline_groups": self.groups,
                "pipeline_largest_group": self.largest_group, "pipeline_timing": TIMING}


def per_batch(values: list[float] | None, batches: int) -> list[float | None]:
    """The list's entries summed per batch (each batch the same number of entries, in order); None for
    each batch when there is no list or it does not split evenly."""
    if not values or len(values) % batches:
        return [None] * batches
    step = len(values) // batches
    return [sum(values[i * step:(i + 1) * step]) for i in range(batches)]


def batch_timings(compute: list[float], h2d: list[float] | None, d2h: list[float] | None,
                  batches: int) -> list[BatchTiming]:
    """One BatchTiming per batch of a group run in one call (a group of one: the sequential path). The
    refusals advise only what helps on either path: the caller adds what helps on its own."""
    if not compute:  # counted as 0 ms, it would raise compute-only throughput without bound
        raise TargetError(f"the runtime recorded no execution time for {batches} batch(es) it ran "
                          "(summary().exec_time_list is empty), so compute time cannot be measured; update aclruntime")
    if len(compute) % batches:
        raise TargetError(f"the runtime recorded {len(compute)} executions for {batches} batches, so compute time "
                          "per batch cannot be measured; update aclruntime")
    return [BatchTiming(compute_ms=c or 0.0, h2d_ms=h, d2h_ms=d)  # c is a number here: the list splits evenly
            for c, h, d in zip(per_batch(compute, batches), per_batch(h2d, batches), per_batch(d2h, batches))]
