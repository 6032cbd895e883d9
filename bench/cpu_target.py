"""CPU target measurements, each side by side in one run (medians, ratios):

1. ONNX Runtime CPU target vs torch eager, SE-ResNeXt101_32x4d, bs 8 (random weights).
2. `infer` over a .bin directory with BIN and TXT outputs, reading and writing in threads and in worker
   processes (--io), vs its own pure-inference throughput (end-to-end).
3. The null target: the loop's own overhead per batch.

    python bench/cpu_target.py [--work work/bench] [--rounds 5]

Needs the 1000 images of ../shared/data/imagenet-sample for part 2.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample"


def sh(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def convert(model: str, target: str, bs: int, out: Path) -> Path:
    sh("-m", "convert", "--model", model, "--target", target, "--batchsize", str(bs), "--output", str(out))
    return out


def ort_vs_torch(work: Path, rounds: int, batches_per_round: int = 5) -> dict:
    import numpy as np
    import torch

    from convert.frameworks import import_timm
    from harness.contracts import ConvertManifest
    from targets import get_target

    model_dir = convert("seresnext101_32x4d", "cpu", 8, work / "sx101-cpu")
    manifest = ConvertManifest.read(model_dir)
    session = get_target("cpu").open(model_dir / manifest.artifact, manifest)
    # Speed does not depend on the weights: the same architecture, random weights, in eval mode.
    module = import_timm().create_model("seresnext101_32x4d", pretrained=False).eval()
    torch.set_num_threads(session.info()["threads"])
    x = np.random.default_rng(0).standard_normal((8, 3, 224, 224), dtype=np.float32)
    xt = torch.from_numpy(x)
    session.warmup(x, 2)
    with torch.inference_mode():
        module(xt)
        ort_ms, torch_ms = [], []
        for _ in range(rounds):  # interleaved so drift hits both alike
            for _ in range(batches_per_round):
                start = time.perf_counter()
                session.run(x)
                ort_ms.append((time.perf_counter() - start) * 1000)
            for _ in range(batches_per_round):
                start = time.perf_counter()
                module(xt)
                torch_ms.append((time.perf_counter() - start) * 1000)
    ort_med, torch_med = statistics.median(ort_ms), statistics.median(torch_ms)
    return {"model": "seresnext101_32x4d", "batch": 8, "ort_median_ms": ort_med, "torch_median_ms": torch_med,
            "ort_img_s": 8000 / ort_med, "torch_img_s": 8000 / torch_med, "ratio": torch_med / ort_med}


def infer_json(model_dir: Path, out: Path, name: str, *extra: str) -> dict:
    sh("-m", "infer", "--model", str(model_dir), "--output", str(out), "--output_dirname", name,
       "--no-progress", *extra)
    return json.loads((out / name / "summary.json").read_text())


def dataset_vs_pure(work: Path, bs: int = 8, repeats: int = 5, sample: Path = SAMPLE) -> dict:
    prep = work / "prep-lite0"
    sh("-m", "preprocess", "--input", str(sample), "--output", str(prep), "--model", "efficientnet_lite0",
       "--no-progress")
    modes = [(fmt, io) for fmt in ("BIN", "TXT") for io in ("threads", "processes")]
    rows = {}
    for target in ("cpu", "null"):
        model_dir = convert("efficientnet_lite0", target, bs, work / f"lite0-{target}")
        batches = str(-(-1000 // bs))
        runs: dict[str, list[dict]] = {"pure": [], **{f"{fmt}-{io}": [] for fmt, io in modes}}
        for _ in range(repeats):  # interleaved, medians taken: this machine's speed drifts between runs
            runs["pure"].append(infer_json(model_dir, work / "runs", f"{target}-pure", "--loop", batches,
                                           "--batchsize", str(bs), "--warmup_count", "3"))
            for fmt, io in modes:
                shutil.rmtree(work / "runs" / f"{target}-{fmt}-{io}", ignore_errors=True)
                runs[f"{fmt}-{io}"].append(infer_json(model_dir, work / "runs", f"{target}-{fmt}-{io}", "--input",
                                                      str(prep), "--outfmt", fmt, "--io", io, "--batchsize", str(bs),
                                                      "--warmup_count", "3"))
        median = {mode: statistics.median(s["throughput"]["end_to_end"] for s in found)
                  for mode, found in runs.items()}
        row = {"pure_img_s": median["pure"], "repeats": repeats}
        for mode in runs:
            if mode == "pure":
                continue
            row[f"{mode}_img_s"] = median[mode]
            row[f"{mode}_ratio"] = median[mode] / median["pure"]
            row[f"{mode}_ms_per_batch"] = statistics.median(s["throughput"]["wall_s"] * 1000 / s["num_batches"]
                                                            for s in runs[mode])
        rows[target] = row
    return {"model": "efficientnet_lite0", "batch": bs, "images": 1000, "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=ROOT / "work" / "bench")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--skip-torch", action="store_true", help="only the infer loop measurements")
    p.add_argument("--sample", type=Path, default=SAMPLE, help="the sample images (part 2)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats of each infer run (part 2)")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    a = ort_vs_torch(args.work, args.rounds) if not args.skip_torch else {}
    if a:
        print(f"SE-ResNeXt101 bs8: ORT {a['ort_img_s']:.2f} img/s ({a['ort_median_ms']:.1f} ms), torch eager "
              f"{a['torch_img_s']:.2f} img/s ({a['torch_median_ms']:.1f} ms): {a['ratio']:.2f}x")
    b = dataset_vs_pure(args.work, repeats=args.repeats, sample=args.sample)
    for target, row in b["rows"].items():
        print(f"{target:>5} lite0 bs8: pure {row['pure_img_s']:.1f} img/s end-to-end")
        for mode in ("BIN-threads", "BIN-processes", "TXT-threads", "TXT-processes"):
            print(f"      dataset {mode:14s} {row[f'{mode}_img_s']:8.1f} img/s ({row[f'{mode}_ratio']:.1%} of pure), "
                  f"{row[f'{mode}_ms_per_batch']:.3f} ms per batch")
    print(json.dumps({"bench": "cpu_target", "ort_vs_torch": a, "dataset_vs_pure": b}))


if __name__ == "__main__":
    main()
