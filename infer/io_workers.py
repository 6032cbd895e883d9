"""Dataset I/O in worker processes that the loop's thread drives over pipes (`--io processes`).

A GPU session's submit makes a score of CUDA calls that each release the GIL and take it back; with
reader and writer threads in the same process every take-back waits in line behind them (measured on
an H100 at bs64: 5 ms per submit, dataset mode at 0.57 of pure inference). Here the loop's process
keeps one thread. A worker gets a batch number and a buffer slot, reads those files into shared
memory (or writes that batch's outputs from shared memory), and answers with the number.

Inputs land in one shared block that the target may page-lock for direct transfers; outputs go
through a second block. Workers know the batches from the start, so a message is a few integers.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from multiprocessing import connection
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.contracts import TensorSpec, numpy_dtype
from harness.errors import TargetError, Terminated, WorkerLost
from harness.procs import interrupts_held, quiet_worker
from infer.dataset import Batch, pad_rows, read_rows, stems_of
from harness.output_formats import output_format, output_names
from infer import readers
from infer.writers import write_batch

WRITE_ROWS = 16  # one write task: rows of a batch
PAGE = 4096
# When the loop's process is killed, multiprocessing's resource tracker frees the shared blocks and
# warns about "leaked" memory in a two-line traceback-like note; the user killed it and knows. The
# tracker takes its warning filters from the command line it is started with, made from sys.warnoptions.
QUIET_TRACKER = "ignore:resource_tracker:UserWarning"


class SharedBlock:
    """`count` equal slots of `nbytes` in one shared-memory block, page-aligned."""

    def __init__(self, nbytes: int, count: int) -> None:
        from multiprocessing import shared_memory

        if QUIET_TRACKER not in sys.warnoptions:
            sys.warnoptions.append(QUIET_TRACKER)

        self.stride = max(4096, -(-nbytes // 4096) * 4096)
        self.count = count
        self.shm = shared_memory.SharedMemory(create=True, size=self.stride * count)

    def view(self, slot: int, shape: tuple, dtype: np.dtype, offset: int = 0) -> np.ndarray:
        return np.ndarray(shape, dtype, buffer=self.shm.buf, offset=slot * self.stride + offset)

    def whole(self) -> np.ndarray:
        return np.ndarray((self.stride * self.count,), np.uint8, buffer=self.shm.buf)

    def close(self) -> None:
        self.shm.close()
        self.shm.unlink()


class IOWorkers:
    """Reads batches ahead and writes outputs behind, in `workers` processes; one object for both sides
    of the loop: `batches`/`give` for inputs, `submit`/`drain`/`files` for outputs."""

    def __init__(self, groups: list[list[Path]], input_spec: TensorSpec, output_specs: list[TensorSpec],
                 batch_size: int, in_slots: int, out_dir: Path | None, outfmt: str, workers: int,
                 register: Callable[[np.ndarray], Callable[[], None] | None], out_slots: int = 8) -> None:
        self._groups = groups
        self._batch_shape = input_spec.batch_shape(batch_size)
        self._dtype = numpy_dtype(input_spec.dtype)
        self._outputs = [(tuple(o.batch_shape(batch_size)), numpy_dtype(o.dtype)) for o in output_specs]
        self._out_offsets = list(np.cumsum([0] + [int(np.prod(s)) * d.itemsize for s, d in self._outputs]))
        self.format = output_format(outfmt)
        self.files: list[dict] = []
        self._inputs = SharedBlock(int(np.prod(self._batch_shape)) * self._dtype.itemsize, in_slots)
        self._results = SharedBlock(max(1, self._out_offsets[-1]), out_slots) if out_dir is not None else None
        self.buffers = [self._inputs.view(i, self._batch_shape, self._dtype) for i in range(in_slots)]
        for buffer in self.buffers:
            buffer.fill(0)  # touch every page now, not on the timed path
        self._slot_of = {b.ctypes.data: i for i, b in enumerate(self.buffers)}
        self._free_in = deque(range(in_slots))
        self._free_out = deque(range(out_slots))
        self._reads_left: dict[int, int] = {}  # batch -> read tasks not answered yet
        self._writes_left: dict[int, int] = {}  # output slot -> write tasks not answered yet
        self._unregister = register(self._inputs.whole())
        self._conns: list = []
        self._procs: list = []
        self._busy: list[int] = []
        self._start(workers, out_dir, outfmt)

    # ---- workers --------------------------------------------------------------------------------
    def _start(self, workers: int, out_dir: Path | None, outfmt: str) -> None:
        # spawn, not fork: the parent may hold a CUDA context, which a forked child must not inherit.
        context = multiprocessing.get_context("spawn")
        layout = {"groups": [[str(p) for p in g] for g in self._groups], "inputs": self._inputs.shm.name,
                  "in_stride": self._inputs.stride, "row_nbytes": self.buffers[0][0].nbytes,
                  "results": self._results.shm.name if self._results else None,
                  "out_stride": self._results.stride if self._results else 0,
                  "outputs": [(list(s), d.str) for s, d in self._outputs], "out_offsets": self._out_offsets,
                  "out_dir": str(out_dir) if out_dir is not None else None, "outfmt": outfmt,
                  "parent": os.getpid()}
        for _ in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(target=_serve, args=(child, layout), daemon=True, name="infer-io")
            with interrupts_held():
                proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
            self._busy.append(1)  # until it says it is ready
        while any(self._busy):  # every worker started and attached before the timed loop
            self._poll()

    def _send(self, message: tuple) -> None:
        worker = min(range(len(self._conns)), key=self._busy.__getitem__)
        self._busy[worker] += 1
        try:
            self._conns[worker].send(message)
        except OSError:
            raise self._lost(worker) from None

    def _lost(self, worker: int) -> BaseException:
        """What a worker that stopped answering means: Ctrl-C or SIGTERM (it left with the run), or a failure."""
        proc = self._procs[worker]
        proc.join(timeout=1.0)
        if proc.exitcode in (128 + signal.SIGINT, -signal.SIGINT):
            return KeyboardInterrupt()
        if proc.exitcode in (128 + signal.SIGTERM, -signal.SIGTERM):  # the whole group was sent SIGTERM
            return Terminated()
        return WorkerLost(f"an infer I/O worker process exited (exit code {proc.exitcode}); see the messages above, "
                          "or rerun with --io threads")

    def _poll(self) -> None:
        """Wait for at least one answer and account for every answer that has arrived."""
        for conn in connection.wait(self._conns):
            worker = self._conns.index(conn)
            try:
                kind, key, error = conn.recv()
            except (EOFError, OSError):
                raise self._lost(worker) from None
            self._busy[worker] -= 1
            if error is not None:
                raise error
            if kind == "read":
                self._reads_left[key] -= 1
            elif kind == "write":
                self._writes_left[key] -= 1
                if self._writes_left[key] == 0:
                    del self._writes_left[key]
                    self._free_out.append(key)

    # ---- input side -------------------------------------------------------------------------------
    def batches(self, groups: list[list[Path]], ahead: int) -> Iterator[Batch]:
        """Yield every batch in order (the groups given at construction); give each buffer back."""
        assert groups is self._groups
        pending: deque = deque()
        row_nbytes = self.buffers[0][0].nbytes
        per_task = max(1, readers.CHUNK_BYTES // row_nbytes)

        def start(index: int) -> None:
            slot = self._free_in.popleft()
            rows = len(groups[index])
            self._reads_left[index] = 0
            for first in range(0, rows, per_task):
                self._reads_left[index] += 1
                self._send(("read", index, slot, first, min(per_task, rows - first)))
            pending.append((index, slot))

        next_index = 0
        while next_index < min(ahead, len(groups)):
            start(next_index)
            next_index += 1
        while pending:
            index, slot = pending.popleft()
            while self._reads_left[index]:
                self._poll()
            del self._reads_left[index]
            data = self.buffers[slot]
            pad_rows(data, len(groups[index]))
            yield Batch(index=index, data=data, stems=stems_of(groups[index]))
            if next_index < len(groups):
                start(next_index)
                next_index += 1

    def give(self, data: np.ndarray) -> None:
        self._free_in.append(self._slot_of[data.ctypes.data])

    # ---- output side ------------------------------------------------------------------------------
    def submit(self, stems: list[str], outputs: list[np.ndarray], index: int) -> None:
        """Queue batch `index`'s outputs for writing (waits while every output slot is being written)."""
        while not self._free_out:
            self._poll()
        slot = self._free_out.popleft()
        for k, (shape, dtype) in enumerate(self._outputs):
            view = self._results.view(slot, shape, dtype, self._out_offsets[k])
            view[:len(stems)] = outputs[k][:len(stems)]
        names = output_names(stems, len(outputs), self.format)
        self.files.extend({"stem": stem, "outfiles": n} for stem, n in zip(stems, names))
        self._writes_left[slot] = 0
        for first in range(0, len(stems), WRITE_ROWS):
            self._writes_left[slot] += 1
            self._send(("write", index, slot, first, min(WRITE_ROWS, len(stems) - first)))

    def drain(self) -> None:
        while self._writes_left:
            self._poll()

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        for conn in self._conns:
            conn.close()
        if self._unregister is not None:
            self._unregister()
        self.buffers = []
        self._slot_of = {}
        self._inputs.close()
        if self._results is not None:
            self._results.close()


