"""Output side of the loop: per-input files in ais_bench's naming and formats, written behind compute."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness.files import atomic_write_bytes


def format_txt(array: np.ndarray) -> bytes:
    """ais_bench TXT: one line per last-dimension row, '%f' (or '%d') values each followed by a space."""
    rows = array.reshape(-1, array.shape[-1]) if array.ndim else array.reshape(1, 1)
    spec = "%f " if np.issubdtype(array.dtype, np.floating) else "%d "
    line = spec * rows.shape[1] + "\n"
    return "".join(line % tuple(row) for row in rows.tolist()).encode("ascii")


def encode(array: np.ndarray, outfmt: str) -> bytes:
    if outfmt == "TXT":
        return format_txt(array)
    if outfmt == "BIN":
        return np.ascontiguousarray(array).tobytes()
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


class OutputWriter:
    """Writes `<stem>_<k>.<fmt>` for each real input of a batch on background threads."""

    def __init__(self, directory: Path, outfmt: str, threads: int = 4) -> None:
        self.directory = directory
        self.outfmt = outfmt
        self.suffix = outfmt.lower()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="infer-writer")
        self._futures: list[Future] = []
        self.files: list[dict] = []

    def submit(self, stems: list[str], outputs: list[np.ndarray]) -> None:
        # Copy the rows now: targets may reuse their output buffers for the next batch.
        rows = [[np.array(out[i]) for out in outputs] for i in range(len(stems))]
        for stem, per_output in zip(stems, rows):
            names = [f"{stem}_{k}.{self.suffix}" for k in range(len(per_output))]
            self.files.append({"stem": stem, "outfiles": names})
            self._futures.append(self._pool.submit(self._write, names, per_output))
        self._futures = [f for f in self._futures if not f.done() or f.exception() is not None]

    def _write(self, names: list[str], arrays: list[np.ndarray]) -> None:
        for name, array in zip(names, arrays):
            atomic_write_bytes(self.directory / name, encode(array, self.outfmt))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for fut in self._futures:
            fut.result()  # re-raise a failed write
