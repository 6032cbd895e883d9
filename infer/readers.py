"""Reading .bin files into batch buffers ahead of the target, in threads or in worker processes.

Threads read straight into the target's own host memory (pinned, for a GPU). On a machine with cores
to spare, processes avoid the GIL: every file open, read and close in a thread has to take it back,
and at thousands of files a second the loop's own thread waits for it behind the readers. Process
workers read into one shared-memory block that the target may register for direct transfers.

Reading is pipelined by the loop's own thread: it keeps `ahead` batches being read, waits only for
the oldest, and never holds a buffer the consumer needs back (see `Reader.batches`).
"""
from __future__ import annotations

import multiprocessing
import queue
import shutil
import time
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.errors import InputError
from harness.perf import usable_cores
from infer.dataset import Batch, pad_rows, read_rows, stems_of

CHUNK_BYTES = 8 << 20  # one read task: enough bytes to amortise a task's overhead, small enough to spread
SHM_DIR = Path("/dev/shm")


_ATTACHED: dict = {}  # per worker process: shared-memory name -> SharedMemory


def _read_rows_shared(name: str, offset: int, row_nbytes: int, paths: list[str]) -> None:
    """Runs in a worker process: read files into consecutive rows of the shared block."""
    from multiprocessing import shared_memory

    shm = _ATTACHED.get(name)
    if shm is None:
        shm = _ATTACHED[name] = shared_memory.SharedMemory(name=name)
    rows = np.ndarray((len(paths), row_nbytes), np.uint8, buffer=shm.buf, offset=offset)
    read_rows(rows, paths)


class BufferPool:
    """A fixed set of batch buffers: a buffer is being read, in flight on the target, or free."""

    def __init__(self, buffers: list[np.ndarray]) -> None:
        self.buffers = buffers
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for index, buffer in enumerate(buffers):
            buffer.fill(0)  # touch every page now, not on the timed path
            self._free.put(index)
        self._index = {buffer.ctypes.data: index for index, buffer in enumerate(buffers)}

    def take(self) -> int:
        return self._free.get_nowait()  # the reader's accounting guarantees one is free

    def give(self, buffer: np.ndarray) -> None:
        self._free.put(self._index[buffer.ctypes.data])

    def close(self) -> None:
        pass


class SharedBufferPool(BufferPool):
    """Buffers in one shared-memory block that worker processes can write; offered to the target to pin."""

    def __init__(self, shape: tuple, dtype: np.dtype, count: int,
                 register: Callable[[np.ndarray], Callable[[], None] | None]) -> None:
        from multiprocessing import shared_memory

        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.stride = -(-nbytes // 4096) * 4096
        self.shm = shared_memory.SharedMemory(create=True, size=self.stride * count)
        block = np.ndarray((self.stride * count,), np.uint8, buffer=self.shm.buf)
        self._unregister = register(block)
        super().__init__([np.ndarray(shape, dtype, buffer=self.shm.buf, offset=i * self.stride)
                          for i in range(count)])

    def close(self) -> None:
        if self._unregister is not None:
            self._unregister()
        self.buffers = []
        self._index = {}
        self.shm.close()
        self.shm.unlink()


def shared_memory_room(nbytes: int) -> bool:
    """Whether /dev/shm can hold `nbytes` more (containers often cap it at 64 MiB; writing past a cap is
    a SIGBUS, not an error, so this is checked first)."""
    if not SHM_DIR.is_dir():
        return False
    return shutil.disk_usage(SHM_DIR).free > 2 * nbytes


def choose_io(requested: str, batch_nbytes: int, buffers: int) -> str:
    """'threads' or 'processes' for `--io auto`: processes pay off only with cores to spare."""
    if requested != "auto":
        if requested == "processes" and not shared_memory_room(batch_nbytes * buffers):
            raise InputError(f"{SHM_DIR}: not enough free shared memory for {buffers} batch buffers of "
                             f"{batch_nbytes >> 20} MiB; use --io threads or enlarge {SHM_DIR}")
        return requested
    if usable_cores() >= 8 and shared_memory_room(batch_nbytes * buffers):
        return "processes"
    return "threads"


def start_workers(executor: Executor, count: int) -> None:
    """Have every worker process started and imported before the timed loop: one short task each
    (a process pool starts a worker per task submitted while none is idle)."""
    list(executor.map(time.sleep, [0.2] * count))


def worker_count(io: str) -> int:
    cores = usable_cores()
    if io == "processes":
        return max(2, min(8, cores // 2))
    # Threads release the GIL in read(); more of them than cores would only preempt the target's own threads.
    return max(1, min(8, cores))


class Reader:
    """Reads the batches of `groups` into pool buffers, `ahead` batches at a time, in order."""

    def __init__(self, pool: BufferPool, executor: Executor, task: Callable[..., Future]) -> None:
        self.pool = pool
        self.executor = executor
        self._task = task

    @classmethod
    def open(cls, io: str, shape: tuple, dtype: np.dtype, count: int, allocate: Callable,
             register: Callable) -> "Reader":
        workers = worker_count(io)
        if io == "processes":
            pool = SharedBufferPool(shape, dtype, count, register)
            # spawn, not fork: the parent may hold a CUDA context, which a forked child must not inherit.
            executor: Executor = ProcessPoolExecutor(max_workers=workers,
                                                     mp_context=multiprocessing.get_context("spawn"))
            start_workers(executor, workers)
            stride = pool.stride
            name = pool.shm.name

            def task(index: int, first: int, row_nbytes: int, paths: list[str]) -> Future:
                return executor.submit(_read_rows_shared, name, index * stride + first * row_nbytes,
                                       row_nbytes, paths)
        else:
            pool = BufferPool([allocate(shape, dtype) for _ in range(count)])
            executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="infer-read")

            def task(index: int, first: int, row_nbytes: int, paths: list[str]) -> Future:
                rows = pool.buffers[index].reshape(shape[0], -1).view(np.uint8)
                return executor.submit(read_rows, rows[first:first + len(paths)], paths)
        return cls(pool, executor, task)

    def batches(self, groups: list[list[Path]], ahead: int) -> Iterator[Batch]:
        """Yield each group's batch in order. The consumer gives every buffer back (`pool.give`) once the
        target is done with it; the pool must hold `ahead` + the consumer's batches in flight + 1."""
        pending: deque = deque()
        todo = iter(enumerate(groups))

        def start_next() -> None:
            item = next(todo, None)
            if item is None:
                return
            index, group = item
            buffer = self.pool.take()
            data = self.pool.buffers[buffer]
            row_nbytes = data[0].nbytes
            per_task = max(1, CHUNK_BYTES // row_nbytes)
            paths = [str(p) for p in group]
            futures = [self._task(buffer, first, row_nbytes, paths[first:first + per_task])
                       for first in range(0, len(paths), per_task)]
            pending.append((index, group, data, futures))

        for _ in range(ahead):
            start_next()
        try:
            while pending:
                index, group, data, futures = pending.popleft()
                for future in futures:
                    future.result()  # a worker's error is raised here, in order
                pad_rows(data, len(group))
                yield Batch(index=index, data=data, stems=stems_of(group))
                start_next()
        finally:
            for _, _, data, futures in pending:
                for future in futures:
                    future.cancel()
                if all(f.cancelled() or f.done() for f in futures):
                    self.pool.give(data)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.pool.close()
