"""Where the compute time that `warm_aside` costs comes from (docs/nvidia.md: warm processes with the option ran
their timed loop about 2 % slower, batch after batch, not only at the start).

    python3 bench/nvidia_aside_probe.py --models tf_efficientnet_lite0 seresnext101_32x4d --loop 1000 --json F

Per model, fp16, after a cold process has filled the compile cache: warm `infer` processes of three kinds,
interleaved, --runs of each:
- `default`: the first call, warm-up runs and CUDA graph capture on the main thread;
- `warm_aside`: cuDNN's plans built on the device thread from the recorded convolutions, then the first call
  and the capture there;
- `aside, nothing warmed`: the same device thread makes the first call and the capture, but no recorded
  convolution runs first (cuDNN builds each plan from the graph's own tensors).
If the third runs at the default's speed, the plans built from the recorded list are the slower ones; if it
runs at `warm_aside`'s, preparing on the second thread is (on the H200 it was the former, docs/nvidia.md).

`--kernels`: each process also profiles 20 replays of its captured graph before it closes (torch.profiler, GPU
time per kernel name, bench/nvidia_kernel_profile.py), and the bench prints the kernels whose time per batch
differs most between the kinds: which convolutions the warmed plans run differently.

`--option-sets A B ...` replaces the three kinds by warm `infer` processes with those target options ("none" or
"key=value,key=value"), each set first filling its own compile cache in a process that is not counted. With
`--kernels` it lists what an `infer` process runs for a variant, against `bench/nvidia_kernel_profile.py
--variant`'s listing of the same variant inside the bench's process (docs/nvidia.md: `inductor-gemm` computed
4.6 % slower than the default in `infer` processes and faster in the bench's):

    python3 bench/nvidia_aside_probe.py --models seresnext101_32x4d --option-sets none variant=inductor-gemm --kernels
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from harness.files import write_json  # noqa: E402
from nvidia_warm_start import NO_OPTIONS, infer_process  # noqa: E402
from targets.nvidia.compile_cache import CACHE_DIRNAME  # noqa: E402

NOTHING_WARMED = "import targets.nvidia.torch_runtime as r\nr.warm_convolutions = lambda torch, device, entries: 0"
KINDS = {"default": (NO_OPTIONS, ""), "warm_aside": ("warm_aside=1", ""),
         "aside, nothing warmed": ("warm_aside=1", NOTHING_WARMED)}
# Before the session closes: GPU time per kernel name over 20 replays of each captured graph, into a JSON file.
KERNELS_HOOK = """
import json, sys
sys.path.insert(0, {bench!r})
import targets.nvidia.pipeline as _pipeline
from nvidia_kernel_profile import profile as _profile
_close = _pipeline.CudaPipelineSession._close_impl
def _close_impl(self):
    try:  # a profiler that fails costs the listing, not the run's own figures
        rows = {{str(b): _profile(self._torch, e.launch, 20) for b, e in self._executables.items()}}
    except Exception as exc:
        rows = {{"error": f"{{type(exc).__name__}}: {{exc}}"}}
    try:
        with open({path!r}, "w") as f:
            json.dump(rows, f)
    finally:
        _close(self)
