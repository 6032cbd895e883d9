"""Python bytecode kept between the stages' processes where the environment would have every process compile
its large packages from source again.

An image that sets PYTHONDONTWRITEBYTECODE and ships packages without their .pyc files (the lent H200 image
does, for torch) makes every `infer` compile torch's modules again: 6.1 s of a warm start there
(docs/nvidia.md). Where a package's bytecode is missing beside it and Python would not write it there, the
stages keep bytecode in a directory of their own, as PYTHONPYCACHEPREFIX does, and pass that on to their child
processes. Where the bytecode exists or Python can write it, nothing changes.

HARNESS_PYCACHE=0 turns this off; HARNESS_PYCACHE_DIR names the directory (default: the user's cache
directory, inference-harness/pycache).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

WATCHED = "torch"  # the package whose import dominates a stage's start


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "inference-harness" / "pycache"


def bytecode_cache_dir(package: str = WATCHED) -> Path | None:
    """The directory to keep bytecode in, or None where Python already finds or writes `package`'s bytecode."""
    if os.environ.get("HARNESS_PYCACHE", "1") == "0" or sys.pycache_prefix is not None:
        return None
    try:
        spec = importlib.util.find_spec(package)  # finds, does not import
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    cached = Path(importlib.util.cache_from_source(spec.origin))
    if cached.exists():
        return None
    writable = os.access(cached.parent if cached.parent.exists() else Path(spec.origin).parent, os.W_OK)
    if writable and not sys.dont_write_bytecode:
        return None  # Python writes it beside the source on this import
    return Path(os.environ.get("HARNESS_PYCACHE_DIR") or default_dir())


def keep_bytecode(package: str = WATCHED) -> str | None:
    """Cache bytecode under bytecode_cache_dir() for this process and its children; returns the directory used."""
    directory = bytecode_cache_dir(package)
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return None
    sys.pycache_prefix = str(directory)
    sys.dont_write_bytecode = False
    os.environ["PYTHONPYCACHEPREFIX"] = str(directory)  # spawned workers and compile children
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return str(directory)


def bytecode_cached(modules: tuple[str, ...] = ("torch", "onnxruntime")) -> dict:
    """For the large packages this process imported: was their Python bytecode cached, or compiled from source
    at import? (An image with no .pyc files and PYTHONDONTWRITEBYTECODE set pays seconds in every start.)"""
    found = {}
    for name in modules:
        cached = getattr(sys.modules.get(name), "__cached__", None)
        if cached:
            found[name] = os.path.exists(cached)
    return found
