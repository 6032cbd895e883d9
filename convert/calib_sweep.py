"""int8 accuracy per calibration count (and method) on the CPU target; writes calib_sweep.json.

    python -m convert.calib_sweep --onnx work/efficientnet_lite0/efficientnet_lite0.sim.onnx \
        --data work/efficientnet_lite0/bins --labels ../shared/data/imagenet-sample/val_label.txt \
        --counts 50 100 200 500 --out report/out/calib_sweep.json

Calibration takes the first COUNT files of --calib (default: --data) in sorted stem order. When
calibration and scoring share one directory, every count is scored on the same images: those
after the largest count, so no scored image was ever a calibration image. The JSON is a list of
rows {count, method, top1, top5, precision, scored}; the first row is the fp32 reference
(count 0, method "none").
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from harness.cli import Parser, main_wrapper
from harness.files import sha256_file, write_json

TOPK = 5


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(prog="python -m convert.calib_sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--onnx", type=Path, required=True, help="the fp32 ONNX (the simplified one from convert)")
    p.add_argument("--data", type=Path, required=True, help="preprocess output directory to score on")
    p.add_argument("--calib", type=Path, default=None, help="calibration directory (default: --data)")
    p.add_argument("--labels", type=Path, required=True, help="val_label.txt: '<file name> <class index>' per line")
    p.add_argument("--counts", type=int, nargs="+", default=[50, 100, 200, 500])
    p.add_argument("--methods", nargs="+", default=["entropy"], choices=("entropy", "minmax", "percentile"))
    p.add_argument("--input-name", default="image")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--work", type=Path, default=None, help="where the int8 ONNX files go (default: beside --onnx)")
    p.add_argument("--out", type=Path, default=Path("calib_sweep.json"))
    p.add_argument("--model", default=None, help="model name for the report (default: the ONNX file's stem)")
    return p.parse_args(argv)


def scored_stems(args: argparse.Namespace, labels: dict[str, int]) -> list[str]:
    from convert.calibration import read_manifest
    from harness.errors import InputError

    stems = sorted(entry["stem"] for entry in read_manifest(args.data).files)
    same_dir = args.calib is None or args.calib.resolve() == args.data.resolve()
    stems = stems[max(args.counts):] if same_dir else stems
    stems = [s for s in stems if s in labels]
    if not stems:
        raise InputError(f"{args.data}: no labelled images left to score after the first {max(args.counts)} "
                         "(those calibrate); preprocess more images or lower --counts")
    return stems


def score(model: Path, data: Path, stems: list[str], labels: dict[str, int], batch: int) -> tuple[float, float]:
    """top-1 and top-5 accuracy in percent of one ONNX on the CPU target."""
    import numpy as np

    from convert.calibration import CalibrationSet, read_manifest
    from targets.cpu.target import CpuSession
    from tasks.classification.scoring import scored_ranks

    manifest = read_manifest(data)
    files = CalibrationSet(data, tuple(data / f"{s}.bin" for s in stems), tuple(manifest.shape), manifest.dtype)
    truth = np.array([labels[s] for s in stems])
    hits1 = hits5 = 0
    with CpuSession(model) as session:
        for start in range(0, len(stems), batch):
            logits = session.run(files.load(start, start + batch))[0]
            _, rank = scored_ranks(logits, truth[start:start + batch], TOPK)  # a NaN/inf row misses
            hits1 += int((rank == 0).sum())
            hits5 += int((rank >= 0).sum())
    return 100.0 * hits1 / len(stems), 100.0 * hits5 / len(stems)


def int8_model(args: argparse.Namespace, count: int, method: str) -> Path:
    """Built once per (ONNX, calibration set, method); the file name carries that key."""
    from convert.precision import calibration_fingerprint, make_int8_onnx

    calib = args.calib or args.data
    key = hashlib.sha256((sha256_file(args.onnx) + calibration_fingerprint(calib, count, method)).encode())
    path = (args.work or args.onnx.parent) / f"{args.onnx.stem}.int8-{method}-{count}-{key.hexdigest()[:12]}.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_int8_onnx(args.onnx, path, calib, count, method, args.input_name)
    return path


def sweep(args: argparse.Namespace) -> list[dict]:
    from tasks.classification.labels import read_labels

    labels = read_labels(args.labels)
    stems = scored_stems(args, labels)
    top1, top5 = score(args.onnx, args.data, stems, labels, args.batch)
    rows = [{"count": 0, "method": "none", "precision": "fp32", "top1": round(top1, 3), "top5": round(top5, 3),
             "scored": len(stems)}]
    print(f"fp32: top-1 {top1:.2f}%  top-5 {top5:.2f}%  on {len(stems)} images")
    for method in args.methods:
        for count in sorted(args.counts):
            top1, top5 = score(int8_model(args, count, method), args.data, stems, labels, args.batch)
            rows.append({"count": count, "method": method, "precision": "int8", "top1": round(top1, 3),
                         "top5": round(top5, 3), "scored": len(stems)})
            print(f"int8 {method} {count}: top-1 {top1:.2f}%  top-5 {top5:.2f}%")
            write_json(args.out, sweep_document(args, rows))  # each finished row survives an interruption
    write_json(args.out, sweep_document(args, rows))
    return rows


def sweep_document(args: argparse.Namespace, rows: list[dict]) -> dict:
    """What report/ reads: kind, model, and one row per (method, count); count 0 is the fp32 reference."""
    model = args.model or args.onnx.name.split(".")[0]
    return {"kind": "harness.calib_sweep", "model": model, "onnx": str(args.onnx), "rows": rows}


def run(args: argparse.Namespace) -> list[dict]:
    rows = sweep(args)
    print(f"wrote {args.out}")
    return rows


def main(argv=None) -> int:
    return main_wrapper(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
