"""The CUDA driver's JIT cache, where part of what cuDNN compiles at run time is kept between processes.

cuDNN compiles some convolution kernels when a process first calls them (EfficientNet-Lite0's depthwise ones),
and the driver keeps its own share of that work in its JIT cache. With the cache off, the first calls of
EfficientNet-Lite0's convolutions took 4.8-5.4 s on an H200 instead of 1.6 s (docs/nvidia.md). The driver's default
place, ~/.nv/ComputeCache, is not writable where the home directory is read-only (as in many containers), and then
nothing is kept; so the target points the driver at a directory of the harness's own, before CUDA starts in the
process. A path the user chose (CUDA_CACHE_PATH) or a cache turned off (CUDA_CACHE_DISABLE=1) is left alone, and
reported.
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


def _home(environ: MutableMapping[str, str]) -> Path | None:
    """The home directory, or None where there is none to speak of (no HOME and no passwd entry: "~" stays "~")."""
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) if os.path.isabs(home) else None


def _own_directories(environ: MutableMapping[str, str]) -> list[Path]:
    home, xdg = _home(environ), environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else (home / ".cache" if home else None)
    return [*([base / "inference-harness" / "cuda-jit"] if base else []),
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
    home = _home(environ)
    default = str(home / ".nv" / "ComputeCache") if home else "~/.nv/ComputeCache (no home directory)"
    if home and _writable(home / ".nv" / "ComputeCache"):
        return {"state": "on", "path": default}
    if _cuda_started():
        return {"state": "off (its default place is not writable, and CUDA had started)", "path": default}
    for directory in _own_directories(environ):
        if not _writable(directory):
            continue
        try:  # made here, so that the driver never meets a missing directory
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            continue
        environ["CUDA_CACHE_PATH"] = str(directory)  # read by the driver when CUDA starts, here and in children
        return {"state": "on", "path": str(directory), "instead_of": default}
    return {"state": "off (no writable directory for it)", "path": default}
