"""Energy on the GPU, per model and batch size, pure mode (docs/energy.md):

1. `python -m infer` as `make bench` runs it (the summary.json of the report): NVML's energy counter over
   the timed loop against the integral of NVML power samples over the same window, their ratio (the
   cross-check: within 5 %), average and peak watts, J/image, img/J and the throughput;
2. in this process, pairs of pure runs with the meter off and on (order alternating): median ms per
   batch of each side and the median per-pair ratio, so that sampling is shown not to slow the loop.

    python3 bench/energy_gpu.py --model-dir work/models/seresnext101_32x4d/nvidia-fp16-bs256-b1_64_256 \
        --batches 1 64 256 --out /tmp/energy [--time-limit 15] [--pairs 3] [--pair-seconds 5] [--json F]

The convert directory needs an artifact taking every batch size (make convert BATCHES="1 64 256");
bench/gpu_session.sh energy does both models.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.contracts import ConvertManifest  # noqa: E402
from harness.energy import UnavailableMeter  # noqa: E402
from harness.files import write_json  # noqa: E402
from infer.loop import run_pure  # noqa: E402
from infer.model_source import load_model  # noqa: E402
from targets import target_for_artifact  # noqa: E402


def infer_run(model_dir: Path, batch: int, out: Path, args) -> dict:
    argv = [sys.executable, "-m", "infer", "--model", str(model_dir), "--batchsize", str(batch),
            "--output", str(out), "--output_dirname", f"bs{batch}", "--warmup_count", str(args.warmup),
            "--loop", "50", "--time_limit", str(args.time_limit), "--device", args.device, "--no-progress"]
    subprocess.run(argv, check=True, cwd=Path(__file__).resolve().parents[1])
    summary = json.loads((out / f"bs{batch}_summary.json").read_text())
    energy = summary["energy"]
    return {"model": summary["model"], "precision": summary["precision"], "batch": batch,
            "device": summary["engine"].get("device_name"), "img_s_compute": summary["throughput"]["compute_only"],
            "img_s_e2e": summary["throughput"]["end_to_end"], "seconds": energy["seconds"],
            "counter_j": energy["joules"], "sampled_j": energy.get("sampled_joules"),
            "ratio": energy.get("counter_to_sampled_ratio"), "avg_w": energy["average_watts"],
            "peak_w": energy["peak_watts"], "j_per_img": energy["joules_per_image"],
            "img_per_j": energy["images_per_second_per_watt"], "counter": energy["counter"],
            "unavailable": energy["unavailable"], "samples": energy["samples"]}


def overhead(model_dir: Path, batches: list[int], args) -> dict[int, dict]:
    manifest, artifact = load_model(model_dir)
    target = target_for_artifact(manifest.target, manifest.target_info.get("options", {}))
    out = {}
    with target.open(artifact, manifest, args.device) as session:
        meter, off = session.energy_meter(), UnavailableMeter("off")  # a meter restarts cleanly at each start()
        for batch in batches:
            runs: dict[str, list[float]] = {"off": [], "on": []}
            for pair in range(args.pairs):
                for side in (("off", "on") if pair % 2 == 0 else ("on", "off")):
                    session.use_energy_meter(lambda chosen=(meter if side == "on" else off): chosen)
                    result = run_pure(session, batch, loop=10, warmup_count=args.warmup, time_limit=args.pair_seconds)
                    runs[side].append(1000.0 * result.wall_s / result.batches)
            ratios = [b / a for a, b in zip(runs["off"], runs["on"])]
            out[batch] = {"off_ms": statistics.median(runs["off"]), "on_ms": statistics.median(runs["on"]),
                          "on_off": statistics.median(ratios)}
    return out


def fmt(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", type=Path, required=True, nargs="+")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    p.add_argument("--out", type=Path, required=True, help="the run summaries go under OUT as bs<N>_summary.json")
    p.add_argument("--device", default="0")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--time-limit", type=float, default=15.0, help="seconds of each infer run's timed loop")
    p.add_argument("--pairs", type=int, default=3, help="meter off/on pairs per batch size (0: skip part 2)")
    p.add_argument("--pair-seconds", type=float, default=5.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rows = []
    for model_dir in args.model_dir:
        model = ConvertManifest.read(model_dir).model
        measured = []
        for batch in args.batches:
            started = time.perf_counter()
            measured.append(infer_run(model_dir, batch, args.out / model, args))
            print(f"{model} bs{batch}: infer done in {time.perf_counter() - started:.0f} s: "
                  f"{json.dumps(measured[-1])}", flush=True)
        costs = overhead(model_dir, args.batches, args) if args.pairs else {}
        rows += [r | costs.get(r["batch"], {}) for r in measured]
    print(f"{'model':<20} {'prec':<5} {'bs':>4} {'img/s comp':>10} {'img/s e2e':>10} {'s':>6} {'counter J':>10} "
          f"{'sampled J':>10} {'ratio':>6} {'avg W':>6} {'peak W':>6} {'J/img':>8} {'img/J':>7} "
          f"{'ms off':>8} {'ms on':>8} {'on/off':>6}")
    for r in rows:
        print(f"{r['model'][:20]:<20} {r['precision']:<5} {r['batch']:>4} {r['img_s_compute']:>10.1f} "
              f"{r['img_s_e2e']:>10.1f} {r['seconds']:>6.2f} {fmt(r['counter_j'], 1):>10} {fmt(r['sampled_j'], 1):>10} "
              f"{fmt(r['ratio'], 4):>6} {fmt(r['avg_w'], 1):>6} {fmt(r['peak_w'], 1):>6} {fmt(r['j_per_img'], 5):>8} "
              f"{fmt(r['img_per_j'], 2):>7} {fmt(r.get('off_ms'), 3):>8} {fmt(r.get('on_ms'), 3):>8} "
              f"{fmt(r.get('on_off'), 4):>6}")
        if r["unavailable"]:
            print(f"  energy unavailable: {r['unavailable']}")
    print(f"device: {rows[0]['device'] if rows else '-'}; counter: {rows[0]['counter'] if rows else '-'}")
    if args.json:
        write_json(args.json, rows, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
