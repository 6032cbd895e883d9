"""Measurements for bench/nvidia_engine.py: the plain-PyTorch baseline and the harness session.

Both report compute-only time per batch from CUDA events (median), as SPEC section 4 defines it.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from harness.parity import row_cosine, row_top1_agrees
from harness.stats import end_to_end_throughput

ITERS = {1: 300, 8: 200, 16: 200, 32: 150, 64: 100, 128: 60, 256: 40}


def iterations(batch: int, scale: float = 1.0) -> int:
    return max(10, int(ITERS.get(batch, 50) * scale))


def median(values: list[float]) -> float:
    return float(np.median(np.asarray(values))) if values else float("nan")


def fresh_memory(torch) -> float:
    """Free what earlier measurements left (compiled modules keep their frozen weights); MiB still held."""
    import gc
    import importlib

    importlib.import_module("torch._dynamo").reset()
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated() / (1 << 20)


def baseline(model, precision: str, batch: int, iters: int, device) -> dict:
    """The module in channels_last (fp16, or fp32 with TF32), eager, captured in one CUDA graph.

    fp32 channels_last reproduces SPEC's fp32 anchors (3 066 img/s at bs64 on the H100); NCHW was slower.
    """
    import torch

    held = fresh_memory(torch)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    module = copy.deepcopy(model).to(device)
    dtype = torch.float16 if precision == "fp16" else torch.float32
    layout = torch.channels_last
    module = module.to(dtype=dtype, memory_format=layout)
    x = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype).contiguous(memory_format=layout)
    stream = torch.cuda.Stream(device)
    with torch.no_grad(), torch.cuda.stream(stream):
        for _ in range(3):
            module(x)
        stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=torch.cuda.Stream(device)):
            module(x)
        times = replay_times(torch, graph, stream, iters)
    peak = torch.cuda.max_memory_allocated(device) / (1 << 20)
    del graph, module, x
    return summary(batch, times, peak, held_before_mib=round(held, 1))


def compiled(model, precision: str, batch: int, iters: int, device) -> dict:
    """What a user would pick instead: torch.compile(mode="reduce-overhead") on the same module and layout
    as `baseline` (inductor kernels, replayed through its own CUDA graphs), one compile per batch size."""
    import torch

    held = fresh_memory(torch)
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    dtype = torch.float16 if precision == "fp16" else torch.float32
    module = copy.deepcopy(model).to(device).to(dtype=dtype, memory_format=torch.channels_last)
    run = torch.compile(module, mode="reduce-overhead", dynamic=False)
    x = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    started = time.perf_counter()
    with torch.no_grad():
        for _ in range(5):  # compile, record the graph, then replays
            run(x)
        torch.cuda.synchronize(device)
        compile_s = time.perf_counter() - started
        stream = torch.cuda.current_stream(device)
        pairs = []
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(stream)
            run(x)
            end.record(stream)
            pairs.append((start, end))
        torch.cuda.synchronize(device)
    times = [s.elapsed_time(e) for s, e in pairs]
    peak = torch.cuda.max_memory_allocated(device) / (1 << 20)
    del run, module, x
    return summary(batch, times, peak, held_before_mib=round(held, 1), compile_s=round(compile_s, 1))


def replay_times(torch, graph, stream, iters: int) -> list[float]:
    """Back-to-back replays, one event pair each, one wait at the end: the GPU never idles."""
    for _ in range(3):
        graph.replay()
    pairs = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(stream)
        graph.replay()
        end.record(stream)
        pairs.append((start, end))
    stream.synchronize()
    return [s.elapsed_time(e) for s, e in pairs]


def summary(batch: int, times: list[float], peak_mib: float, **extra) -> dict:
    ms = median(times)
    return {"batch": batch, "median_ms": round(ms, 4), "img_s": round(1000.0 * batch / ms, 1),
            "p99_ms": round(float(np.percentile(times, 99)), 4), "iters": len(times),
            "peak_mib": round(peak_mib, 1), **extra}


def session_run(target, artifact: Path, manifest, batch: int, iters: int, device: str = "0",
                warmup: int = 5, depth: int = 2) -> dict:
    """The harness session as infer's pure mode drives it: the input in the session's own (pinned) host
    memory, the heap frozen, submit ahead, collect behind, random data. (Timing end-to-end from a plain
    numpy array instead made every submit copy the batch on the host first, which at bs256 float32 cost
    as much as the compute of a fast model: bench/nvidia_overlap.py shows both.)"""
    import torch

    from infer.loop import frozen_heap

    held = fresh_memory(torch)
    values = np.random.default_rng(batch).standard_normal((batch, *manifest.input.sample_shape), dtype=np.float32)
    opened = time.perf_counter()
    with target.open(artifact, manifest, device) as session:
        data = session.allocate_host(values.shape, values.dtype)
        data[...] = values
        session.warmup(data, warmup, depth)
        prepare_s = time.perf_counter() - opened
        with frozen_heap():
            pending, start = [], time.perf_counter()
            for _ in range(iters):
                pending.append(session.submit(data))
                if len(pending) >= depth:
                    session.collect(pending.pop(0))
            while pending:
                session.collect(pending.pop(0))
            wall = time.perf_counter() - start
        timings = list(session.timings)
        info = session.info()
        (outputs,) = session.run(data)
    compute = [t.compute_ms for t in timings]
    return summary(batch, compute, info["peak_device_memory_mib"], held_before_mib=round(held, 1),
                   prepare_s=round(prepare_s, 1), data=values,
                   outputs=outputs,
                   e2e_img_s=round(end_to_end_throughput(iters * batch, wall), 1),
                   h2d_ms=round(median([t.h2d_ms for t in timings]), 4),
                   d2h_ms=round(median([t.d2h_ms for t in timings]), 4), info=info)


def fp32_reference(model, data: np.ndarray, device) -> np.ndarray:
    """The module in float32 on the GPU with TF32 off: what the harness outputs are compared against."""
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        module = copy.deepcopy(model).to(device)
        with torch.no_grad():
            out = torch.cat([module(torch.from_numpy(chunk).to(device)).float().cpu()
                             for chunk in np.array_split(data, max(1, len(data) // 64))])
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    del module
    return out.numpy()


def agreement(outputs: np.ndarray, reference: np.ndarray) -> dict:
    return {"cosine_min": round(float(row_cosine(outputs, reference).min()), 6),
            "top1_agree": round(float(row_top1_agrees(outputs, reference).mean()), 4)}
