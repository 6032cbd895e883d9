"""Where an nvidia session's end-to-end time goes: per-batch CUDA event timelines and host times.

    python3 bench/nvidia_overlap.py --model tf_efficientnet_lite0 --batches 64 256 --json overlap.json

For each batch size and host input kind (`pinned`: the session's allocate_host, as `infer` uses;
`pageable`: a plain numpy array, which the session stages through its own pinned buffer), runs the
loop of infer's pure mode (two batches in flight) and reports: compute-only and end-to-end img/s, the
median H2D / compute ms, how much of each H2D ran while the previous batch computed (`h2d overlap`,
1.0 = entirely beside compute), the median GPU idle gap between two batches' compute, and the host's
median ms in submit and in collect.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from targets import get_target  # noqa: E402


def overlap_share(timeline: list[dict]) -> float:
    """Median share of batch n+1's H2D that lies inside batch n's compute interval."""
    shares = []
    for before, after in zip(timeline, timeline[1:]):
        length = after["h2d_end"] - after["h2d_start"]
        inside = min(after["h2d_end"], before["compute_end"]) - max(after["h2d_start"], before["compute_start"])
        if length > 0:
            shares.append(max(0.0, inside) / length)
    return statistics.median(shares) if shares else float("nan")


def compute_gaps(timeline: list[dict]) -> float:
    gaps = [after["compute_start"] - before["compute_end"] for before, after in zip(timeline, timeline[1:])]
    return statistics.median(gaps) if gaps else float("nan")


def pure_loop(session, data: np.ndarray, iters: int, depth: int = 2) -> dict:
    """infer's pure-mode loop (infer/loop.py run_pure), with the host's time in submit and collect."""
    session.warmup(data, 5)
    session.record_timeline()
    pending, submit_ms, collect_ms = [], [], []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        pending.append(session.submit(data))
        t1 = time.perf_counter()
        if len(pending) >= depth:
            session.collect(pending.pop(0))
            collect_ms.append(1000 * (time.perf_counter() - t1))
        submit_ms.append(1000 * (t1 - t0))
    while pending:
        session.collect(pending.pop(0))
    wall = time.perf_counter() - start
    timings, timeline = list(session.timings), session.timeline
    batch = data.shape[0]
    compute = statistics.median(t.compute_ms for t in timings)
    return {"compute_img_s": round(1000 * batch / compute, 1), "e2e_img_s": round(iters * batch / wall, 1),
            "e2e_ratio": round(iters * batch / wall / (1000 * batch / compute), 3),
            "compute_ms": round(compute, 3), "h2d_ms": round(statistics.median(t.h2d_ms for t in timings), 3),
            "h2d_overlap": round(overlap_share(timeline), 3), "compute_gap_ms": round(compute_gaps(timeline), 3),
            "submit_ms": round(statistics.median(submit_ms), 3), "collect_ms": round(statistics.median(collect_ms), 3),
            "timeline_head": timeline[:4]}


def input_batch(session, kind: str, batch: int) -> np.ndarray:
    spec = session.inputs()[0]
    shape, dtype = spec.batch_shape(batch), np.dtype(spec.dtype)
    rng = np.random.default_rng(batch)
    values = (rng.integers(0, 256, shape, dtype=np.uint8) if dtype == np.uint8
              else rng.standard_normal(shape, dtype=np.float32).astype(dtype))
    if kind == "pageable":
        return values
    pinned = session.allocate_host(shape, dtype)
    pinned[...] = values
    return pinned


def measure_model(args, name: str) -> list[dict]:
    import nvidia_engine

    model = nvidia_engine.load_model(name)
    artifact, manifest = nvidia_engine.build(model, name, args.precision, args.batches, args.workdir / name)
    rows = []
    with get_target("nvidia", engine="torch").open(artifact, manifest, "0") as session:
        for batch in args.batches:
            for kind in args.host:
                row = {"model": name, "batch": batch, "host": kind,
                       **pure_loop(session, input_batch(session, kind, batch), args.iters)}
                print(json.dumps({k: v for k, v in row.items() if k != "timeline_head"}), flush=True)
                rows.append(row)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0"])
    p.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    p.add_argument("--host", nargs="+", default=["pinned", "pageable"])
    p.add_argument("--precision", default="fp16")
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/nvidia_overlap"))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rows = [row for name in args.models for row in measure_model(args, name)]
    print("| model | bs | host input | compute img/s | e2e img/s | e2e/compute | H2D ms | compute ms | "
          "H2D beside compute | GPU gap ms | submit ms | collect ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['host']} | {r['compute_img_s']:.0f} | {r['e2e_img_s']:.0f} | "
              f"{r['e2e_ratio']:.3f} | {r['h2d_ms']:.3f} | {r['compute_ms']:.3f} | {r['h2d_overlap']:.2f} | "
              f"{r['compute_gap_ms']:.3f} | {r['submit_ms']:.3f} | {r['collect_ms']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
