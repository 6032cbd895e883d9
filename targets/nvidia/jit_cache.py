"""The CUDA driver's JIT cache, where part of what cuDNN compiles at run time is kept between processes.

cuDNN compiles some convolution kernels when a process first calls them (EfficientNet-Lite0's depthwise ones),
and the driver keeps its own share of that work in its JIT cache. With the cache off, the first calls of
EfficientNet-Lite0's convolutions took 5.4 s on an H200 instead of 1.6 s (docs/nvidia.md). The driver's default place, ~/.nv/ComputeCache, is
not writable where the home directory is read-only (as in many containers), and then nothing is kept; so the
session points the driver at a directory of the harness's own, before CUDA starts in the process. A path the user
chose (CUDA_CACHE_PATH) or a cache turned off (CUDA_CACHE_DISABLE=1) is left alone, and reported.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import MutableMapping


def _writable(path: Path) -> bool:
    """Whether `path` is a directory that can be written, or can be made under its nearest existing parent."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False


def _own_directories(environ: MutableMapping[str, str]) -> list[Path]:
    home = environ.get("HOME") or os.path.expanduser("~")
    base = environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return [Path(base) / "inference-harness" / "cuda-jit",
            Path(tempfile.gettempdir()) / f"inference-harness-cuda-jit-{os.getuid()}"]


def _cuda_started() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


def keep_driver_jit_cache(environ: MutableMapping[str, str] = os.environ) -> dict:
    """The JIT cache's state, for the session's info; where the driver's default place is not writable and CUDA
    has not started in this process, CUDA_CACHE_PATH is set to a writable directory of the harness's own."""
    if environ.get("CUDA_CACHE_DISABLE") == "1":
        return {"state": "off (CUDA_CACHE_DISABLE=1)"}
    if environ.get("CUDA_CACHE_PATH"):
        path = Path(environ["CUDA_CACHE_PATH"])
        return {"state": "on" if _writable(path) else "off (CUDA_CACHE_PATH is not writable)", "path": str(path)}
    default = Path(environ.get("HOME") or os.path.expanduser("~")) / ".nv" / "ComputeCache"
    if _writable(default):
        return {"state": "on", "path": str(default)}
    if _cuda_started():
        return {"state": "off (its default place is not writable, and CUDA had started)", "path": str(default)}
    for directory in _own_directories(environ):
        if _writable(directory):
            environ["CUDA_CACHE_PATH"] = str(directory)  # read by the driver when CUDA starts, here and in children
            return {"state": "on", "path": str(directory), "instead_of": str(default)}
    return {"state": "off (no writable directory for it)", "path": str(default)}
