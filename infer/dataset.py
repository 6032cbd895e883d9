"""Input side of the loop: list .bin files, check sizes, group into padded batches, read ahead."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.contracts import PreprocessManifest, TensorSpec
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


def read_file_into(path: str, row: np.ndarray) -> None:
    """Read one whole file into a row of bytes (runs in reader threads and processes)."""
    with open(path, "rb", buffering=0) as handle:
        got = handle.readinto(row)
    if got != row.nbytes:
        raise ContractError(f"{path}: {got} bytes read, {row.nbytes} expected; the file changed during the run")


def read_rows(rows: np.ndarray, paths: list[str]) -> None:
    for row, path in zip(rows, paths):
        read_file_into(path, row)


def pad_rows(data: np.ndarray, real: int) -> None:
    """Rows past the real inputs repeat the first one, as ais_bench pads a last partial batch."""
    flat = data.reshape(data.shape[0], -1)
    for row in range(real, data.shape[0]):
        flat[row] = flat[0]


def stems_of(group: list[Path]) -> list[str]:
    return [stem_of(p) for p in group]


def read_batch(index: int, group: list[Path], data: np.ndarray) -> Batch:
    """Read a group of files into `data` on this thread (rows in order, padded)."""
    read_rows(data.reshape(data.shape[0], -1).view(np.uint8), [str(p) for p in group])
    pad_rows(data, len(group))
    return Batch(index=index, data=data, stems=stems_of(group))
