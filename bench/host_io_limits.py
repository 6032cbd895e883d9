"""What this machine's file system gives the infer loop, with no harness around it: reading N .bin files
from the page cache with T threads, and writing N small output files (direct, and through a temporary
name then rename, as infer does) with T threads. Files per second, medians of interleaved rounds.

    python bench/host_io_limits.py --bins /tmp/loopio/bins --threads 1 4 8 --json host_io.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bins", type=Path, required=True, help="a directory of equal-sized .bin files")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 4, 8])
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
    result = {"command": " ".join(sys.argv), "files": len(paths), "file_bytes": paths[0].stat().st_size,
              "files_per_s_median": {k: round(statistics.median(v)) for k, v in runs.items()}, "runs": runs}
    args.json.write_text(json.dumps(result, indent=2))
    for key, value in result["files_per_s_median"].items():
        print(f"{key:22s} {value:9d} files/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
