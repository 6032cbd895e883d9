"""Where an nvidia session's end-to-end time goes: per-batch CUDA event timelines and host times.

    python3 bench/nvidia_overlap.py --models tf_efficientnet_lite0 resnet50 --batches 64 256 \
        --forms float32 uint8 --json overlap.json

For each model, input form (`float32` CHW, or `uint8` HWC pixels normalised by the program's first op,
convert/input_form.py), batch size and host loop (`pinned`: the session's allocate_host and the heap
frozen, as `infer` runs; `pageable`: a plain numpy array, which the session stages through its own
pinned buffer, and no freeze: the loop bench/nvidia_measure.py used to time end-to-end with), runs the
loop of infer's pure mode (two batches in flight) and reports: compute-only and end-to-end img/s, the
median H2D / compute ms, how much of each H2D ran while the previous batch computed (`h2d overlap`,
1.0 = entirely beside compute), the median GPU idle gap between two batches' compute, and the host's
median ms in submit and in collect.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from harness.files import write_json  # noqa: E402
from harness.parity import max_abs_error, row_cosine, row_top1_agrees  # noqa: E402
from harness.stats import end_to_end_throughput  # noqa: E402
from targets import get_target  # noqa: E402
from targets.nvidia.timeline import compute_gap_ms, h2d_overlap_share  # noqa: E402


def pure_loop(session, data: np.ndarray, iters: int, frozen: bool, depth: int = 2) -> dict:
    """infer's pure-mode loop (infer/loop.py run_pure), with the host's time in submit and collect."""
    from infer.loop import frozen_heap

    session.warmup(data, 5, depth)
    session.reset_timings()
    with frozen_heap() if frozen else contextlib.nullcontext():
        return _timed(session, data, iters, depth)


def _timed(session, data: np.ndarray, iters: int, depth: int) -> dict:
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
    e2e = end_to_end_throughput(iters * batch, wall)
    return {"compute_img_s": round(1000 * batch / compute, 1), "e2e_img_s": round(e2e, 1),
            "e2e_ratio": round(e2e / (1000 * batch / compute), 3),
            "compute_ms": round(compute, 3), "h2d_ms": round(statistics.median(t.h2d_ms for t in timings), 3),
            "h2d_overlap": round(h2d_overlap_share(timeline), 3), "compute_gap_ms": round(compute_gap_ms(timeline), 3),
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


MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # the resnet preset; any fixed pair will do


def build_form(model, name: str, form: str, args):
    """The torch-engine artifact for one input form (bench/nvidia_engine.py build, uint8: behind the prefix)."""
    import nvidia_engine
    from convert.export import Uint8Normalize
    from harness.contracts import TensorSpec

    if form == "float32":
        return nvidia_engine.build(model, name, args.precision, args.batches, args.workdir / name / form)
    wrapped = Uint8Normalize(model, MEAN, STD).eval()
    return nvidia_engine.build(wrapped, name, args.precision, args.batches, args.workdir / name / form,
                               spec_in=TensorSpec("image", [-1, 224, 224, 3], "uint8"))


def reference_outputs(session, form: str, pixels: np.ndarray) -> np.ndarray:
    """The same images through either form: pixels as they are, or normalised to float32 CHW on the host."""
    if form == "uint8":
        return session.run(pixels)[0]
    floats = (pixels.transpose(0, 3, 1, 2) / 255.0 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]
    return session.run(np.ascontiguousarray(floats, dtype=np.float32))[0]


def measure_model(args, name: str) -> tuple[list[dict], dict]:
    import nvidia_engine

    model = nvidia_engine.load_model(name)
    pixels = np.random.default_rng(7).integers(0, 256, (max(args.batches), 224, 224, 3), dtype=np.uint8)
    rows, outputs = [], {}
    for form in args.forms:
        artifact, manifest = build_form(model, name, form, args)
        with get_target("nvidia", engine="torch").open(artifact, manifest, "0") as session:
            for batch in args.batches:
                for kind in args.host:
                    row = {"model": name, "form": form, "batch": batch, "host": kind,
                           **pure_loop(session, input_batch(session, kind, batch), args.iters, kind == "pinned")}
                    print(json.dumps({k: v for k, v in row.items() if k != "timeline_head"}), flush=True)
                    rows.append(row)
            outputs[form] = reference_outputs(session, form, pixels).astype(np.float64)
    return rows, compare_forms(name, outputs)


def compare_forms(name: str, outputs: dict) -> dict:
    if set(outputs) != {"float32", "uint8"}:
        return {}
    a, b = outputs["float32"], outputs["uint8"]
    found = {"model": name, "images": len(a), "max_abs_diff": max_abs_error(a, b),
             "max_abs_logit": float(np.abs(a).max()), "cosine_min": float(row_cosine(a, b).min()),
             "top1_same": int(row_top1_agrees(a, b).sum())}
    print("uint8 vs float32 outputs:", json.dumps(found), flush=True)
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0"])
    p.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    p.add_argument("--host", nargs="+", default=["pageable", "pinned"])
    p.add_argument("--forms", nargs="+", default=["float32", "uint8"])
    p.add_argument("--precision", default="fp16")
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/nvidia_overlap"))
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rows, comparisons = [], []
    for name in args.models:
        found, compared = measure_model(args, name)
        rows += found
        comparisons += [compared] if compared else []
        if args.json:  # after each model: a later one running out of time loses only its own rows
            write_json(args.json, {"rows": rows, "uint8_vs_float32": comparisons}, indent=1)
    print("| model | input | bs | host loop | compute img/s | e2e img/s | e2e/compute | H2D ms | compute ms | "
          "H2D beside compute | GPU gap ms | submit ms | collect ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['form']} | {r['batch']} | {r['host']} | {r['compute_img_s']:.0f} | {r['e2e_img_s']:.0f} | "
              f"{r['e2e_ratio']:.3f} | {r['h2d_ms']:.3f} | {r['compute_ms']:.3f} | {r['h2d_overlap']:.2f} | "
              f"{r['compute_gap_ms']:.3f} | {r['submit_ms']:.3f} | {r['collect_ms']:.3f} |")
    for c in comparisons:
        print(f"{c['model']}: uint8 vs float32 on {c['images']} random images: max |diff| {c['max_abs_diff']:.4g} "
              f"(max |logit| {c['max_abs_logit']:.3g}), cosine min {c['cosine_min']:.6f}, same top-1 {c['top1_same']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
