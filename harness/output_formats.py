"""The per-input output file formats, one entry each: suffix, encoding, reading and the whole-file check.

Infer writes `<stem>_<k>.<suffix>` for output k of input `<stem>` (ais_bench's naming); resume, postprocess,
report and compare read those files back. Each of them asks this registry, so a new format is one
`register(OutputFormat(...))` and nothing else changes.
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness.contracts import numpy_dtype
from harness.errors import ContractError
from harness.txt_format import txt_per_input

WholeCheck = Callable[[Path], bool]


@dataclass(frozen=True)
class OutputFormat:
    """One file format for one input's output row.

    encode_batch: the file bytes of each row of a batch (formatting a batch at once is cheaper for TXT).
    read: (path, dtype name or None) -> array, the values in the file; its shape is fixed by the caller.
    whole_check: (per-input shape, numpy dtype) -> a function telling whether a file is complete.
    self_describing: whether a file can be read without the run summary (BIN has no dtype or shape).
    encode_in_processes: encoding is Python work that holds the GIL (TXT): worth writer processes when cores
    are spare.
    """

    name: str
    suffix: str
    encode_batch: Callable[[np.ndarray], list[bytes]]
    read: Callable[[Path, str | None], np.ndarray]
    whole_check: Callable[[tuple[int, ...], np.dtype], WholeCheck]
    self_describing: bool = True
    encode_in_processes: bool = False

    def encode(self, row: np.ndarray) -> bytes:
        """One input's output row as file bytes."""
        return self.encode_batch(np.asarray(row)[np.newaxis])[0]


FORMATS: dict[str, OutputFormat] = {}


def register(fmt: OutputFormat) -> OutputFormat:
    FORMATS[fmt.name.upper()] = fmt
    return fmt


def unregister(name: str) -> None:
    FORMATS.pop(name.upper(), None)


def output_format(name: str) -> OutputFormat:
    try:
        return FORMATS[name.upper()]
    except KeyError:
        raise ContractError(f"unknown output format {name!r}; expected one of {sorted(FORMATS)}") from None


def format_of_suffix(suffix: str) -> OutputFormat | None:
    """The format whose files end in `suffix` ('.txt' or 'txt', any case), None for another file."""
    wanted = suffix.lower().lstrip(".")
    return next((fmt for fmt in FORMATS.values() if fmt.suffix == wanted), None)


def output_names(stems: list[str], count: int, fmt: OutputFormat) -> list[list[str]]:
    """`<stem>_<k>.<suffix>` for output k of each input, ais_bench's naming."""
    return [[f"{stem}_{k}.{fmt.suffix}" for k in range(count)] for stem in stems]


def parse_output_name(name: str) -> tuple[str, int, OutputFormat] | None:
    """(stem, output index, format) of an output file name, None for any other name. The stem may be empty:
    an input named '.x.bin' has the stem '' (the name before its first dot) and writes '_0.txt', as ais_bench does."""
    suffixes = "|".join(re.escape(fmt.suffix) for fmt in FORMATS.values())
    match = re.match(rf"^(?P<stem>.*)_(?P<index>\d+)\.(?P<ext>{suffixes})$", name, re.IGNORECASE)
    if not match:
        return None
    return match["stem"], int(match["index"]), format_of_suffix(match["ext"])


# ---- the formats ais_bench writes -------------------------------------------------------------------------
def _exact_size(encode_batch: Callable[[np.ndarray], list[bytes]]):
    """A whole-file check for formats whose files all have one size: that of a row of zeros."""
    def check(shape: tuple[int, ...], dtype: np.dtype) -> WholeCheck:
        size = len(encode_batch(np.zeros((1, *shape), dtype))[0])
        return lambda path: os.stat(path).st_size == size
    return check


def _txt_whole_check(shape: tuple[int, ...], dtype: np.dtype) -> WholeCheck:
    """A TXT file is complete when it has its exact number of lines (one per last-dimension row) and of values
    (each one followed by a space, as ais_bench writes them)."""
    lines = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    values = int(np.prod(shape))

    def whole_txt(path: Path) -> bool:
        data = Path(path).read_bytes()
        return data.endswith(b"\n") and data.count(b"\n") == lines and data.count(b" ") == values
    return whole_txt


def _read_txt(path: Path, dtype: str | None = None) -> np.ndarray:
    """ais_bench TXT: one line per last-dimension row, values separated by spaces."""
    lines = [line.split() for line in Path(path).read_text(encoding="ascii").splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty file")
    if len({len(row) for row in lines}) != 1:
        raise ValueError("rows of different lengths")
    array = np.array(lines, dtype=np.float32)
    return array[0] if len(lines) == 1 else array


def _encode_npy(batch: np.ndarray) -> list[bytes]:
    """NPY keeps a batch axis of 1, as ais_bench saves its np.array_split pieces (shape (1, C) for a (C,) row),
    so scripts written for its files read ours."""
    encoded = []
    for row in batch:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(row)[np.newaxis])
        encoded.append(buf.getvalue())
    return encoded


def _encode_bin(batch: np.ndarray) -> list[bytes]:
    return [np.ascontiguousarray(row).tobytes() for row in batch]


def _read_bin(path: Path, dtype: str | None) -> np.ndarray:
    return np.fromfile(path, dtype=numpy_dtype(dtype or "float32"))


TXT = register(OutputFormat("TXT", "txt", txt_per_input, _read_txt, _txt_whole_check,
                            encode_in_processes=True))
NPY = register(OutputFormat("NPY", "npy", _encode_npy, lambda path, dtype: np.load(path, allow_pickle=False),
                            _exact_size(_encode_npy)))
BIN = register(OutputFormat("BIN", "bin", _encode_bin, _read_bin, _exact_size(_encode_bin), self_describing=False))
