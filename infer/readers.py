"""Reading .bin files into batch buffers ahead of the target, in threads (`--io threads`), and the
choice between that and worker processes (infer/io_workers.py).

Threads read straight into the target's own host memory (pinned, for a GPU). Reading is pipelined
by the loop's own thread: it keeps `ahead` batches being read, waits only for the oldest, and never
holds a buffer the consumer needs back (see `Reader.batches`).
"""
from __future__ import annotations

import queue
import shutil
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.errors import InputError
from harness.perf import usable_cores
from infer.dataset import Batch, pad_rows, read_rows, stems_of

CHUNK_BYTES = 8 << 20  # one read task (thread or I/O process): amortises its overhead, small enough to spread
SHM_DIR = Path("/dev/shm")


def shared_memory_room(nbytes: int) -> bool:
    """Whether /dev/shm can hold `nbytes` more (containers often cap it at 64 MiB; writing past a cap is
    a SIGBUS, not an error, so this is checked first)."""
    if not SHM_DIR.is_dir():
        return False
    return shutil.disk_usage(SHM_DIR).free > 2 * nbytes


def choose_io(requested: str, shared_nbytes: int) -> str:
    """'threads' or 'processes'; `auto` takes processes where there are cores to spare for them."""
    if requested != "auto":
        if requested == "processes" and not shared_memory_room(shared_nbytes):
            raise InputError(f"{SHM_DIR}: not enough free shared memory for {shared_nbytes >> 20} MiB of "
                             f"batch buffers; use --io threads or enlarge {SHM_DIR}")
        return requested
    if usable_cores() >= 8 and shared_memory_room(shared_nbytes):
        return "processes"
    return "threads"


def io_workers(requested: int = 0) -> int:
    # 16 workers on a 32-core H200 host read and wrote 34 600 img/s against 26 000 with 8 (docs/nvidia.md)
    return requested if requested > 0 else max(2, min(16, usable_cores() // 2))


def read_threads() -> int:
    # Threads release the GIL in read(); more of them than cores would only preempt the target's own threads.
    return max(1, min(8, usable_cores()))


class Reader:
    """Reads batches into `count` buffers from `allocate`, `ahead` batches at a time, in order."""

    def __init__(self, shape: tuple, dtype: np.dtype, count: int,
                 allocate: Callable[[tuple, np.dtype], np.ndarray]) -> None:
        self.buffers = [allocate(shape, dtype) for _ in range(count)]
        for buffer in self.buffers:
            buffer.fill(0)  # touch every page now, not on the timed path
        self._slot_of = {b.ctypes.data: i for i, b in enumerate(self.buffers)}
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for slot in range(count):
            self._free.put(slot)
        self._executor = ThreadPoolExecutor(max_workers=read_threads(), thread_name_prefix="infer-read")

    def batches(self, groups: list[list[Path]], ahead: int) -> Iterator[Batch]:
        """Yield each group's batch in order. The consumer gives every buffer back (`give`) once the
        target is done with it; the buffers must cover `ahead` + the consumer's batches in flight + 1."""
        pending: deque = deque()
        todo = iter(enumerate(groups))

        def start_next() -> None:
            item = next(todo, None)
            if item is None:
                return
            index, group = item
            data = self.buffers[self._free.get_nowait()]  # the accounting above guarantees one is free
            rows = data.reshape(data.shape[0], -1).view(np.uint8)
            per_task = max(1, CHUNK_BYTES // rows[0].nbytes)
            paths = [str(p) for p in group]
            futures = [self._executor.submit(read_rows, rows[first:first + per_task], paths[first:first + per_task])
                       for first in range(0, len(paths), per_task)]
            pending.append((index, group, data, futures))

        for _ in range(ahead):
            start_next()
        while pending:
            index, group, data, futures = pending.popleft()
            for future in futures:
                future.result()  # a reader's error is raised here, in order
            pad_rows(data, len(group))
            yield Batch(index=index, data=data, stems=stems_of(group))
            start_next()

    def give(self, data: np.ndarray) -> None:
        self._free.put(self._slot_of[data.ctypes.data])

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
