"""Can an AOTInductor package give the torch engine a warm start of a few seconds? A probe, one GPU.

    python3 bench/nvidia_aoti_probe.py --model tf_efficientnet_lite0 --batch 64 --json aoti.json

Builds the harness artifact (bench/nvidia_engine.py build, fp16), prepares its module as the `inductor`
variant does (fp16, channels_last, on the GPU), exports it at one batch size and compiles it with
`torch._inductor.aoti_compile_and_package` (timed). Then, in fresh processes (as a second `infer` would
start): the seconds to import torch, to load the package, and for the first call; the compute-only median
over timed calls (CUDA events, plain launches and, when it captures, one CUDA graph); and the largest
difference from the module run eagerly in fp16.
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
imported = time.perf_counter()
runner = torch._inductor.aoti_load_package(sys.argv[1])
loaded = time.perf_counter()
x = torch.load(sys.argv[2]).cuda()
with torch.no_grad():
    out = runner(x)
    out = out[0] if isinstance(out, (list, tuple)) else out
torch.cuda.synchronize()
first = time.perf_counter()
def timed(call, n):
    pairs = []
    for _ in range(n):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); call(); e.record(); pairs.append((s, e))
    torch.cuda.synchronize()
    return sorted(a.elapsed_time(b) for a, b in pairs)[n // 2]
with torch.no_grad():
    plain = timed(lambda: runner(x), 50)
    graphed = None
    try:
        static = x.clone()
        for _ in range(3):
            runner(static)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            runner(static)
        graphed = timed(graph.replay, 50)
    except Exception as exc:
        graphed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
reference = torch.load(sys.argv[3])
print(json.dumps({"import_s": round(imported - started, 2), "load_s": round(loaded - imported, 2),
                  "first_call_s": round(first - loaded, 2), "to_first_output_s": round(first - started, 2),
                  "median_ms_plain": round(plain, 4), "median_ms_cuda_graph": graphed,
                  "max_abs_diff_vs_eager": float((out.float().cpu() - reference).abs().max())}))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--starts", type=int, default=2, help="fresh processes that load the package")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/aoti_probe"))
    p.add_argument("--json", type=Path, default=Path("aoti_probe.json"))
    args = p.parse_args(argv)
    import torch

    from warm_start_probe import first_line, fresh_starts, prepared_module

    _, module, x, reference = prepared_module(args.model, args.batch, args.workdir)
    result: dict = {"command": " ".join(sys.argv), "torch": torch.__version__, "model": args.model, "batch": args.batch}
    package = args.workdir / f"{args.model}.bs{args.batch}.aoti.pt2"
    for configs in ({"freezing": True}, {}):
        started = time.perf_counter()
        try:
            with torch.no_grad():
                program = torch.export.export(module, (x,))
                torch._inductor.aoti_compile_and_package(program, package_path=str(package), inductor_configs=configs)
            result["compile"] = {"configs": configs, "seconds": round(time.perf_counter() - started, 1),
                                 "package_mib": round(package.stat().st_size / (1 << 20), 1)}
            break
        except Exception as exc:
            result.setdefault("compile_errors", []).append(
                {"configs": configs, "error": first_line(exc)})
    print(json.dumps(result), flush=True)
    if "compile" in result:
        result["starts"] = fresh_starts(LOAD_SNIPPET, [str(package)], args.starts, x, reference, args.workdir)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
