"""What drawing pure mode's random batch costs a start: normals (as before) against the uniform values with the
same mean and variance that harness/random_data.py now draws, in place, float32, side by side; medians of
--rounds.

    python bench/random_input.py --batches 64 256
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.random_data import fill_random  # noqa: E402


def normals(data: np.ndarray) -> None:
    np.random.default_rng(0).standard_normal(dtype=np.float32, out=data)


def seconds(draw, data: np.ndarray, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        draw(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rows = []
    for batch in args.batches:
        data = np.empty((batch, 3, args.size, args.size), np.float32)
        before, after = seconds(normals, data, args.rounds), seconds(fill_random, data, args.rounds)
        rows.append({"batch": batch, "normal_s": round(before, 4), "uniform_s": round(after, 4),
                     "mean": float(data.mean()), "std": float(data.std()), "zeros": int(data.size - np.count_nonzero(data))})
        print(f"bs{batch}: normals {before:.3f} s, uniform {after:.3f} s ({before / after:.1f}x); uniform mean "
              f"{data.mean():+.4f}, std {data.std():.4f}, zeros {rows[-1]['zeros']}")
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
