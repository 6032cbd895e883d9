"""Output side of the loop: per-input files in ais_bench's naming and formats, written behind compute.

TXT formatting is CPU work that mostly holds the GIL against the reader threads and the target calls
(harness/txt_format.py), so on machines with cores to spare it runs in worker processes, a batch per task.
BIN and NPY cost little Python per file and go through threads. With `--io processes` this class is
not used: infer/io_workers.py writes every format from shared memory.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness.files import write_new_or_replace
from harness.output_formats import output_format, output_names
from harness.perf import usable_cores
from harness.procs import interrupts_held, quiet_worker

WRITE_PROCESSES = 4
MAX_PENDING_BATCHES = 8  # batches copied and queued for writing: bounds memory when writes lag


def write_batch(directory: str, outfmt: str, names: list[list[str]], outputs: list[np.ndarray]) -> None:
    """Write row i of every output k to names[i][k]. Runs in a writer thread or process."""
    fmt = output_format(outfmt)
    for k, output in enumerate(outputs):
        data = fmt.encode_batch(output[:len(names)])
        for per_input, payload in zip(names, data):
            write_new_or_replace(os.path.join(directory, per_input[k]), payload)


def _process_pool(count: int) -> Executor:
    # spawn, not fork: the parent may hold a CUDA context, which a forked child must not inherit.
    return ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=quiet_worker, initargs=(os.getpid(),))


class OutputWriter:
    """Writes `<stem>_<k>.<fmt>` for each real input of a batch, off the loop's thread."""

    def __init__(self, directory: Path, outfmt: str, threads: int | None = None,
                 processes: int | None = None) -> None:
        self.directory = directory
        self.outfmt = outfmt
        self.format = output_format(outfmt)
        cores = usable_cores()
        threads = threads or max(1, min(4, cores))
        if processes is None:
            processes = min(WRITE_PROCESSES, cores - 1) if cores > 2 and self.format.encode_in_processes else 0
        if processes > 0:
            self._pool: Executor = _process_pool(processes)
            # A pool starts a worker per task submitted while none is idle: one short task each starts
            # them all, and imports done, before the timed loop.
            with interrupts_held():  # each submission here starts a worker
                started = [self._pool.submit(time.sleep, 0.2) for _ in range(processes)]
            for future in started:
                future.result()
        else:
            self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="infer-writer")
        self._futures: list[Future] = []
        self.files: list[dict] = []

    def submit(self, stems: list[str], outputs: list[np.ndarray], index: int = -1) -> None:
        # Copy the real rows now: targets may reuse their output buffers for the next batch.
        rows = [np.array(out[:len(stems)]) for out in outputs]
        names = output_names(stems, len(outputs), self.format)
        self.files.extend({"stem": stem, "outfiles": n} for stem, n in zip(stems, names))
        self._futures.append(self._pool.submit(write_batch, str(self.directory), self.outfmt, names, rows))
        self._reap()
        while len(self._futures) > MAX_PENDING_BATCHES:  # writing is slower than the target: wait for it
            self._futures.pop(0).result()

    def drain(self) -> None:
        """Wait until every output submitted so far is on disk (the end of a run's timed part)."""
        while self._futures:
            self._futures.pop(0).result()

    def _reap(self) -> None:
        pending = []
        for fut in self._futures:
            if not fut.done():
                pending.append(fut)
            else:
                fut.result()  # a failed write stops the run here, not at the end
        self._futures = pending

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for fut in self._futures:
            fut.result()
