"""Where a warm start's seconds go below the harness: each step of loading a saved inductor graph and its first
call, timed in fresh processes, one after the other and overlapped in two threads.

    python3 bench/nvidia_startup_probe.py --cache DIR --batch 64 --json F

DIR is a compile-cache directory the torch engine left (weights.pt, weights.json, bs<N>.inductor.bin; e.g. under
the artifact's .compile-cache/ after bench/nvidia_warm_start.py). Scenarios, each in its own process, `--repeats`
times, steps timed as the process's age (seconds since the kernel started it):
  serial        import torch, CUDA init, context, weights, inductor imports, graph load, three calls
  imports_aside the inductor imports in a second thread while the main thread opens CUDA and loads the weights
  cuda_aside    CUDA init, context and weights in a second thread while the main thread imports inductor
  call_aside    serial, then the first call in a second thread and the next in the main thread: are cuDNN's
                per-shape plans kept per thread (the main thread's call slow again) or per process (fast)?
  benchmark     serial with cudnn.benchmark on (timing every convolution algorithm on its first call)
  profiled      serial, the first call under torch.profiler (host side): which ops its seconds went to
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

SCENARIOS = ("serial", "imports_aside", "cuda_aside", "call_aside", "benchmark", "profiled")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.startup import process_age_s  # noqa: E402


class Steps:
    def __init__(self) -> None:
        self._origin = time.perf_counter() - (process_age_s() or 0.0)
        self.ages: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        self.ages[name] = round(time.perf_counter() - self._origin, 3)


def child(scenario: str, cache: Path, batch: int) -> dict:
    steps = Steps()
    import torch

    steps("import torch")
    torch.backends.cudnn.benchmark = scenario == "benchmark"
    device = torch.device("cuda", 0)
    state: dict = {}

    def open_cuda() -> None:
        torch.cuda.init()
        steps("cuda init")
        torch.cuda.set_device(device)
        torch.empty(1, device=device)
        steps("context")
        state["weights"] = torch.load(cache / "weights.pt", map_location=device, weights_only=True)
        torch.cuda.synchronize()
        steps("weights")

    def imports() -> None:
        importlib.import_module("torch._inductor.standalone_compile")
        from torch._inductor.codecache import torch_key

        torch_key()
        steps("inductor imports")

    if scenario == "imports_aside":
        aside = threading.Thread(target=imports)
        aside.start()
        open_cuda()
        aside.join()
    elif scenario == "cuda_aside":
        aside = threading.Thread(target=open_cuda)
        aside.start()
        imports()
        aside.join()
    else:
        open_cuda()
        imports()
    steps("both ready")
    graph = torch._inductor.CompiledArtifact.load(path=str(cache / f"bs{batch}.inductor.bin"), format="binary")
    steps("graph loaded")
    names = json.loads((cache / "weights.json").read_text())["names"]
    dtype = state["weights"][0].dtype
    shape = (batch, 3, 224, 224)
    x = torch.randn(shape, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
    weights = state["weights"]

    def call(label: str) -> None:
        with torch.no_grad():
            graph(*weights, x)
        torch.cuda.synchronize()
        steps(label)

    if scenario == "profiled":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            call("call 1")
        table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=25, max_name_column_width=70)
        for n in (2, 3):
            call(f"call {n}")
        return {"scenario": scenario, "steps": steps.ages, "first_call_ops": table}
    if scenario == "call_aside":
        aside = threading.Thread(target=call, args=("call 1 (second thread)",))
        aside.start()
        aside.join()
        call("call 2 (main thread)")
        call("call 3 (main thread)")
    else:
        for n in (1, 2, 3):
            call(f"call {n}")
    return {"scenario": scenario, "weights": len(names), "steps": steps.ages}


def run_child(scenario: str, cache: Path, batch: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", scenario, "--cache", str(cache), "--batch", str(batch)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"scenario": scenario, "error": proc.stderr[-1500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--child", choices=SCENARIOS)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.cache, args.batch)))
        return 0
    rows = []
    for _ in range(args.repeats):  # interleaved, so a drift of the machine touches every scenario alike
        for scenario in args.scenarios:
            row = run_child(scenario, args.cache, args.batch)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("| scenario | " + " | ".join(["median age at graph loaded s", "call 1 done s", "call 3 done s"]) + " |")
    print("|---|---|---|---|")
    for scenario in args.scenarios:
        done = [r["steps"] for r in rows if r["scenario"] == scenario and "steps" in r]
        if not done:
            continue
        first = [s[k] for s in done for k in s if k.startswith("call 1")]
        cells = [statistics.median(s["graph loaded"] for s in done), statistics.median(first),
                 statistics.median(s["call 3 (main thread)" if scenario == "call_aside" else "call 3"] for s in done)]
        print(f"| {scenario} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
