"""The two loops: dataset mode (files in, outputs out) and pure inference on random data.

Only the target call is timed (by the session); reading and writing happen in other threads or in
worker processes (`--io`).
"""
from __future__ import annotations

import gc
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.contracts import TensorSpec, numpy_dtype
from harness.energy import EnergyReading, metered
from harness.random_data import fill_random, random_array
from harness.startup import mark
from harness.stats import median_ci95_halfwidth
from infer.dataset import Batch, plan_batches, read_batch
from infer.io_workers import IOWorkers
from infer.readers import Reader, choose_io, io_workers
from infer.writers import OutputWriter
from targets.base import Session

PIPELINE_DEPTH = 2  # batches in flight: the next H2D/compute overlaps the previous D2H
READ_AHEAD = 3  # batches being read while the target works
BUFFERS = READ_AHEAD + PIPELINE_DEPTH + 1  # being read, in flight on the target, being submitted


@dataclass
class LoopResult:
    wall_s: float
    images: int
    batches: int
    padded_slots: int = 0
    files: list[dict] = field(default_factory=list)
    io: str = ""  # dataset mode: how inputs were read (threads or processes)
    phases: dict = field(default_factory=dict)  # the loop thread's walltime by phase, and GC pauses
    energy: EnergyReading | None = None  # the device's energy over the timed loop
    started_at: float = 0.0  # time.perf_counter() when the timed loop began
    runs_per_input: int = 1  # dataset mode's --loop: each input ran this many times in the timed loop
    # pure mode with --time_limit and --stable_ci: the median's 95% half-width the loop last saw, against the asked
    median_ci95: dict | None = None

    @property
    def timed_images(self) -> int:
        """Images the timed loop inferred, each --loop repetition counted: what end-to-end and energy divide by."""
        return self.images * self.runs_per_input

    def clock_record(self) -> dict:
        """When the timed loop ran on the machine's monotonic clock, which every process of one boot shares: how
        the loops of a --device 0,1 run's workers are put on one time line (infer/multi.py)."""
        start = self.started_at + time.monotonic() - time.perf_counter()
        return {"boot_id": boot_id(), "monotonic_start_s": start, "monotonic_end_s": start + self.wall_s}


