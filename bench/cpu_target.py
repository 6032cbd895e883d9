"""CPU target measurements, each side by side in one run (medians, ratios):

1. ONNX Runtime CPU target vs torch eager, SE-ResNeXt101_32x4d, bs 8 (random weights).
2. `infer` over a .bin directory with BIN and TXT outputs, reading and writing in threads and in worker
   processes (--io), vs its own pure-inference throughput (end-to-end).
3. The null target: the loop's own overhead per batch.

    python bench/cpu_target.py [--work work/bench] [--rounds 5] [--skip-torch] [--repeats 7]

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
    return json.loads((out / f"{name}_summary.json").read_text())


def dataset_vs_pure(work: Path, bs: int = 8, repeats: int = 5, sample: Path = SAMPLE, clean: bool = False,
                    ort_threads: tuple[int, ...] = (), only: tuple[str, ...] = (),
                    targets: tuple[str, ...] = ("cpu", "null")) -> dict:
    """Each repeat runs pure inference and then every dataset mode (in an order that rotates), each into
    a directory of its own; a mode's ratio is the median over repeats of its throughput over the pure
    run of the same repeat, so drift of the machine's speed between repeats cancels.

    Nothing is deleted unless `clean`, and then only at the end: on ext4 without a journal, creating a
    file costs a scan over the inodes deleted in the last minutes (`recently_deleted` in the kernel's
    inode allocator), which made outputs written after deleting an earlier run's files up to 30x slower
    to create, and would do the same to a measurement started right after this one.
    `ort_threads` adds BIN runs of the cpu target with fewer ONNX Runtime threads than the pure run's;
    `only` keeps just the named modes (BIN-threads, TXT-processes, ...).
    """
    prep = work / "prep-lite0"
    sh("-m", "preprocess", "--input", str(sample), "--output", str(prep), "--model", "efficientnet_lite0",
       "--no-progress")
    common = {f"{fmt}-{io}": ["--input", str(prep), "--outfmt", fmt, "--io", io]
              for fmt in ("BIN", "TXT") for io in ("threads", "processes")}
    runs_root = work / f"runs-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = {}
    for target in targets:
        model_dir = convert("efficientnet_lite0", target, bs, work / f"lite0-{target}")
        batches = str(-(-1000 // bs))
        flags = dict(common)
        if target == "cpu":
            for n in ort_threads:
                flags[f"pure-ort{n}"] = ["--loop", batches, "--option", f"threads={n}"]
                flags[f"BIN-threads-ort{n}"] = [*common["BIN-threads"], "--option", f"threads={n}"]
        modes = [mode for mode in flags if not only or mode in only or "-ort" in mode]
        found: dict[str, list[float]] = {mode: [] for mode in ["pure", *modes]}
        ms_per_batch: dict[str, list[float]] = {mode: [] for mode in modes}
        for repeat in range(repeats):
            pure = infer_json(model_dir, runs_root, f"{target}-pure-{repeat}", "--loop", batches,
                              "--batchsize", str(bs), "--warmup_count", "3")
            found["pure"].append(pure["throughput"]["end_to_end"])
            for mode in modes[repeat % len(modes):] + modes[:repeat % len(modes)]:
                s = infer_json(model_dir, runs_root, f"{target}-{mode}-{repeat}", *flags[mode],
                               "--batchsize", str(bs), "--warmup_count", "3")
                found[mode].append(s["throughput"]["end_to_end"])
                ms_per_batch[mode].append(s["throughput"]["wall_s"] * 1000 / s["num_batches"])
        row = {"pure_img_s": statistics.median(found["pure"]), "repeats": repeats}
        for mode in modes:
            ratios = [d / p for d, p in zip(found[mode], found["pure"])]
            row[f"{mode}_img_s"] = statistics.median(found[mode])
            row[f"{mode}_ratio"] = statistics.median(ratios)
            row[f"{mode}_ratio_range"] = [min(ratios), max(ratios)]
            row[f"{mode}_ms_per_batch"] = statistics.median(ms_per_batch[mode])
        rows[target] = row
    if clean:
        shutil.rmtree(runs_root)
    else:
        print(f"outputs left in {runs_root}")
    return {"model": "efficientnet_lite0", "batch": bs, "images": 1000, "rows": rows,
            "modes": {target: [m for m in rows[target] if m.endswith("_ratio")] for target in rows}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=ROOT / "work" / "bench")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--skip-torch", action="store_true", help="only the infer loop measurements")
    p.add_argument("--sample", type=Path, default=SAMPLE, help="the sample images (part 2)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats of each infer run (part 2)")
    p.add_argument("--clean", action="store_true",
                   help="delete every run's outputs at the end (part 2; see dataset_vs_pure on why not)")
    p.add_argument("--ort-threads", type=int, nargs="*", default=[],
                   help="also run BIN outputs with this many ONNX Runtime threads (part 2)")
    p.add_argument("--only", nargs="*", default=[], help="dataset modes to run, e.g. BIN-threads (part 2)")
    p.add_argument("--targets", nargs="*", default=["cpu", "null"], help="part 2's targets")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    a = ort_vs_torch(args.work, args.rounds) if not args.skip_torch else {}
    if a:
        print(f"SE-ResNeXt101 bs8: ORT {a['ort_img_s']:.2f} img/s ({a['ort_median_ms']:.1f} ms), torch eager "
              f"{a['torch_img_s']:.2f} img/s ({a['torch_median_ms']:.1f} ms): {a['ratio']:.2f}x")
    b = dataset_vs_pure(args.work, repeats=args.repeats, sample=args.sample, clean=args.clean,
                        ort_threads=tuple(args.ort_threads), only=tuple(args.only), targets=tuple(args.targets))
    for target, row in b["rows"].items():
        print(f"{target:>5} lite0 bs8: pure {row['pure_img_s']:.1f} img/s end-to-end")
        for mode in (m[:-len("_ratio")] for m in b["modes"][target]):
            low, high = row[f"{mode}_ratio_range"]
            ratio = (f", {row[f'{mode}_ratio']:.1%} of pure (median of {row['repeats']} paired runs, range "
                     f"{low:.1%}-{high:.1%})") if target != "null" else ""  # null's pure mode does nothing
            print(f"      {mode:17s} {row[f'{mode}_img_s']:8.1f} img/s{ratio}, "
                  f"{row[f'{mode}_ms_per_batch']:.3f} ms per batch")
    print(json.dumps({"bench": "cpu_target", "ort_vs_torch": a, "dataset_vs_pure": b}))


if __name__ == "__main__":
    main()
