"""Dataset mode vs pure inference through `python -m infer`: what reading .bin files and writing outputs costs.

Also runs two pure-mode workers side by side (one per GPU) for the multi-GPU aggregate.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_random_bins(directory: Path, count: int, sample_shape: tuple[int, ...]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for index in range(count):
        rng.standard_normal(sample_shape, dtype=np.float32).tofile(directory / f"img_{index:05d}.bin")
    return directory


def infer(model_dir: Path, out_root: Path, dirname: str, *extra: str) -> dict:
    """One `python -m infer` run; returns its summary.json (raises with the output tail on failure)."""
    argv = [sys.executable, "-m", "infer", "--model", str(model_dir), "--output", str(out_root),
            "--output_dirname", dirname, "--no-progress", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {(proc.stdout + proc.stderr)[-800:]}")
    summary = json.loads((out_root / dirname / "summary.json").read_text())
    summary["process_s"] = round(time.perf_counter() - started, 1)
    return summary


def figures(summary: dict) -> dict:
    throughput = summary["throughput"]
    return {"compute_only_img_s": round(throughput["compute_only"], 1),
            "end_to_end_img_s": round(throughput["end_to_end"], 1), "images": summary["num_inputs"],
            "process_s": summary["process_s"], "device_name": summary["engine"].get("device_name"),
            "variant": summary["engine"].get("variant"), "cuda_graphs": summary["engine"].get("cuda_graphs")}


def dataset_ratio(model_dir: Path, bins: Path, out_root: Path, batch: int = 64, loop: int = 200) -> dict:
    """Pure inference vs .bin files in and BIN / TXT files out, all at one batch size."""
    results = {"pure": figures(infer(model_dir, out_root, "pure", "--batchsize", str(batch), "--loop", str(loop),
                                     "--warmup_count", "10"))}
    for fmt in ("BIN", "TXT"):
        summary = infer(model_dir, out_root, f"dataset_{fmt}", "--input", str(bins), "--outfmt", fmt,
                        "--batchsize", str(batch), "--warmup_count", "5")
        results[f"dataset_{fmt}"] = figures(summary)
    pure = results["pure"]["end_to_end_img_s"]
    for fmt in ("BIN", "TXT"):
        results[f"dataset_{fmt}"]["end_to_end_vs_pure"] = round(results[f"dataset_{fmt}"]["end_to_end_img_s"] / pure, 3)
    return results


def multi_gpu(model_dir: Path, out_root: Path, devices: str, batch: int = 64, seconds: float = 20.0) -> dict:
    """`infer --device 0,1` (one worker per GPU, side by side) against one GPU alone, pure mode."""
    common = ("--batchsize", str(batch), "--loop", "100", "--warmup_count", "20", "--time_limit", str(seconds))
    single = infer(model_dir, out_root, "single", "--device", devices.split(",")[0], *common)
    both = infer(model_dir, out_root, "multi", "--device", devices, *common)
    one = single["throughput"]
    many = both["throughput"]
    return {"single": {"compute_only_img_s": round(one["compute_only"], 1), "end_to_end_img_s": round(one["end_to_end"], 1)},
            "multi": {"compute_only_img_s": round(many["compute_only"], 1), "end_to_end_img_s": round(many["end_to_end"], 1),
                      "per_device": many.get("per_device")},
            "scaling_compute_only": round(many["compute_only"] / one["compute_only"], 3),
            "scaling_end_to_end": round(many["end_to_end"] / one["end_to_end"], 3)}