def boot_id() -> str | None:
    """This boot's id (Linux): monotonic times of two processes compare only when it is the same."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def random_batch(spec: TensorSpec, batch_size: int, seed: int = 0) -> np.ndarray:
    return random_array(spec.batch_shape(batch_size), numpy_dtype(spec.dtype), seed)


def dataset_peak(loop: int) -> int:
    """The most batches _pipeline keeps in flight: one more while it repeats a batch (--loop)."""
    return PIPELINE_DEPTH + (1 if loop > 1 else 0)


def run_dataset(session: Session, files: list[Path], batch_size: int, out_dir: Path | None, outfmt: str,
                warmup_count: int, shard: tuple[int, int] = (0, 1), progress: bool = True,
                io: str = "auto", loop: int = 1, workers: int = 0,
                before_loop: Callable[[], None] | None = None) -> LoopResult:
    """Read, infer and write every file (no outputs when out_dir is None); `io` says whether reading
    and writing run in threads of this process or in worker processes. Each batch runs `loop` times, all
    timed, as ais_bench's --loop; the last run's outputs are written. `before_loop` runs after the warm-up,
    just before the timed loop (a --device 0,1 worker's start barrier)."""
    groups = plan_batches(files, batch_size, shard)
    spec = session.inputs()[0]
    shape, dtype = spec.batch_shape(batch_size), numpy_dtype(spec.dtype)
    io = choose_io(io, int(np.prod(shape)) * dtype.itemsize * BUFFERS)
    if io == "processes":
        reader = IOWorkers(groups, spec, session.outputs(), batch_size, BUFFERS, out_dir, outfmt, io_workers(workers),
                           session.register_host)
        writer = reader if out_dir is not None else None
    else:
        reader = Reader(shape, dtype, BUFFERS, session.allocate_host)
        writer = OutputWriter(out_dir, outfmt) if out_dir is not None else None
    try:
        if groups and warmup_count > 0:
            session.warmup(read_batch(0, groups[0], reader.buffers[0]).data, warmup_count, dataset_peak(loop))
            mark("warm-up batches")
        bar = _progress(sum(len(g) for g in groups), progress)  # made before the barrier: tqdm's import is slow
        if before_loop is not None:
            before_loop()
        with frozen_heap() as pauses, metered(session.energy_meter()) as energy:
            result = _pipeline(session, reader, groups, batch_size, writer, bar, loop)
        result.phases["gc_pauses"] = round(pauses[0], 4)
        result.energy = energy.reading
    finally:
        if writer is not None and writer is not reader:
            writer.close()
        reader.close()
    result.io = io
    return result


@contextmanager
def frozen_heap() -> Iterator[list[float]]:
    """Keep the objects that exist before a timed loop out of garbage collection while it runs.

    The loop allocates a few objects per input; in a process that holds a compiled model (millions of
    objects) each full collection walks them all and stalls the loop long enough to idle a GPU. Yields
    a one-item list that ends up holding the seconds spent in collections during the block.
    No full collection first: over a process holding torch and inductor it takes 0.15 s or more of every start,
    and garbage frozen with the rest is only memory, collected once the block ends.
    """
    gc.freeze()
    pauses = [0.0]
    started: list[float] = []

    def clock(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses[0] += time.perf_counter() - started.pop()

    gc.callbacks.append(clock)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(clock)
        gc.unfreeze()


class PhaseClock:
    """Where the loop's own thread spends the walltime: each `mark` charges the time since the last one
    to a phase, so the phases add up to the wall (summary.json extra.loop_seconds)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now


def _pipeline(session: Session, reader: Reader | IOWorkers, groups: list[list[Path]], batch_size: int,
              writer: OutputWriter | IOWorkers | None, bar, loop: int = 1) -> LoopResult:
    in_flight: list[tuple[int, Batch | None]] = []  # None: a repeated run of a batch still in flight
    images = padded = 0
    start = time.perf_counter()
    clock = PhaseClock()

    def drain_one() -> None:
        handle, batch = in_flight.pop(0)
        outputs = session.collect(handle)
        clock.mark("collect")  # mostly waiting for the target
        if batch is None:
            return
        reader.give(batch.data)
        if writer is not None:
            writer.submit(batch.stems, outputs, batch.index)
        bar.update(len(batch.stems))
        clock.mark("queue_outputs")

    for batch in reader.batches(groups, READ_AHEAD):
        clock.mark("wait_inputs")
        for repeat in range(loop):
            in_flight.append((session.submit(batch.data), batch if repeat == loop - 1 else None))
            if len(in_flight) > PIPELINE_DEPTH:
                drain_one()
        images += len(batch.stems)
        padded += batch_size - len(batch.stems)
        clock.mark("submit")
        if len(in_flight) >= PIPELINE_DEPTH:
            drain_one()
    clock.mark("wait_inputs")
    while in_flight:
        drain_one()
    if writer is not None:
        writer.drain()  # end-to-end ends when the last output is written
        clock.mark("wait_outputs")
    wall = time.perf_counter() - start
    bar.close()
    return LoopResult(wall_s=wall, images=images, batches=len(groups), padded_slots=padded, started_at=start,
                      runs_per_input=loop, files=writer.files if writer else [],
                      phases={k: round(v, 4) for k, v in clock.seconds.items()})


def run_pure(session: Session, batch_size: int, loop: int, warmup_count: int, time_limit: float = 0.0,
             stable_ci: float = 0.0, before_loop: Callable[[], None] | None = None) -> LoopResult:
    """`loop` timed batches; with time_limit, go on until the median is stable or time runs out. `before_loop` runs
    after the warm-up, just before the timed loop (a --device 0,1 worker's start barrier)."""
    spec = session.inputs()[0]
    data = session.allocate_host(spec.batch_shape(batch_size), numpy_dtype(spec.dtype))
    fill_random(data)
    mark("random input drawn")
    session.warmup(data, warmup_count, PIPELINE_DEPTH)  # the most the loop below keeps in flight
    mark("warm-up batches")
    if before_loop is not None:
        before_loop()
    in_flight: list[int] = []
    count = 0
    stop = StopRule(time_limit, stable_ci)
    # as in dataset mode, so the two compare like for like
    with frozen_heap() as pauses, metered(session.energy_meter()) as energy:
        start = time.perf_counter()
        while True:
            in_flight.append(session.submit(data))
            count += 1
            if len(in_flight) >= PIPELINE_DEPTH:
                session.collect(in_flight.pop(0))
            if count >= loop and stop.reached_end(session, start):
                break
        while in_flight:
            session.collect(in_flight.pop(0))
        wall = time.perf_counter() - start
    return LoopResult(wall_s=wall, images=count * batch_size, batches=count, phases={"gc_pauses": round(pauses[0], 4)},
                      energy=energy.reading, started_at=start, median_ci95=stop.record())


@dataclass
class StopRule:
    """When pure mode's loop ends after its --loop batches: at once without --time_limit; with it, when time runs
    out or, with --stable_ci, when the median's 95% interval is that narrow. Keeps what it last saw of the median,
    so the summary says what the loop decided on."""

    time_limit: float
    stable_ci: float
    reached: float | None = None
    batches: int = 0
    stable: bool = False

    def reached_end(self, session: Session, start: float) -> bool:
        if self.time_limit <= 0:
            return True
        timed_out = time.perf_counter() - start >= self.time_limit
        count = len(session.timings)
        if self.stable_ci > 0 and (timed_out or (count >= 10 and count % 5 == 0)):
            self.reached = median_ci95_halfwidth([t.compute_ms for t in session.timings])
            self.batches, self.stable = count, self.reached <= self.stable_ci
            return timed_out or self.stable
        return timed_out

    def record(self) -> dict | None:
        if self.time_limit <= 0 or self.stable_ci <= 0:
            return None  # the median's stability was not asked for (--stable_ci acts with --time_limit only)
        reached = self.reached if self.reached is not None and math.isfinite(self.reached) else None
        return {"asked": self.stable_ci, "reached": reached, "batches": self.batches, "stable": self.stable}


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="infer", disable=None if enabled else True, leave=False)
