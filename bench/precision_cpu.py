"""fp32 vs int8 (and fp16) throughput of one model on the CPU target, side by side in one run.

    python bench/precision_cpu.py --onnx work/efficientnet_lite0/efficientnet_lite0.sim.onnx \
        --calib work/efficientnet_lite0/bins --batch 8

Builds the int8 Q/DQ ONNX (calibrated on the first --count files of --calib) and the fp16 ONNX
next to --work, then times every variant in interleaved rounds on the same input batch, so a
change in machine load hits all of them alike. Prints median ms per batch, img/s and the ratio
to fp32; --json writes the same rows.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.files import sha256_file, write_json  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--onnx", type=Path, required=True, help="the fp32 ONNX (the simplified one from convert)")
    p.add_argument("--calib", type=Path, required=True, help="preprocess output directory used for int8 calibration")
    p.add_argument("--count", type=int, default=200, help="calibration files (first N in sorted order)")
    p.add_argument("--method", default="entropy", choices=("entropy", "minmax", "percentile"))
    p.add_argument("--input-name", default="image")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds over all variants")
    p.add_argument("--loop", type=int, default=10, help="timed batches per variant per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    p.add_argument("--no-fp16", action="store_true", help="skip the fp16 variant")
    p.add_argument("--work", type=Path, default=None, help="where the variants go (default: beside --onnx)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return p.parse_args(argv)


def build_variants(args: argparse.Namespace) -> dict[str, Path]:
    """fp32 is --onnx itself; int8 and fp16 are rebuilt only when their inputs changed (name = content key)."""
    from convert.precision import calibration_fingerprint, make_fp16_onnx, make_int8_onnx

    work = args.work or args.onnx.parent
    work.mkdir(parents=True, exist_ok=True)
    source_key = sha256_file(args.onnx)
    int8_key = hashlib.sha256((source_key + calibration_fingerprint(args.calib, args.count, args.method)).encode())
    variants = {"fp32": args.onnx, "int8": work / f"{args.onnx.stem}.int8-{int8_key.hexdigest()[:12]}.onnx"}
    if not variants["int8"].exists():
        make_int8_onnx(args.onnx, variants["int8"], args.calib, args.count, args.method, args.input_name)
    if not args.no_fp16:
        variants["fp16"] = work / f"{args.onnx.stem}.fp16-{source_key[:12]}.onnx"
        if not variants["fp16"].exists():
            make_fp16_onnx(args.onnx, variants["fp16"])
    return variants


def time_variants(variants: dict[str, Path], batch, args: argparse.Namespace) -> tuple[dict[str, list[float]], dict]:
    """compute ms of every timed batch per variant, and the session info (engine, threads, CPU)."""
    from targets.cpu.target import CpuSession

    sessions = {name: CpuSession(path, threads=args.threads) for name, path in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    info = sessions["fp32"].info()
    try:
        for session in sessions.values():
            session.warmup(batch, args.warmup)
        for _ in range(args.rounds):
            for name, session in sessions.items():
                session.reset_timings()
                for _ in range(args.loop):
                    session.run(batch)
                times[name].extend(t.compute_ms for t in session.timings)
    finally:
        for session in sessions.values():
            session.close()
    return times, info


def summarize(times: dict[str, list[float]], batch_size: int) -> list[dict]:
    base = statistics.median(times["fp32"])
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append({"precision": name, "batch": batch_size, "median_ms": round(median, 3),
                     "img_per_s": round(1000.0 * batch_size / median, 2), "speedup_vs_fp32": round(base / median, 3),
                     "batches": len(values)})
    return rows


def print_table(rows: list[dict], info: dict) -> None:
    print(f"CPU target (onnxruntime {info['onnxruntime']}, {info['threads']} threads, {info['device_name']}), "
          f"batch {rows[0]['batch']}, {rows[0]['batches']} timed batches each")
    print(f"{'precision':<10}{'median ms/batch':>17}{'img/s':>10}{'vs fp32':>9}")
    for row in rows:
        print(f"{row['precision']:<10}{row['median_ms']:>17.2f}{row['img_per_s']:>10.1f}{row['speedup_vs_fp32']:>8.2f}x")


def load_batch(calib_dir: Path, count: int, batch_size: int):
    from convert.calibration import select_calibration_files

    calib = select_calibration_files(calib_dir, min(count, batch_size))
    batch = calib.load(0, batch_size)
    if len(batch) < batch_size:  # fewer files than the batch: repeat them, timing does not care
        import numpy as np

        batch = np.resize(batch, (batch_size, *batch.shape[1:]))
    return batch


def main(argv=None) -> int:
    from harness.errors import HarnessError

    args = parse_args(argv)
    try:
        variants = build_variants(args)
        batch = load_batch(args.calib, args.count, args.batch)
        times, info = time_variants(variants, batch, args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    rows = summarize(times, args.batch)
    print_table(rows, info)
    if args.json:
        write_json(args.json, {"machine": info, "rows": rows, "variants": {k: str(v) for k, v in variants.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
