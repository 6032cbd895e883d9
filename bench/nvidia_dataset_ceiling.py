"""Dataset mode at high rates against what the host's files allow, for float32 and uint8 inputs.

    python3 bench/nvidia_dataset_ceiling.py --model tf_efficientnet_lite0 --batch 256 --files 20480 \
        --forms float32 uint8 --json dataset_ceiling.json

Per input form: the torch-engine artifact (fp16, the batch size only), FILES `.bin` files of that form
(flushed, then read once so that every run reads them from the page cache, as a rerun over preprocessed
data does), and in one run:
- the host ceiling, with no harness around it (bench/host_io_limits.py's loops, with as many threads as
  infer has I/O workers): input files read per second, and 4 000-byte output files created per second;
  the ceiling in img/s is the lower of the two, since every image is one file in and one file out;
- `infer` pure inference (`--loop`) and `infer --input` with BIN outputs (the default `--io`), end to end.
Goal: dataset end-to-end >= 90 % of min(ceiling, pure inference).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from infer.readers import io_workers  # noqa: E402

SHAPES = {"float32": ((3, 224, 224), np.float32), "uint8": ((224, 224, 3), np.uint8)}
OUTPUT_BYTES = 4000  # 1000 float32 logits, one BIN file per image


def write_bins(directory: Path, count: int, form: str) -> Path:
    """`count` files of one random sample each (content does not change read cost), page-cached."""
    shape, dtype = SHAPES[form]
    rng = np.random.default_rng(7)
    sample = (rng.integers(0, 256, shape, dtype=np.uint8) if dtype == np.uint8
              else rng.standard_normal(shape, dtype=np.float32)).tobytes()
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = directory / f"img_{index:05d}.bin"
        if not path.exists() or path.stat().st_size != len(sample):
            path.write_bytes(sample)
    os.sync()
    for path in directory.iterdir():
        path.read_bytes()
    return directory


def host_ceiling(bins: Path, scratch: Path, threads: int, rounds: int) -> dict:
    import host_io_limits

    paths = sorted(bins.glob("*.bin"))
    payload = bytes(OUTPUT_BYTES)
    reads = [host_io_limits.read_all(paths, threads) for _ in range(rounds)]
    writes = [host_io_limits.write_all(scratch, len(paths), threads, False, payload) for _ in range(rounds)]
    shutil.rmtree(scratch, ignore_errors=True)
    read, write = statistics.median(reads), statistics.median(writes)
    return {"threads": threads, "read_files_s": round(read), "write_files_s": round(write),
            "ceiling_img_s": round(min(read, write)), "file_bytes": paths[0].stat().st_size,
            "read_gb_s": round(read * paths[0].stat().st_size / 1e9, 2)}


def measure_form(args, model, form: str) -> dict:
    import loop_io
    from nvidia_overlap import build_form

    build_args = argparse.Namespace(precision="fp16", batches=[args.batch], workdir=args.workdir)
    artifact, _ = build_form(model, args.model, form, build_args)
    model_dir = artifact.parent
    bins = write_bins(args.workdir / f"bins_{form}", args.files, form)
    ceiling = host_ceiling(bins, args.workdir / "scratch_out", io_workers(), args.rounds)
    print(form, "host:", json.dumps(ceiling), flush=True)
    roots = args.results or [args.workdir / "results"]
    common = ("--batchsize", str(args.batch))
    pure = loop_io.figures(loop_io.infer(model_dir, roots[0], f"pure_{form}", *common, "--loop", "200",
                                         "--warmup_count", "10"))
    runs = {}
    for root in roots:
        for workers in args.io_workers:
            key = f"{root} ({workers or 'default'} workers)"
            runs[key] = loop_io.figures(loop_io.infer(model_dir, root, f"dataset_{form}", *common, "--input", str(bins),
                                                      "--outfmt", "BIN", "--warmup_count", "5",
                                                      "--io_workers", str(workers)))
    dataset = next(iter(runs.values()))
    bound = min(ceiling["ceiling_img_s"], pure["end_to_end_img_s"])
    row = {"form": form, "batch": args.batch, "files": args.files, "host": ceiling, "pure": pure, "dataset": dataset,
           "dataset_by_results_root": {root: r["end_to_end_img_s"] for root, r in runs.items()},
           "bound_img_s": bound, "dataset_vs_bound": round(dataset["end_to_end_img_s"] / bound, 3),
           "dataset_vs_pure": round(dataset["end_to_end_img_s"] / pure["end_to_end_img_s"], 3)}
    print(form, "infer:", json.dumps({k: row[k] for k in ("bound_img_s", "dataset_vs_bound", "dataset_vs_pure")}),
          "pure", pure["end_to_end_img_s"], "dataset", row["dataset_by_results_root"], flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--files", type=int, default=20480)
    p.add_argument("--forms", nargs="+", default=["float32", "uint8"], choices=tuple(SHAPES))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--io-workers", type=int, nargs="+", default=[0], help="infer --io_workers values (0: its default)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/dataset_ceiling"))
    p.add_argument("--results", type=Path, nargs="+",
                   help="result roots for the dataset runs, e.g. the disk and /dev/shm (default: WORKDIR/results)")
    p.add_argument("--json", type=Path, default=Path("dataset_ceiling.json"))
    args = p.parse_args(argv)
    import nvidia_engine

    model = nvidia_engine.load_model(args.model)
    rows = []
    for form in args.forms:
        rows.append(measure_form(args, model, form))
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    print("| input | img/s read | img/s written | ceiling | pure e2e | dataset e2e | dataset / min(ceiling, pure) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['form']} | {r['host']['read_files_s']} | {r['host']['write_files_s']} | {r['host']['ceiling_img_s']} "
              f"| {r['pure']['end_to_end_img_s']:.0f} | {r['dataset']['end_to_end_img_s']:.0f} | {r['dataset_vs_bound']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
