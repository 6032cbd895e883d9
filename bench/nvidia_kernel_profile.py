"""Where a batch's GPU time goes: the kernels of the torch engine and of torch.compile, side by side.

    python3 bench/nvidia_kernel_profile.py --model seresnext101_32x4d --batch 64 --json profile.json

Builds the harness artifact (bench/nvidia_engine.py build, fp16), then profiles ITERS plain launches (no
CUDA graph, so each kernel is seen) of (a) the torch engine's runner as a session drives it, for each
`--variant` given (default: the target's), and (b) torch.compile(mode="default") on the timm module in fp16
channels_last (unless --no-torch-compile). Prints, per kind of kernel
(convolution, GEMM, Triton-generated, layout/copy, other), the GPU ms per batch and the share of the
total, and the most expensive kernels of each.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

# First match wins: inductor names its Triton kernels after the ops they fuse ("triton_poi_fused_convolution_relu"
# is the bias and ReLU after a convolution), and cuBLAS's nvjet kernels are the 1x1 convolutions run as GEMMs.
KINDS = (("triton", re.compile(r"^triton_", re.I)),
         ("convolution", re.compile(r"conv|fprop|dgrad|implicit_gemm|cudnn", re.I)),
         ("gemm", re.compile(r"gemm|cutlass|cublas|matmul|nvjet|sm\d+_xmma", re.I)),
         ("layout/copy", re.compile(r"nchw|nhwc|transpose|copy|permute|memcpy", re.I)))


def kind_of(name: str) -> str:
    return next((kind for kind, pattern in KINDS if pattern.search(name)), "other")


def profile(torch, call, iters: int) -> list[dict]:
    """GPU microseconds per kernel name over `iters` calls (after three unprofiled ones)."""
    from torch.profiler import ProfilerActivity

    for _ in range(3):
        call()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(iters):
            call()
        torch.cuda.synchronize()
    rows = []
    for event in prof.key_averages():
        device_us = getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0)
        if device_us > 0 and event.count > 0:
            rows.append({"name": event.key, "calls_per_batch": event.count / iters, "us_per_batch": device_us / iters})
    return sorted(rows, key=lambda r: -r["us_per_batch"])


def summarise(rows: list[dict], top: int) -> dict:
    total = sum(r["us_per_batch"] for r in rows)
    kinds: dict[str, float] = {}
    for r in rows:
        kinds[kind_of(r["name"])] = kinds.get(kind_of(r["name"]), 0.0) + r["us_per_batch"]
    return {"total_ms": round(total / 1000, 3),
            "by_kind": {k: {"ms": round(v / 1000, 3), "share": round(v / total, 3)} for k, v in
                        sorted(kinds.items(), key=lambda kv: -kv[1])},
            "top": [{**r, "us_per_batch": round(r["us_per_batch"], 1), "kind": kind_of(r["name"]),
                     "name": r["name"][:140]} for r in rows[:top]]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="seresnext101_32x4d")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--variant", action="append", default=None,
                   help="torch engine variant (default: the target's); repeat to profile several, ':' = the default")
    p.add_argument("--no-torch-compile", action="store_true", help="profile the harness's variants only")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/kernel_profile"))
    p.add_argument("--json", type=Path, default=Path("kernel_profile.json"))
    args = p.parse_args(argv)
    import torch

    import nvidia_engine
    from targets.nvidia.torch_runtime import TorchRunner
    from targets.nvidia.variants import resolve_variant

    model = nvidia_engine.load_model(args.model)
    artifact, _ = nvidia_engine.build(model, args.model, "fp16", [args.batch], args.workdir)
    device = torch.device("cuda", 0)
    result = {"command": " ".join(sys.argv), "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
              "model": args.model, "batch": args.batch}
    variants = args.variant or [":"]
    for variant in variants:
        runner = TorchRunner(artifact, device, "fp16", resolve_variant(None if variant == ":" else variant),
                             (3, 224, 224))
        x = runner.make_input(args.batch)
        name = "harness" if len(variants) == 1 else f"harness {variant}"
        result[name] = summarise(profile(torch, lambda: runner.forward(x), args.iters), args.top)
        result[name]["engine"] = {k: runner.info().get(k)
                                  for k in ("variant", "compile_path", "bn_folded", "depthwise_as_taps",
                                            "pooled_conv_as_reduction")}
        runner.close()
    if not args.no_torch_compile:
        module = copy.deepcopy(model).to(device).to(dtype=torch.float16, memory_format=torch.channels_last)
        compiled = torch.compile(module, dynamic=False)
        with torch.no_grad():
            result["torch.compile"] = summarise(profile(torch, lambda: compiled(x), args.iters), args.top)
    for name in [k for k in result if k.startswith("harness") or k == "torch.compile"]:
        print(f"{name}: {result[name]['total_ms']} ms of kernels per batch")
        for kind, share in result[name]["by_kind"].items():
            print(f"  {kind:12s} {share['ms']:8.3f} ms  {share['share']:.0%}")
        for row in result[name]["top"]:
            print(f"    {row['us_per_batch']:9.1f} us x{row['calls_per_batch']:5.1f}  {row['kind']:11s} {row['name'][:90]}")
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
