"""EfficientNet-Lite0's depthwise blocks alone on the GPU: cuDNN's depthwise convolution against the taps form of
`inductor-dw` (fx_passes.depthwise_as_taps), each block compiled by inductor in fp16 channels_last. A block is
what surrounds each depthwise convolution in the model: 1x1 expand + bias + ReLU6, the depthwise convolution +
bias + ReLU6, 1x1 project. It prints GPU ms per block call (median of repeats of CUDA-event-timed loops) and saves
the Triton code inductor generated for the taps form, so that its kernels can be read (docs/nvidia.md, "Variant
inductor-dw"; the run there also timed the pass's earlier form, before its NHWC layout).

    python3 bench/nvidia_depthwise_kernels.py --batch 64 --json /tmp/out/dw.json --code-dir /tmp/out/dw_code
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (channels of the depthwise convolution, input height = width, kernel, stride): one of each kind in the model
SHAPES = ((32, 112, 3, 1), (144, 56, 3, 1), (240, 28, 5, 1), (672, 14, 5, 1), (1152, 7, 5, 1), (144, 56, 5, 2))


def block(channels: int, kernel: int, stride: int):
    import torch
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.expand = nn.Conv2d(channels // 6 or 1, channels, 1)
            self.depthwise = nn.Conv2d(channels, channels, kernel, stride, kernel // 2, groups=channels)
            self.project = nn.Conv2d(channels, max(channels // 6, 8), 1)

        def forward(self, x):
            y = torch.clamp(self.expand(x), 0, 6)
            return self.project(torch.clamp(self.depthwise(y), 0, 6))

    torch.manual_seed(0)
    return Block().eval()


def forms(channels: int, size: int, kernel: int, stride: int, batch: int, device):
    import torch

    from targets.nvidia import fx_passes
    model = block(channels, kernel, stride)
    example = torch.randn(batch, model.expand.in_channels, size, size)
    with torch.no_grad():
        want = model(example)
    taps = torch.export.export(model, (example,)).module()
    assert fx_passes.depthwise_as_taps(taps) == 1
    prepared = {name: module.to(device).half().to(memory_format=torch.channels_last)
                for name, module in (("cudnn", model), ("taps", taps))}
    x = example.to(device).half().contiguous(memory_format=torch.channels_last)
    return prepared, x, want


def block_ms(fn, x, loops: int, repeats: int) -> float:
    """ms per call: CUDA events around each loop on a GPU, the wall clock on the CPU (a smoke test there)."""
    import time

    import torch
    for _ in range(10):
        fn(x)
    times = []
    for _ in range(repeats):
        if x.is_cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(loops):
                fn(x)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / loops)
        else:
            started = time.perf_counter()
            for _ in range(loops):
                fn(x)
            times.append((time.perf_counter() - started) * 1e3 / loops)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--loops", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", type=Path)
    p.add_argument("--code-dir", type=Path, help="write the Triton code of the taps form here")
    args = p.parse_args(argv)
    import torch
    from torch._inductor.utils import run_and_get_code

    device = torch.device(args.device)
    rows = []
    for channels, size, kernel, stride in SHAPES:
        prepared, x, want = forms(channels, size, kernel, stride, args.batch, device)
        row = {"channels": channels, "size": size, "kernel": kernel, "stride": stride, "batch": args.batch}
        for name, fn in prepared.items():
            torch._dynamo.reset()
            compiled = torch.compile(fn, backend="inductor", dynamic=False)
            with torch.no_grad():
                got, code = run_and_get_code(compiled, x)
                error = float((got.float().cpu() - want).norm() / want.norm())
                row[name] = {"ms": round(block_ms(compiled, x, args.loops, args.repeats), 4), "relative_error": error}
            if args.code_dir and name != "cudnn":
                args.code_dir.mkdir(parents=True, exist_ok=True)
                (args.code_dir / f"{name}_c{channels}_s{size}_k{kernel}_st{stride}_b{args.batch}.py").write_text(
                    "\n\n# ----\n\n".join(code))
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("| channels | size | kernel | stride | cuDNN ms | taps ms | x cuDNN |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        base = r["cudnn"]["ms"]
        print(f"| {r['channels']} | {r['size']} | {r['kernel']} | {r['stride']} | {base:.4f} | {r['taps']['ms']:.4f} | "
              f"{r['taps']['ms'] / base:.2f} |")
    if args.json:
        from harness.files import write_json
        write_json(args.json, {"command": " ".join(["bench/nvidia_depthwise_kernels.py", *(argv or sys.argv[1:])]),
                               "torch": torch.__version__, "device": torch.cuda.get_device_name(device)
                               if device.type == "cuda" else "cpu", "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
