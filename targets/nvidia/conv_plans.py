"""The convolutions a compiled graph runs, recorded once, so that a later process can have cuDNN build their plans
before the graph is even loaded (device_thread.py says why that saves seconds).

The compile child records each aten.convolution the graph calls: shapes, strides, storage offsets (cuDNN's plan
cache keys on the pointers' alignment too), dtypes and the convolution's parameters. A warm process runs each one
once on empty tensors laid out the same way, on the thread that will then make the graph's first call.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from harness.files import atomic_output


def convolutions_file(directory: Path, batch: int) -> Path:
    return directory / f"bs{batch}.convolutions.json"


def _tensor(t: Any) -> dict | None:
    if t is None:
        return None
    return {"shape": list(t.shape), "stride": list(t.stride()), "offset": int(t.storage_offset()),
            "dtype": str(t.dtype).removeprefix("torch.")}


def record_convolutions(torch: Any, call: Callable[[], Any]) -> list[dict]:
    """Run `call` and return the distinct convolutions it made, in order."""
    from torch.utils._python_dispatch import TorchDispatchMode

    convolution = torch.ops.aten.convolution.default
    seen: list[dict] = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is convolution:
                x, w, b, stride, padding, dilation, transposed, output_padding, groups = args
                entry = {"input": _tensor(x), "weight": _tensor(w), "bias": _tensor(b), "stride": list(stride),
                         "padding": list(padding), "dilation": list(dilation), "transposed": bool(transposed),
                         "output_padding": list(output_padding), "groups": int(groups)}
                if entry not in seen:
                    seen.append(entry)
            return func(*args, **(kwargs or {}))

    with Recorder():
        call()
    return seen


def save_convolutions(path: Path, entries: list[dict]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(entries) + "\n")


def load_convolutions(path: Path) -> list[dict]:
    """The recorded list, or none when there is no usable file (then nothing is warmed, nothing fails)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return entries if isinstance(entries, list) else []


def _empty_like_recorded(torch: Any, spec: dict | None, device: Any) -> Any:
    if spec is None:
        return None
    shape, stride, offset = spec["shape"], spec["stride"], spec["offset"]
    extent = offset + 1 + sum((n - 1) * s for n, s in zip(shape, stride) if n > 0)
    storage = torch.empty(extent, dtype=getattr(torch, spec["dtype"]), device=device)
    return storage.as_strided(shape, stride, offset)


def recorded_call(torch: Any, device: Any, entry: dict) -> Callable[[], Any]:
    """A call of one recorded convolution on empty tensors laid out as recorded (allocated now, once)."""
    x, w, b = (_empty_like_recorded(torch, entry[k], device) for k in ("input", "weight", "bias"))
    return lambda: torch.convolution(x, w, b, entry["stride"], entry["padding"], entry["dilation"],
                                     entry["transposed"], entry["output_padding"], entry["groups"])


def warm_convolutions(torch: Any, device: Any, entries: list[dict]) -> int:
    """Run each recorded convolution once on this thread (cuDNN picks and builds its plan); how many ran."""
    done = 0
    for entry in entries:
        try:
            recorded_call(torch, device, entry)()
        except Exception:  # a list from another program, or too little memory now: the first call builds it then
            continue
        done += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return done
