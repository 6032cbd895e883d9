"""Dataset mode (.bin files in, outputs out) against pure inference, through `python -m infer`.

For each run, end-to-end throughput = inputs / host walltime from the first batch read to the last
output written; the ratio is dataset-mode end-to-end over pure-mode end-to-end at the same batch.
Reading (threads or worker processes, `--io`) and output formats are compared in one run,
interleaved over rounds, medians reported.

With no --model-dir the null target stands in for a device: `--compute-ms` is its time per batch
(0: the loop's own ceiling, nothing to wait for). Any convert output works as --model-dir, e.g. the
nvidia target's (bench/gpu_session.sh dataset).

    python bench/loop_io.py --files 4096 --batch 64 --compute-ms 0 7.3 --json loop_io.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_random_bins(directory: Path, count: int, sample_shape: tuple[int, ...]) -> Path:
    """`count` float32 files of `sample_shape` (reused when already there), then flushed to disk and
    read once, so every run reads them from the page cache, as a rerun over preprocessed data does."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    nbytes = int(np.prod(sample_shape)) * 4
    for index in range(count):
        path = directory / f"img_{index:05d}.bin"
        if not path.exists() or path.stat().st_size != nbytes:
            rng.standard_normal(sample_shape, dtype=np.float32).tofile(path)
    os.sync()
    for path in directory.iterdir():
        path.read_bytes()
    return directory


def infer(model_dir: Path, out_root: Path, dirname: str, *extra: str) -> dict:
    """One `python -m infer` run into a fresh directory; returns its run summary plus the process time."""
    shutil.rmtree(out_root / dirname, ignore_errors=True)
    argv = [sys.executable, "-m", "infer", "--model", str(model_dir), "--output", str(out_root),
            "--output_dirname", dirname, "--no-progress", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {(proc.stdout + proc.stderr)[-800:]}")
    summary = json.loads((out_root / f"{dirname}_summary.json").read_text())
    summary["process_s"] = round(time.perf_counter() - started, 1)
    return summary


def figures(summary: dict) -> dict:
    throughput = summary["throughput"]
    engine = summary["engine"]
    return {"compute_only_img_s": round(throughput["compute_only"], 1),
            "end_to_end_img_s": round(throughput["end_to_end"], 1), "images": summary["num_inputs"],
            "process_s": summary["process_s"], "io": summary.get("extra", {}).get("io"),
            "loop_seconds": summary.get("extra", {}).get("loop_seconds"),
            "median_ms": {phase: t.get("median") for phase, t in summary.get("timings", {}).items()},
            "host_registered": engine.get("host_registered"),
            "device_name": engine.get("device_name"), "variant": engine.get("variant"),
            "emulated_compute_ms": engine.get("emulated_compute_ms")}


def dataset_ratio(model_dir: Path, bins: Path, out_root: Path, batch: int = 64, ios=("threads", "processes"),
                  formats=("BIN", "TXT"), rounds: int = 1, options: tuple[str, ...] = (),
                  pure_loop: int = 200) -> dict:
    """Pure inference vs .bin files in and each output format out, for each --io, interleaved."""
    common = ["--batchsize", str(batch)] + [a for o in options for a in ("--option", o)]
    runs: dict[str, list[dict]] = {}
    for _ in range(rounds):
        summary = infer(model_dir, out_root, "pure", *common, "--loop", str(pure_loop), "--warmup_count", "10")
        runs.setdefault("pure", []).append(figures(summary))
        for io in ios:
            for fmt in formats:
                summary = infer(model_dir, out_root, f"dataset_{io}_{fmt}", *common, "--input", str(bins),
                                "--outfmt", fmt, "--io", io, "--warmup_count", "5")
                runs.setdefault(f"dataset_{io}_{fmt}", []).append(figures(summary))
    pure = statistics.median(r["end_to_end_img_s"] for r in runs["pure"])
    result = {"batch": batch, "files": len(list(bins.glob("*.bin"))), "rounds": rounds, "options": list(options),
              "pure_end_to_end_img_s": pure, "runs": runs, "ratio_to_pure": {}}
    for key, values in runs.items():
        if key != "pure":
            result["ratio_to_pure"][key] = round(statistics.median(r["end_to_end_img_s"] for r in values) / pure, 3)
    return result


def null_model(work: Path, batch: int, preprocess: Path | None = None, name: str = "") -> Path:
    """The null target's artifact; with a preprocess directory, for its input form (uint8 takes pixels)."""
    model_dir = work / (name or f"null-bs{batch}")
    extra = ["--preprocess", str(preprocess)] if preprocess is not None else []
    subprocess.run([sys.executable, "-m", "convert", "--model", "efficientnet_lite0", "--target", "null",
                    "--batchsize", str(batch), "--output", str(model_dir), *extra], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return model_dir


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, help="a convert output (default: the null target)")
    p.add_argument("--files", type=int, default=4096)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--compute-ms", type=float, nargs="+", default=[0.0],
                   help="null target only: emulated device time per batch, one comparison each")
    p.add_argument("--io", nargs="+", default=["threads", "processes"])
    p.add_argument("--formats", nargs="+", default=["BIN", "TXT"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path("/tmp/loop_io"))
    p.add_argument("--results", type=Path, nargs="+",
                   help="result roots to compare, e.g. a disk folder and one on /dev/shm (default: WORK/results)")
    p.add_argument("--json", type=Path, default=Path("loop_io.json"))
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    bins = write_random_bins(args.work / "bins", args.files, (3, 224, 224))
    from harness.perf import cpu_model, usable_cores

    result = {"command": " ".join(sys.argv), "cpu": cpu_model(), "cores": usable_cores(), "comparisons": []}
    model_dir = args.model_dir or null_model(args.work, args.batch)
    options = [()] if args.model_dir else [(f"compute_ms={ms}",) for ms in args.compute_ms]
    for out_root in args.results or [args.work / "results"]:
        for option in options:
            comparison = dataset_ratio(model_dir, bins, out_root, args.batch, args.io, args.formats, args.rounds,
                                       option, pure_loop=200 if args.model_dir else 100)
            result["comparisons"].append({"results": str(out_root), **comparison})
    args.json.write_text(json.dumps(result, indent=2))
    for comparison in result["comparisons"]:
        print(f"outputs to {comparison['results']}, options {comparison['options']}: pure {comparison['pure_end_to_end_img_s']:.0f} img/s end-to-end")
        for key, ratio in comparison["ratio_to_pure"].items():
            e2e = statistics.median(r["end_to_end_img_s"] for r in comparison["runs"][key])
            print(f"  {key:28s} {e2e:9.0f} img/s  {ratio:.3f} of pure")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
