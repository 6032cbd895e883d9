"""What a warm start's first call spends on cuDNN: each convolution of the harness's compiled graph, its first
call (cuDNN picks an engine and builds its plan), its second, and its GPU time, timed one by one in fresh
processes under different settings.

    python3 bench/nvidia_conv_plans.py --model tf_efficientnet_lite0 --batch 64 --json F [--cudnn-log DIR]

The list of convolutions is the one the compile child records beside the saved graph (conv_plans.py), so the
shapes, strides and offsets are the graph's own. Settings, each a fresh process (`--repeats` times):
  default      as the harness runs (cuDNN heuristics, no timing)
  driver-cache-off  CUDA_CACHE_DISABLE=1: is any of it kept by the driver's JIT cache between processes?
  heuristic-b  TORCH_CUDNN_USE_HEURISTIC_MODE_B=1: cuDNN's slower, finer heuristic picks the engine
With --cudnn-log one more default process runs with cuDNN's own log (CUDNN_LOGLEVEL_DBG=3) written to DIR, so
that the engine each plan came from can be read.

With --home-unwritable two more pairs of processes run where the driver cannot keep its JIT cache in
~/.nv/ComputeCache (HOME under a file, /dev/null/home, which even root cannot create): one pair as is, one pair
where each process first calls the target's keep_driver_jit_cache (targets/nvidia/jit_cache.py) with a fresh
XDG_CACHE_HOME. The second process of that pair shows what the harness's own cache place keeps.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

SETTINGS = {"default": {}, "driver-cache-off": {"CUDA_CACHE_DISABLE": "1"},
            "heuristic-b": {"TORCH_CUDNN_USE_HEURISTIC_MODE_B": "1"}}


def child(conv_file: Path) -> dict:
    started = time.perf_counter()
    jit_cache = None
    if os.environ.get("CONV_PLANS_KEEP_JIT_CACHE") == "1":
        from targets.nvidia.jit_cache import keep_driver_jit_cache
        jit_cache = keep_driver_jit_cache()
    import torch

    from targets.nvidia.conv_plans import load_convolutions, recorded_call
    device = torch.device("cuda", 0)
    torch.empty(1, device=device)
    torch.cuda.synchronize()
    rows, opened = [], time.perf_counter() - started
    for entry in load_convolutions(conv_file):
        call = recorded_call(torch, device, entry)
        seconds = []
        for _ in range(2):
            t0 = time.perf_counter()
            call()
            torch.cuda.synchronize()
            seconds.append(time.perf_counter() - t0)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(20):
            call()
        end.record()
        end.synchronize()
        rows.append({"input": entry["input"]["shape"], "weight": entry["weight"]["shape"], "groups": entry["groups"],
                     "stride": entry["stride"], "first_s": round(seconds[0], 4), "second_s": round(seconds[1], 5),
                     "gpu_us": round(start.elapsed_time(end) * 1000 / 20, 1)})
    return {"process_s_to_cuda": round(opened, 2), "convolutions": rows, "jit_cache": jit_cache,
            "first_calls_s": round(sum(r["first_s"] for r in rows), 3)}


def files_under(directory: Path) -> int:
    return sum(1 for f in directory.rglob("*") if f.is_file()) if directory.exists() else 0


def home_unwritable(conv_file: Path, workdir: Path) -> dict:
    """Two processes in a row without a writable ~/.nv, as is and with the harness's own cache place."""
    found: dict = {}
    for name, keep in (("home-unwritable", False), ("home-unwritable, harness cache", True)):
        xdg = workdir / f"xdg-{int(keep)}"
        if xdg.exists():
            shutil.rmtree(xdg)
        env = {"HOME": "/dev/null/home", "XDG_CACHE_HOME": str(xdg), "CUDA_CACHE_PATH": "",
               "CONV_PLANS_KEEP_JIT_CACHE": "1" if keep else "0"}
        found[name] = [run_child(conv_file, env) for _ in range(2)]
        found[name][-1]["cache_files_after"] = files_under(xdg)
    return found


def run_child(conv_file: Path, env: dict) -> dict:
    merged = {k: v for k, v in {**os.environ, **env}.items() if v != ""}  # "" removes a variable
    out = subprocess.run([sys.executable, __file__, "--child", str(conv_file)], env=merged,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def recorded_list(model_name: str, batch: int, workdir: Path) -> Path:
    """Build the artifact and open the torch engine once, so that the compile child records the graph's list."""
    import torch

    import nvidia_engine
    from targets.nvidia.torch_runtime import TorchRunner
    from targets.nvidia.variants import resolve_variant
    artifact, _ = nvidia_engine.build(nvidia_engine.load_model(model_name), model_name, "fp16", [batch], workdir)
    runner = TorchRunner(artifact, torch.device("cuda", 0), "fp16", resolve_variant(None), (3, 224, 224))
    runner.forward(runner.make_input(batch))
    cache = Path(runner.info()["compile_cache"]["dir"])
    runner.close()
    found = cache / f"bs{batch}.convolutions.json"
    if not found.exists():
        raise SystemExit(f"no {found}: the compile child did not record the graph's convolutions")
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--cudnn-log", type=Path, help="also run one default process with cuDNN's log written here")
    p.add_argument("--home-unwritable", action="store_true",
                   help="also run processes without a writable ~/.nv, with and without the harness's cache place")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/conv_plans"))
    p.add_argument("--json", type=Path, default=Path("conv_plans.json"))
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    conv_file = recorded_list(args.model, args.batch, args.workdir)
    result: dict = {"command": " ".join(sys.argv), "model": args.model, "batch": args.batch, "settings": {}}
    for _ in range(args.repeats):  # interleaved, so that a drift of the machine falls on every setting
        for name, env in SETTINGS.items():
            result["settings"].setdefault(name, []).append(run_child(conv_file, env))
    if args.cudnn_log:
        args.cudnn_log.mkdir(parents=True, exist_ok=True)
        result["settings"]["default, cuDNN log"] = [run_child(conv_file, {
            "CUDNN_LOGLEVEL_DBG": "3", "CUDNN_LOGDEST_DBG": str(args.cudnn_log / "cudnn.log")})]
    if args.home_unwritable:
        result["settings"].update(home_unwritable(conv_file, args.workdir))
    for name, runs in result["settings"].items():
        firsts = [r["first_calls_s"] for r in runs]
        gpu = [sum(c["gpu_us"] for c in r["convolutions"]) for r in runs]
        print(f"{name:30s} first calls {firsts} s, GPU time of one pass {[round(g) for g in gpu]} us"
              + (f", JIT cache {runs[0]['jit_cache']}, {runs[-1]['cache_files_after']} files after"
                 if "cache_files_after" in runs[-1] else ""))
    first = result["settings"]["default"][0]["convolutions"]
    b_first = result["settings"]["heuristic-b"][0]["convolutions"]
    print("convolution (input, weight, groups, stride): first call s default / heuristic-b, GPU us default / b")
    for a, b in zip(first, b_first):
        print(f"  {a['input']} {a['weight']} g{a['groups']} s{a['stride'][0]}: {a['first_s']:.3f} / {b['first_s']:.3f}"
              f"  {a['gpu_us']:.1f} / {b['gpu_us']:.1f}")
    result["summary"] = {name: {"first_calls_s_median": statistics.median(r["first_calls_s"] for r in runs)}
                         for name, runs in result["settings"].items()}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
