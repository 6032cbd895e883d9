"""Preprocess throughput on a directory of images: one process vs all cores, side by side.

    python bench/preprocess_speed.py [--input ../shared/data/imagenet-sample] [--model seresnext101_32x4d]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from preprocess.cli import PreprocessConfig  # noqa: E402
from preprocess.run import run  # noqa: E402


def timed_run(src: Path, workers: int, model: str) -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix="prep-bench-"))
    try:
        start = time.perf_counter()
        manifest = run(PreprocessConfig(input=src, output=out, model=model, workers=workers, progress=False))
        return time.perf_counter() - start, len(manifest.files)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/imagenet-sample")
    p.add_argument("--model", default="seresnext101_32x4d")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    for workers in (1, cores):
        times = []
        for _ in range(args.repeats):
            seconds, count = timed_run(args.input, workers, args.model)
            times.append(seconds)
        best = min(times)
        rows.append({"workers": workers, "images": count, "seconds": best, "images_per_s": count / best})
    print(f"{'workers':>8} {'images':>7} {'best s':>8} {'img/s':>8}")
    for r in rows:
        print(f"{r['workers']:>8} {r['images']:>7} {r['seconds']:>8.2f} {r['images_per_s']:>8.1f}")
    print(f"speed-up with {cores} cores: {rows[1]['images_per_s'] / rows[0]['images_per_s']:.2f}x")
    print(json.dumps({"bench": "preprocess", "cores": cores, "rows": rows}))


if __name__ == "__main__":
    main()
