"""Can torch.compile's ahead-of-time path (`torch.compile(...).aot_compile`, experimental) give the torch
engine a warm start of a few seconds? A probe, one GPU.

    python3 bench/nvidia_precompile_probe.py --model tf_efficientnet_lite0 --batch 64 --json precompile.json

Builds the harness artifact (fp16, bench/nvidia_engine.py build), compiles `run(module, x)` ahead of time
for one batch size with the module prepared as the `inductor` variant does (fp16, channels_last, on the
GPU; its weights are inputs of the compiled function), saves it, then in fresh processes times: importing
torch, loading the exported program and preparing the module (what `load_s` covers today), loading the
compiled function, and its first call; plus the compute-only median and the largest difference from the
module run eagerly.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

LOAD_SNIPPET = r"""
import json, sys, time
started = time.perf_counter()
import torch
sys.path.insert(0, sys.argv[3])
from targets.nvidia.torch_runtime import load_program_module
imported = time.perf_counter()
module = load_program_module(sys.argv[1]).to(device="cuda", dtype=torch.float16).to(memory_format=torch.channels_last)
prepared = time.perf_counter()
with open(sys.argv[2], "rb") as handle:
    run = torch.compiler.load_compiled_function(handle)
loaded = time.perf_counter()
x = torch.load(sys.argv[4]).cuda().contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    out = run(module, x)
torch.cuda.synchronize()
first = time.perf_counter()
pairs = []
with torch.no_grad():
    for _ in range(50):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); run(module, x); e.record(); pairs.append((s, e))
torch.cuda.synchronize()
median = sorted(a.elapsed_time(b) for a, b in pairs)[25]
reference = torch.load(sys.argv[5])
print(json.dumps({"import_s": round(imported - started, 2), "load_program_s": round(prepared - imported, 2),
                  "load_compiled_s": round(loaded - prepared, 2), "first_call_s": round(first - loaded, 2),
                  "to_first_output_s": round(first - started, 2), "median_ms": round(median, 4),
                  "max_abs_diff_vs_eager": float((out.float().cpu() - reference).abs().max())}))
"""


def run(module, x):
    return module(x)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--starts", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/precompile_probe"))
    p.add_argument("--json", type=Path, default=Path("precompile_probe.json"))
    args = p.parse_args(argv)
    import torch

    from warm_start_probe import first_line, fresh_starts, prepared_module

    artifact, module, x, reference = prepared_module(args.model, args.batch, args.workdir)
    result: dict = {"command": " ".join(sys.argv), "torch": torch.__version__, "model": args.model, "batch": args.batch}
    saved = args.workdir / f"{args.model}.bs{args.batch}.precompiled.bin"
    started = time.perf_counter()
    try:
        with torch.no_grad():
            compiled = torch.compile(run, fullgraph=True).aot_compile(((module, x), {}))
            compiled(module, x)
        compiled.save_compiled_function(str(saved))
        result["compile"] = {"seconds": round(time.perf_counter() - started, 1),
                             "mib": round(saved.stat().st_size / (1 << 20), 1)}
    except Exception as exc:
        result["compile_error"] = first_line(exc)
    print(json.dumps(result), flush=True)
    if "compile" in result:
        result["starts"] = fresh_starts(LOAD_SNIPPET, [str(artifact), str(saved), str(ROOT)], args.starts, x,
                                        reference, args.workdir)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
