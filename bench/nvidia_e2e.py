"""Real images end to end: preprocess -> convert -> infer -> postprocess on the cpu target and on nvidia
(fp32, fp16), then top-1/top-5 and per-image cosine similarity of the nvidia outputs against the cpu ones.

    python bench/nvidia_e2e.py --images data/imagenet-sample --labels data/imagenet-sample/val_label.txt \
        --workdir /tmp/e2e --json nvidia_e2e.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.files import write_json  # noqa: E402
from harness.outputs import read_outputs  # noqa: E402
from harness.parity import max_abs_error, row_cosine, row_top1_agrees  # noqa: E402

RUNS = {"cpu": ("cpu", "fp32"), "nvidia_fp32": ("nvidia", "fp32"), "nvidia_fp16": ("nvidia", "fp16")}


def stage(*argv: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    print(f"[{time.perf_counter() - started:6.1f} s] python -m {' '.join(argv)} -> {proc.returncode}", flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m {' '.join(argv)} failed: {(proc.stdout + proc.stderr)[-1500:]}")
    return proc.stdout


def run_target(name: str, target: str, precision: str, args, bins: Path) -> dict:
    convert_dir = args.workdir / f"convert_{name}"
    stage("convert", "--model", args.model, "--target", target, "--precision", precision, "--output", str(convert_dir),
          *(["--option", "engine=torch"] if target == "nvidia" else []))
    stage("infer", "--model", str(convert_dir), "--input", str(bins), "--output", str(args.workdir / "results"),
          "--output_dirname", name, "--outfmt", "NPY", "--batchsize", str(args.batch), "--no-progress")
    result_dir = args.workdir / "results" / name
    stage("postprocess", "--result", str(result_dir), "--labels", str(args.labels))
    table = json.loads((result_dir / "result.json").read_text())
    summary = json.loads((result_dir.parent / f"{result_dir.name}_summary.json").read_text())
    values = {item["key"]: item["value"] for item in table["value"]}
    return {"top1": values.get("Top1 accuracy"), "top5": values.get("Top5 accuracy"),
            "images": values.get("Number of images"), "device": summary["engine"].get("device_name"),
            "variant": summary["engine"].get("variant"),
            "compute_only_img_s": round(summary["throughput"]["compute_only"], 1)}


def compare(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict:
    stems = sorted(reference)
    ref = np.stack([reference[s].reshape(-1) for s in stems]).astype(np.float64)
    got = np.stack([other[s].reshape(-1) for s in stems]).astype(np.float64)
    cosine = row_cosine(got, ref)
    same_top1 = row_top1_agrees(got, ref).mean()
    return {"images": len(stems), "cosine_min": round(float(cosine.min()), 7),
            "cosine_mean": round(float(cosine.mean()), 7), "top1_agreement": round(float(same_top1), 5),
            "max_abs_diff": round(max_abs_error(got, ref), 5)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/nvidia_e2e"))
    p.add_argument("--json", type=Path, default=Path("nvidia_e2e.json"))
    args = p.parse_args(argv)
    bins = args.workdir / "bins"
    stage("preprocess", "--input", str(args.images), "--output", str(bins), "--model", args.model, "--no-progress")
    results = {name: run_target(name, target, precision, args, bins) for name, (target, precision) in RUNS.items()}
    outputs = {name: read_outputs(args.workdir / "results" / name) for name in RUNS}
    for name in ("nvidia_fp32", "nvidia_fp16"):
        results[name]["vs_cpu"] = compare(outputs["cpu"], outputs[name])
    write_json(args.json, results, indent=2)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
