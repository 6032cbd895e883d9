"""Dataset mode at high rates against what the host's files allow, for float32 and uint8 inputs.

    python3 bench/nvidia_dataset_ceiling.py --model tf_efficientnet_lite0 --batch 256 --files 20480 \
        --forms float32 uint8 --results /tmp/dc/results /dev/shm/dc --io-workers 8 16 --json dataset_ceiling.json

Per input form: the torch-engine artifact (fp16, the batch size only), FILES `.bin` files of that form
(flushed, then read once so that every run reads them from the page cache, as a rerun over preprocessed
data does), and in one run:
- `infer` pure inference (`--loop`), end to end;
- per results root (the disk, tmpfs) and I/O worker count: the host ceiling with no harness around it, P
  processes (P = the workers) reading the input files, creating one 4 000-byte output per input in that
  root, and both, as dataset mode does per image (bench/host_io_limits.py file_work_rate; processes, not
  threads: threads share one interpreter lock); then `infer --input` with BIN outputs into that root and
  `--io processes --io_workers P` (what `--io auto` picks on a host of 8 cores or more), end to end.
Every figure is the median of ROUNDS, interleaved. Goal: dataset end-to-end >= 90 % of min(ceiling, pure),
the ceiling being the read+write rate of the same root and worker count.

`--dma-load` measures the read+write ceiling a second time while a child process copies the same bytes per image
host to device, paced at that round's pure end-to-end rate (in batches from one pinned buffer): the memory
traffic the GPU's input copies add to the file work in dataset mode. The bound is then that rate, when it
is the lower one. `--dma-device cpu` paces host-to-host copies instead (any machine: the code path, not the
GPU's figure).

`--null-compute-ms MS` runs it with no GPU: the null target stands in for the device, taking MS per batch
(for EfficientNet-Lite0 fp16 bs256 on the H200, 5.6), so the loop's own I/O can be checked on any machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from infer.readers import io_workers  # noqa: E402

SHAPES = {"float32": ((3, 224, 224), np.float32), "uint8": ((224, 224, 3), np.uint8)}
SAMPLE_IMAGES = ROOT.parent / "shared" / "data" / "imagenet-sample"


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


def host_ceiling(bins: Path, scratch: Path, processes: int, batch: int, works: tuple[str, ...] | None = None) -> dict:
    """Files per second of each kind of file work (`works`, default all), `processes` processes, outputs under
    `scratch`, reads into rows of a batch-sized buffer."""
    import host_io_limits

    paths = sorted(bins.glob("*.bin"))
    return {work: host_io_limits.file_work_rate(paths, processes, work, None if work == "read" else scratch, batch)
            for work in works or host_io_limits.FILE_WORK}


class PacedCopies:
    """Copies of `bytes_per_image` x `batch` bytes from one pinned host buffer to `device`, one batch each
    `batch / img_s` seconds, in a child process while the `with` block runs (its CUDA context ends with it, so the
    infer runs after it find the GPU as before). `achieved_img_s` is the rate the copies really kept: a copy slower
    than its period falls behind, it does not queue up. A child that fails raises here."""

    def __init__(self, bytes_per_image: int, batch: int, img_s: float, device: str = "cuda") -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._rate = context.Value("d", 0.0)
        self._process = context.Process(target=_paced_copies, daemon=True,
                                        args=(bytes_per_image, batch, img_s, device, self._ready, self._stop,
                                              self._rate))
        self.achieved_img_s = 0.0

    def __enter__(self) -> "PacedCopies":
        self._process.start()
        while not self._ready.wait(0.5):  # the copies run before the caller's clock starts
            if not self._process.is_alive():
                raise RuntimeError(f"the paced copies failed to start (exit code {self._process.exitcode})")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._process.join(60)
        if self._process.exitcode != 0:
            raise RuntimeError(f"the paced copies failed (exit code {self._process.exitcode}): the ceiling beside "
                               "them was measured without them")
        self.achieved_img_s = round(self._rate.value, 1)


def _paced_copies(bytes_per_image: int, batch: int, img_s: float, device: str, ready, stop, rate) -> None:
    import torch

    size = bytes_per_image * batch
    source = torch.empty(size, dtype=torch.uint8, pin_memory=device != "cpu").fill_(1)
    target = torch.empty(size, dtype=torch.uint8, device=device)
    stream = torch.cuda.Stream() if device != "cpu" else None
    period, copies = batch / img_s, 0
    ready.set()
    started = due = time.perf_counter()
    while not stop.is_set():
        if stream is None:
            target.copy_(source)
        else:
            with torch.cuda.stream(stream):
                target.copy_(source, non_blocking=True)
            stream.synchronize()
        copies += 1
        due = max(due + period, time.perf_counter())  # behind: go on from now, no catching up
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    rate.value = copies * batch / (time.perf_counter() - started)


def build_null(args, form: str) -> Path:
    """The null target's artifact for this form (uint8: convert reads the form from a uint8 preprocess)."""
    import subprocess

    import loop_io

    work = args.workdir / f"null_{form}"
    preprocess = None
    if form == "uint8":
        images = work / "images"
        images.mkdir(parents=True, exist_ok=True)
        for image in sorted(SAMPLE_IMAGES.glob("*.JPEG"))[:2]:
            if not (images / image.name).exists():
                (images / image.name).symlink_to(image)
        preprocess = work / "pre"
        subprocess.run([sys.executable, "-m", "preprocess", "--input", str(images), "--output", str(preprocess),
                        "--model", "efficientnet_lite0", "--mode", "uint8", "--no-progress"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return loop_io.null_model(work, args.batch, preprocess, name="model")


def model_dir_for(args, model, form: str) -> Path:
    if args.null_compute_ms is not None:
        return build_null(args, form)
    from nvidia_overlap import build_form

    build_args = argparse.Namespace(precision="fp16", batches=[args.batch], workdir=args.workdir)
    artifact, _ = build_form(model, args.model, form, build_args)
    return artifact.parent


def median_figures(runs: list[dict]) -> dict:
    """The run with the median end-to-end throughput, with every round's figure beside it."""
    ordered = sorted(runs, key=lambda r: r["end_to_end_img_s"])
    return {**ordered[(len(ordered) - 1) // 2], "rounds_end_to_end_img_s": [r["end_to_end_img_s"] for r in runs]}


def measure_form(args, model, form: str) -> dict:
    import loop_io

    model_dir = model_dir_for(args, model, form)
    bins = write_bins((args.bins_root or args.workdir) / f"bins_{form}", args.files, form)
    roots = args.results or [args.workdir / "results"]
    common = ["--batchsize", str(args.batch)]
    if args.null_compute_ms is not None:
        common += ["--option", f"compute_ms={args.null_compute_ms}"]
    workers = [w or io_workers() for w in args.io_workers]
    file_bytes = bins.joinpath("img_00000.bin").stat().st_size
    pure_runs, hosts, datasets = [], {}, {}
    for _ in range(args.rounds):
        pure_runs.append(loop_io.figures(loop_io.infer(model_dir, roots[0], f"pure_{form}", *common, "--loop", "200",
                                                       "--warmup_count", "10")))
        for root in roots:
            for count in workers:
                key = f"{root}, {count} workers"
                host = host_ceiling(bins, root / ".ceiling_scratch", count, args.batch)
                if args.dma_load:
                    with PacedCopies(file_bytes, args.batch, pure_runs[-1]["end_to_end_img_s"],
                                     args.dma_device) as copies:
                        beside = host_ceiling(bins, root / ".ceiling_scratch", count, args.batch, ("read+write",))
                    host["read+write, copies beside"] = beside["read+write"]
                    host["copies beside, img/s"] = copies.achieved_img_s
                hosts.setdefault(key, []).append(host)
                datasets.setdefault(key, []).append(loop_io.figures(loop_io.infer(
                    model_dir, root, f"dataset_{form}", *common, "--input", str(bins), "--outfmt", "BIN",
                    "--warmup_count", "5", "--io", "processes", "--io_workers", str(count))))
    pure = median_figures(pure_runs)
    runs = {}
    for key in datasets:
        ceiling = {work: round(statistics.median(h[work] for h in hosts[key])) for work in hosts[key][0]}
        dataset = median_figures(datasets[key])
        bound = min(ceiling.get("read+write, copies beside", ceiling["read+write"]), pure["end_to_end_img_s"])
        runs[key] = {"host_files_s": ceiling, "dataset": dataset, "bound_img_s": bound,
                     "dataset_vs_bound": round(dataset["end_to_end_img_s"] / bound, 3),
                     "dataset_vs_pure": round(dataset["end_to_end_img_s"] / pure["end_to_end_img_s"], 3)}
        print(form, key, json.dumps({"host": ceiling, "dataset": dataset["end_to_end_img_s"],
                                     "pure": pure["end_to_end_img_s"], "vs_bound": runs[key]["dataset_vs_bound"]}),
              flush=True)
    return {"form": form, "batch": args.batch, "files": args.files, "file_bytes": file_bytes,
            "rounds": args.rounds, "null_compute_ms": args.null_compute_ms, "pure": pure, "runs": runs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--files", type=int, default=20480)
    p.add_argument("--forms", nargs="+", default=["float32", "uint8"], choices=tuple(SHAPES))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--io-workers", type=int, nargs="+", default=[0], help="infer --io_workers values (0: its default)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/dataset_ceiling"))
    p.add_argument("--bins-root", type=Path,
                   help="where the input files go (default: WORKDIR); on tmpfs they need no flush to the disk "
                        "(24.7 GB for 40 960 float32 files)")
    p.add_argument("--results", type=Path, nargs="+",
                   help="result roots for the dataset runs, e.g. the disk and /dev/shm (default: WORKDIR/results)")
    p.add_argument("--json", type=Path, default=Path("dataset_ceiling.json"))
    p.add_argument("--dma-load", action="store_true",
                   help="the read+write ceiling again, with host-to-device copies of the same bytes beside it")
    p.add_argument("--dma-device", default="cuda", help="where --dma-load copies to (cpu: host to host)")
    p.add_argument("--null-compute-ms", type=float,
                   help="no GPU: the null target stands in for the device with this time per batch")
    args = p.parse_args(argv)
    model = None
    if args.null_compute_ms is None:
        import nvidia_engine

        model = nvidia_engine.load_model(args.model)
    from harness.perf import cpu_model, usable_cores

    result = {"command": " ".join(sys.argv), "cpu": cpu_model(), "cores": usable_cores(), "rows": []}
    for form in args.forms:
        result["rows"].append(measure_form(args, model, form))
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print("| input | results, workers | files/s read | created | read + created | read + created, copies beside "
          "(copies img/s) | pure e2e | dataset e2e | / bound | / pure |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in result["rows"]:
        for key, run in row["runs"].items():
            host = run["host_files_s"]
            beside = (f"{host['read+write, copies beside']} ({host['copies beside, img/s']})"
                      if "read+write, copies beside" in host else "-")
            print(f"| {row['form']} | {key} | {host['read']} | {host['write']} | {host['read+write']} | {beside} "
                  f"| {row['pure']['end_to_end_img_s']:.0f} | {run['dataset']['end_to_end_img_s']:.0f} "
                  f"| {run['dataset_vs_bound']} | {run['dataset_vs_pure']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
