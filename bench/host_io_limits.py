"""What this machine's file system gives the infer loop, with no harness around it: reading N .bin files
from the page cache with T threads, and writing N small output files (direct, and through a temporary
name then rename, as infer does) with T threads. Files per second, medians of interleaved rounds.

`file_work_rate` is the ceiling for infer's I/O worker processes (`--io processes`): P processes, each
reading its share of the files and, per file, creating one output file, as dataset mode does per image.
Threads share one interpreter lock, so T threads do not show what P processes can do.

    python bench/host_io_limits.py --bins /tmp/loopio/bins --threads 1 4 8 --processes 8 16 --json host_io.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def read_all(paths: list[Path], threads: int) -> float:
    size = paths[0].stat().st_size
    buffers = [np.empty(size, np.uint8) for _ in range(threads)]

    def read(index: int) -> None:
        buffer = buffers[index % threads]
        for path in paths[index::threads]:
            with open(path, "rb", buffering=0) as handle:
                handle.readinto(buffer)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(read, range(threads)))
    return len(paths) / (time.perf_counter() - start)


def write_all(directory: Path, count: int, threads: int, atomic: bool, payload: bytes) -> float:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.sync()

    def write(index: int) -> None:
        for i in range(index, count, threads):
            path = directory / f"img_{i:05d}_0.bin"
            target = directory / f".{path.name}.tmp" if atomic else path
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            os.write(fd, payload)
            os.close(fd)
            if atomic:
                os.replace(target, path)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(threads)))
    return count / (time.perf_counter() - start)


OUTPUT_BYTES = 4000  # 1000 float32 logits: one BIN output per image
FILE_WORK = ("read", "write", "read+write")
_SHARE: dict = {}  # what each file_work_rate process works on, set once by its initializer


def _attach(paths: list[str], out_dir: str | None, work: str, rows: int) -> None:
    # reads land in `rows` distinct rows, as in a batch buffer: one small reused buffer would stay in the cache
    rows_memory = np.ones((rows, os.stat(paths[0]).st_size), np.uint8)
    _SHARE.update(paths=paths, out_dir=out_dir, work=work, rows=rows_memory)


def _file_work(index: int, processes: int) -> None:
    paths, out_dir, work, rows = _SHARE["paths"], _SHARE["out_dir"], _SHARE["work"], _SHARE["rows"]
    payload = bytes(OUTPUT_BYTES)
    for n, i in enumerate(range(index, len(paths), processes)):
        if work != "write":
            with open(paths[i], "rb", buffering=0) as handle:
                handle.readinto(rows[n % len(rows)])
        if work != "read":
            fd = os.open(os.path.join(out_dir, f"img_{i:05d}_0.bin"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            os.write(fd, payload)
            os.close(fd)


def file_work_rate(paths: list[Path], processes: int, work: str = "read+write", out_dir: Path | None = None,
                   rows: int = 256) -> float:
    """Files per second for `processes` processes that each take their share of `paths` and read each file
    into the next of `rows` rows ("read"), create one OUTPUT_BYTES file per input under a new name in `out_dir`,
    as infer writes ("write"), or both ("read+write": dataset mode's file work per image)."""
    assert work in FILE_WORK and (work == "read" or out_dir is not None)
    if out_dir is not None:
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
    context = multiprocessing.get_context("spawn")  # the caller may hold a CUDA context
    with context.Pool(processes, initializer=_attach,
                      initargs=([str(p) for p in paths], str(out_dir) if out_dir else None, work, rows)) as pool:
        pool.starmap(time.sleep, [(0.05,)] * processes)  # every process started before the clock
        start = time.perf_counter()
        pool.starmap(_file_work, [(i, processes) for i in range(processes)], chunksize=1)
        rate = len(paths) / (time.perf_counter() - start)
    if out_dir is not None:
        shutil.rmtree(out_dir, ignore_errors=True)
    return rate


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bins", type=Path, required=True, help="a directory of equal-sized .bin files")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--processes", type=int, nargs="*", default=[],
                   help="also the file work of this many processes (read, write, read+write), as infer's I/O workers")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("/tmp/host_io_out"))
    p.add_argument("--json", type=Path, default=Path("host_io.json"))
    args = p.parse_args(argv)
    paths = sorted(args.bins.glob("*.bin"))
    payload = np.random.default_rng(0).standard_normal(1000, dtype=np.float32).tobytes()
    runs: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for threads in args.threads:
            runs.setdefault(f"read_{threads}t", []).append(read_all(paths, threads))
            for atomic in (False, True):
                key = f"write_{'atomic' if atomic else 'direct'}_{threads}t"
                runs.setdefault(key, []).append(write_all(args.out, len(paths), threads, atomic, payload))
        for processes in args.processes:
            for work in FILE_WORK:
                rate = file_work_rate(paths, processes, work, None if work == "read" else args.out)
                runs.setdefault(f"{work}_{processes}p", []).append(rate)
    result = {"command": " ".join(sys.argv), "files": len(paths), "file_bytes": paths[0].stat().st_size,
              "files_per_s_median": {k: round(statistics.median(v)) for k, v in runs.items()}, "runs": runs}
    args.json.write_text(json.dumps(result, indent=2))
    for key, value in result["files_per_s_median"].items():
        print(f"{key:22s} {value:9d} files/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
