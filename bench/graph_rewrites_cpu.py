"""The torch engine's graph rewrites on real timm architectures, compiled by inductor on the CPU: how many
convolutions each rewrite takes and how far the compiled output lies from the unmodified timm module (float32,
random weights, seed 0). It checks that a rewrite keeps the function at model scale and that inductor accepts
it, not speed: the rewrites are for the GPU (docs/nvidia.md). The compile time printed includes inductor's own
caches, which an earlier run may have filled.

    python bench/graph_rewrites_cpu.py --json docs/measurements/local2core_graph_rewrites_cpu.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.files import write_json  # noqa: E402

# MobileNetV3-Large: SE blocks read the output of some of its depthwise convolutions, which the pass leaves to
# cuDNN; EfficientNet-B0 (SE blocks) and ConvNeXt-Tiny (LayerNorm): all of them
CASES = (("tf_efficientnet_lite0", "depthwise_as_taps"), ("mobilenetv3_large_100", "depthwise_as_taps"),
         ("mobilenetv2_100", "depthwise_as_taps"), ("efficientnet_b0", "depthwise_as_taps"),
         ("convnext_tiny", "depthwise_as_taps"),
         ("seresnext26d_32x4d", "conv1x1_relu_as_gemm"),
         ("resnet50", "conv1x1_relu_as_gemm"),
         ("seresnext26d_32x4d", "pooled_conv_as_reduction"), ("efficientnet_b0", "pooled_conv_as_reduction"),
         ("mobilenetv3_large_100", "pooled_conv_as_reduction"), ("resnet50", "pooled_conv_as_reduction"),
         ("tf_efficientnet_lite0", "pooled_conv_as_reduction"), ("mobilenetv2_100", "pooled_conv_as_reduction"),
         ("convnext_tiny", "pooled_conv_as_reduction"),
         *((name, "cudnn_epilogues") for name in ("resnet50", "seresnext26d_32x4d", "tf_efficientnet_lite0",
                                                  "mobilenetv2_100", "mobilenetv3_large_100", "efficientnet_b0",
                                                  "convnext_tiny")))
ARGUMENTS = {"pooled_conv_as_reduction": {"max_batch": 32}}  # the default variant's limit


def cudnn_epilogues(module) -> int:
    """The `inductor-cudnn` variant's rewrites in its order (the depthwise taps and, at this batch size, the SE
    reductions first); the count is of the convolutions fuse_conv_add_relu and fuse_conv_relu took. cuDNN's fused
    convolutions exist as CUDA kernels only, so here they are computed by their definition (convolution, add, ReLU):
    this checks which convolutions the rewrites take and that the rewritten graph exports and compiles, not cuDNN."""
    from targets.nvidia.fx_passes import fused_convs_by_definition_on_the_cpu
    from targets.nvidia.torch_runtime import apply_rewrites
    from targets.nvidia.variants import resolve_variant

    if not CPU_DEFINITIONS:
        CPU_DEFINITIONS.append(fused_convs_by_definition_on_the_cpu())
    done = apply_rewrites(module, resolve_variant("inductor-cudnn"), on_cuda=True)
    return done["conv_add_relu_fused"] + done["conv_relu_fused"]


CPU_DEFINITIONS: list = []  # kept alive for the process


def check(name: str, rewrite_name: str, batch: int) -> dict:
    import numpy as np
    import torch

    from convert.frameworks import import_with_torchvision
    from targets.nvidia import fx_passes

    timm = import_with_torchvision("timm")
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        want = model(x).numpy()
    module = torch.export.export(model, (x,)).module()
    folded = fx_passes.fold_conv_bn(module)
    grouped = sum(1 for n in module.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.conv2d.default
                  and len(n.args) > 6 and n.args[6] > 1)
    rewrite = cudnn_epilogues if rewrite_name == "cudnn_epilogues" else getattr(fx_passes, rewrite_name)
    rewritten = rewrite(module, **ARGUMENTS.get(rewrite_name, {}))
    module = module.to(memory_format=torch.channels_last)
    started = time.perf_counter()
    if rewrite_name == "cudnn_epilogues":  # exported again, through the shape functions, as the compile child does
        module = torch.export.export(module, (x.contiguous(memory_format=torch.channels_last),)).module()
    compiled = torch.compile(module, backend="inductor", dynamic=False)
    with torch.no_grad():
        got = compiled(x.contiguous(memory_format=torch.channels_last)).numpy()
    error = float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want.astype(np.float64)))
    return {"model": name, "rewrite": rewrite_name, "batch": batch, "bn_folded": folded, "grouped_convolutions": grouped,
            "rewritten": rewritten,
            "compile_and_first_call_s": round(time.perf_counter() - started, 1), "relative_error": error,
            "top1_agree": float((got.argmax(1) == want.argmax(1)).mean())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--rewrites", nargs="+", choices=sorted({r for _, r in CASES}), help="only these rewrites' cases")
    args = p.parse_args(argv)
    import torch

    rows = []
    for name, rewrite_name in CASES:
        if args.rewrites and rewrite_name not in args.rewrites:
            continue
        rows.append(check(name, rewrite_name, args.batch))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "torch": torch.__version__, "rows": rows}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
