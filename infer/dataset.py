"""Input side of the loop: list .bin files, check sizes, group into padded batches, read ahead."""
from __future__ import annotations

import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np

from harness.contracts import PreprocessManifest, TensorSpec, numpy_dtype
from harness.errors import ContractError, InputError
from harness.files import stem_of

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


def list_bin_files(input_dir: Path, spec: TensorSpec) -> list[Path]:
    """Every .bin in the directory (natural order), each checked against the model input size."""
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: input directory not found; pass the preprocess output with --input")
    files = sorted((p for p in input_dir.iterdir() if p.suffix.lower() == ".bin" and p.is_file()),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise InputError(f"{input_dir}: no .bin files; run preprocess into this directory first")
    _check_manifest(input_dir, spec)
    want = spec.sample_nbytes
    for path in files:
        size = path.stat().st_size
        if size != want:
            raise ContractError(f"{path}: {size} bytes, the model input {spec.name!r} "
                                f"{list(spec.sample_shape)} {spec.dtype} takes {want}; preprocess for this "
                                "model (input size, --mode) or convert for this data")
    return files


def _check_manifest(input_dir: Path, spec: TensorSpec) -> None:
    if not (input_dir / PreprocessManifest.FILENAME).exists():
        return  # plain .bin folders (e.g. from the ModelZoo scripts) are accepted on size alone
    manifest = PreprocessManifest.read(input_dir)
    if list(manifest.shape) != list(spec.sample_shape) or manifest.dtype != spec.dtype:
        raise ContractError(f"{input_dir / PreprocessManifest.FILENAME}: data is {manifest.shape} "
                            f"{manifest.dtype} {manifest.layout}, the model input {spec.name!r} takes "
                            f"{list(spec.sample_shape)} {spec.dtype}; preprocess for this model")


@dataclass
class Batch:
    index: int
    data: np.ndarray
    stems: list[str]  # real inputs only; rows past len(stems) are padding


def plan_batches(files: list[Path], batch_size: int, shard: tuple[int, int] = (0, 1)) -> list[list[Path]]:
    groups = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
    index, count = shard
    return groups[index::count]


class BufferPool:
    """A fixed set of batch buffers: the reader blocks when all are in use, which bounds memory."""

    def __init__(self, allocate: Callable[[tuple, np.dtype], np.ndarray], shape: tuple, dtype: np.dtype,
                 count: int) -> None:
        self._free: queue.Queue = queue.Queue()
        for _ in range(count):
            buffer = allocate(shape, dtype)
            buffer.fill(0)  # touch every page now, not on the timed path
            self._free.put(buffer)

    def take(self) -> np.ndarray:
        return self._free.get()

    def give(self, buffer: np.ndarray) -> None:
        self._free.put(buffer)


def _read_into(path: Path, row: np.ndarray) -> None:
    with open(path, "rb", buffering=0) as handle:
        got = handle.readinto(row.view(np.uint8))
    if got != row.nbytes:
        raise ContractError(f"{path}: {got} bytes read, {row.nbytes} expected; the file changed during the run")


def read_batch(index: int, group: list[Path], data: np.ndarray, pool: ThreadPoolExecutor | None = None) -> Batch:
    """Read a group of files into `data` (rows in order), padding repeats the first file as ais_bench does."""
    flat = data.reshape(data.shape[0], -1)
    if pool is None:
        for row, path in enumerate(group):
            _read_into(path, flat[row])
    else:
        list(pool.map(_read_into, group, [flat[row] for row in range(len(group))]))
    for row in range(len(group), data.shape[0]):
        flat[row] = flat[0]
    return Batch(index=index, data=data, stems=[stem_of(p) for p in group])


def prefetch(groups: list[list[Path]], buffers: BufferPool, depth: int = 3,
             threads: int = 8) -> Iterator[Batch]:
    """Read batches on background threads so disk reads overlap the target's compute.

    Each batch's buffer comes from `buffers`; the consumer gives it back once the target is done with it.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def worker() -> None:
        try:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="infer-read") as pool:
                for i, group in enumerate(groups):
                    if stop.is_set():
                        return
                    q.put(read_batch(i, group, buffers.take(), pool))
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)
        q.put(None)

    thread = threading.Thread(target=worker, name="infer-reader", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                item = q.get_nowait()
                if isinstance(item, Batch):
                    buffers.give(item.data)
            except queue.Empty:
                thread.join(timeout=0.05)