_pipeline.CudaPipelineSession._close_impl = _close_impl
"""


def kernels_hook(path: Path) -> str:
    return KERNELS_HOOK.format(bench=str(ROOT / "bench"), path=str(path))


def kernel_differences(per_kind: dict[str, list[dict]], top: int = 15) -> list[dict]:
    """Kernel names with their GPU us per batch in each kind, the largest differences from the first kind first."""
    table: dict[str, dict[str, float]] = {}
    for kind, rows in per_kind.items():
        for row in rows:
            table.setdefault(row["name"], {})[kind] = row["us_per_batch"]
    first = next(iter(per_kind))
    spread = [{"name": name, **{k: round(v.get(k, 0.0), 2) for k in per_kind},
               "largest_difference_us": round(max(abs(v.get(k, 0.0) - v.get(first, 0.0)) for k in per_kind), 2)}
              for name, v in table.items()]
    return sorted(spread, key=lambda r: -r["largest_difference_us"])[:top]


def main() -> int:
    import nvidia_engine

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--loop", type=int, default=1000)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/nvidia_aside"))
    p.add_argument("--json", type=Path)
    p.add_argument("--kernels", action="store_true", help="list each kind's kernels too (20 profiled replays)")
    p.add_argument("--option-sets", nargs="+", help="warm processes with these target options instead of the kinds")
    args = p.parse_args()
    kinds = {options: (options, "") for options in args.option_sets} if args.option_sets else KINDS
    rows: list[dict] = []
    for name in args.models:
        model = nvidia_engine.load_model(name)
        artifact, _ = nvidia_engine.build(model, name, "fp16", [args.batch], args.workdir / name)
        shutil.rmtree(artifact.parent / CACHE_DIRNAME, ignore_errors=True)
        results = args.workdir / "results"
        pycache = args.workdir / "harness-pycache"  # the stages' bytecode cache, as in bench/nvidia_warm_start.py
        cold = infer_process(artifact.parent, args.batch, results, f"{name}-cold", loop=20, harness_cache=pycache)
        print(name, "cold:", cold.get("error") or cold.get("compile_path"), flush=True)
        for options in [o for o in args.option_sets or [] if o != NO_OPTIONS]:
            # as in bench/nvidia_warm_start.py: options that change the cache's key (another variant) compile into
            # a cache of their own, so each set's first process, not counted, may be a cold one
            first = infer_process(artifact.parent, args.batch, results, f"{name}-first", options=options, loop=20,
                                  harness_cache=pycache)
            print(name, options, "first:", first.get("error") or first.get("compile_path"), flush=True)
        for run in range(args.runs):
            for kind, (options, preamble) in kinds.items():
                kernels = args.workdir / f"{name}-{run}-{re.sub('[^A-Za-z0-9=-]+', '_', kind)}.kernels.json"
                kernels.unlink(missing_ok=True)
                hook = kernels_hook(kernels) if args.kernels else ""
                row = {"model": name, "kind": kind, "run": run,
                       **infer_process(artifact.parent, args.batch, results, f"{name}-{run}", options=options,
                                       loop=args.loop, preamble="\n".join(filter(None, (preamble, hook))),
                                       harness_cache=pycache)}
                if kernels.is_file():
                    listed = json.loads(kernels.read_text())
                    row["kernels"] = listed.get(str(args.batch), [])
                    if "error" in listed:
                        row["kernels_error"] = listed["error"]
                        print(f"  kernels not listed: {listed['error']}", flush=True)
                age = (row.get("startup") or {}).get("process_age_at_first_timed_batch_s")
                print(json.dumps({**{k: row.get(k) for k in ("model", "kind", "error", "compute_shape",
                                                             "img_s_compute")}, "first_timed_batch_s": age}),
                      flush=True)
                rows.append(row)
        if args.json:
            write_json(args.json, rows, indent=1)
    print("| model | kind | processes | median compute ms/batch | x default | warmed aside |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        base = None
        for kind in kinds:
            done = [r for r in rows if r["model"] == name and r["kind"] == kind and "error" not in r]
            if not done:
                print(f"| {name} | {kind} | 0 | - | - | - |")
                continue
            ms = median(r["compute_shape"]["median_ms"] for r in done)
            base = base or ms
            warmed = ((done[0].get("compile_path") or {}).get("convolutions_warmed_aside") or {}).get(str(args.batch))
            print(f"| {name} | {kind} | {len(done)} | {ms:.4f} | {base / ms:.4f} | {json.dumps(warmed)} |")
    for name in args.models:
        per_kind = {kind: next((r["kernels"] for r in rows if r["model"] == name and r["kind"] == kind
                                and r.get("kernels")), []) for kind in kinds}
        if not all(per_kind.values()):
            continue
        print(f"\n{name}: kernels whose GPU us per batch differ most between the kinds (first run of each)")
        print("| kernel | " + " | ".join(kinds) + " |")
        print("|---|" + "---|" * len(kinds))
        for r in kernel_differences(per_kind):
            print(f"| {r['name'][:90]} | " + " | ".join(f"{r[k]:.1f}" for k in kinds) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