def map_every_page(block) -> None:
    """Fault every page of a freshly attached block into this process now, not inside the timed loop (a minor
    fault per 4 KiB: 37 for each 150 KB input). The loop's process does not touch the buffers until every worker
    is ready, so writing back the zeros it wrote is safe."""
    pages = np.ndarray((block.size // PAGE,), np.dtype((np.uint8, PAGE)), buffer=block.buf)
    pages[:, 0] = pages[:, 0]


def _serve(conn, layout: dict) -> None:
    """A worker: attach both blocks, then read or write what each message names, answering each.
    It leaves with the loop's process, quietly: that process reports an interruption or a failure."""
    from multiprocessing import shared_memory

    quiet_worker(layout["parent"])

    inputs = shared_memory.SharedMemory(name=layout["inputs"])
    results = shared_memory.SharedMemory(name=layout["results"]) if layout["results"] else None
    for block in (inputs, results):
        if block is not None:
            map_every_page(block)
    groups, row_nbytes = layout["groups"], layout["row_nbytes"]
    conn.send(("ready", -1, None))
    try:
        while (message := conn.recv()) is not None:
            kind, index, slot, first, count = message
            try:
                if kind == "read":
                    rows = np.ndarray((count, row_nbytes), np.uint8, buffer=inputs.buf,
                                      offset=slot * layout["in_stride"] + first * row_nbytes)
                    read_rows(rows, groups[index][first:first + count])
                    conn.send(("read", index, None))
                else:
                    outputs = [np.ndarray(shape, np.dtype(dtype), buffer=results.buf,
                                          offset=slot * layout["out_stride"] + offset)[first:first + count]
                               for (shape, dtype), offset in zip(layout["outputs"], layout["out_offsets"])]
                    stems = stems_of(groups[index][first:first + count])
                    write_batch(layout["out_dir"], layout["outfmt"],
                                output_names(stems, len(outputs), output_format(layout["outfmt"])), outputs)
                    conn.send(("write", slot, None))
            except Exception as exc:  # handed to the loop, raised there
                conn.send((kind, index if kind == "read" else slot, _picklable(exc)))
    except (EOFError, OSError, KeyboardInterrupt):  # the loop's process is gone or closed the pipe
        pass
    finally:
        inputs.close()
        if results is not None:
            results.close()


def _picklable(exc: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return TargetError(f"{type(exc).__name__}: {exc}")
