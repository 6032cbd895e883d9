"""Input side of the loop: list .bin files, check sizes, group into padded batches, read ahead."""
from __future__ import annotations

import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from harness.contracts import PreprocessManifest, TensorSpec, numpy_dtype
from harness.errors import ContractError, InputError

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


def stem_of(path: Path) -> str:
    return path.name.split(".")[0]


def plan_batches(files: list[Path], batch_size: int, shard: tuple[int, int] = (0, 1)) -> list[list[Path]]:
    groups = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
    index, count = shard
    return groups[index::count]


def read_batch(index: int, group: list[Path], batch_size: int, spec: TensorSpec) -> Batch:
    dtype = numpy_dtype(spec.dtype)
    data = np.empty(spec.batch_shape(batch_size), dtype=dtype)
    flat = data.reshape(batch_size, -1)
    for row, path in enumerate(group):
        flat[row] = np.fromfile(path, dtype=dtype)
    for row in range(len(group), batch_size):
        flat[row] = flat[0]  # padding repeats the first file of the batch, as ais_bench does
    return Batch(index=index, data=data, stems=[stem_of(p) for p in group])


def prefetch(groups: list[list[Path]], batch_size: int, spec: TensorSpec, depth: int = 4) -> Iterator[Batch]:
    """Read batches on a background thread so disk reads overlap the target's compute."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def worker() -> None:
        try:
            for i, group in enumerate(groups):
                if stop.is_set():
                    return
                q.put(read_batch(i, group, batch_size, spec))
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
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
