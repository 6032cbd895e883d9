"""CUDA device selection through torch: the only place the nvidia target asks torch.cuda about devices."""
from __future__ import annotations

import os
import re
import sys

from harness.errors import MissingDependencyError, TargetError
from harness.startup import mark

TORCH_HINT = "pip install torch (a CUDA build, e.g. from https://download.pytorch.org/whl/cu130)"


def import_torch():
    fresh = "torch" not in sys.modules
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", TORCH_HINT, why="the nvidia target uses it for GPU memory "
                                     "and streams") from None
    if fresh:  # a later run in the same process finds it imported: no step of its start
        mark("torch imported")
    return torch


def is_out_of_memory(torch, exc: BaseException) -> bool:
    """A batch too large for the device: no compile problem, so no fallback, no cache rebuild, no refusal."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or isinstance(exc.__cause__, torch.cuda.OutOfMemoryError)


def parse_device_index(device: str | int) -> int:
    """'0', '1', 'cuda:1' -> the index; several devices are the infer stage's job, one per worker."""
    text = str(device).strip()
    if "," in text:
        raise TargetError(f"device {text!r}: a session runs on one GPU; pass several to infer "
                          "(--device 0,1), which starts one worker per GPU")
    match = re.fullmatch(r"(?:cuda:)?(\d+)", text)
    if not match:
        raise TargetError(f"device {text!r} is not a GPU index; pass 0, 1, ... (as nvidia-smi numbers "
                          "them under CUDA_VISIBLE_DEVICES)")
    return int(match.group(1))


def cuda_device(device: str | int):
    """The torch.device for `device`, made current, or one line saying why there is none."""
    torch = import_torch()
    index = parse_device_index(device)
    if torch.version.cuda is None:
        raise TargetError(f"this torch ({torch.__version__}) is built without CUDA; install a CUDA build "
                          f"({TORCH_HINT}) or use TARGET=cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        extra = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        raise TargetError(f"no CUDA device is visible{extra}; run on a machine with an NVIDIA GPU and "
                          "driver, or use TARGET=cpu")
    if index >= count:
        names = ", ".join(f"{i}: {torch.cuda.get_device_name(i)}" for i in range(count))
        raise TargetError(f"CUDA device {index} does not exist; this machine has {count} ({names})")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def gpu_identity(index: int) -> dict:
    torch = import_torch()
    props = torch.cuda.get_device_properties(index)
    return {"gpu_name": props.name, "compute_capability": f"{props.major}.{props.minor}",
            "gpu_memory_mib": props.total_memory // (1 << 20), "multiprocessors": props.multi_processor_count}
