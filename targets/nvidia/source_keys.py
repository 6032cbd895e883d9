"""The source hashes inductor checks before it uses a saved graph, computed on side threads while this one imports.

Loading inductor's saved graph, a warm process first hashes torch's sources (`torch_key`, which the saved file
must match) and Triton's sources and library (`triton_key`, for the cache of its autotuning): together 0.5 s of
a warm start on the H200 (docs/nvidia.md). Each function keeps its value for the process, so calling them early
on a side thread, while this thread imports inductor and loads the weights, takes the hashing off the start's
path; reading and hashing release the GIL. Nothing is patched: inductor later finds the same values in the same
functions' caches. A key that fails here is left to inductor, which computes it again when it asks.
"""
from __future__ import annotations

import importlib
import threading
import time
from typing import Callable

from harness.startup import mark

TRITON_KEY_HOMES = ("triton.runtime.cache", "triton.compiler.compiler")  # where Triton 3.x has kept triton_key
TORCH_KEY_HOME = "torch._inductor.codecache"
WAIT_LIMIT_S = 60.0  # a hash that takes longer is left running: inductor computes the key itself

_pending: dict[str, threading.Thread] = {}
_seconds: dict[str, float] = {}
_errors: dict[str, str] = {}


def hash_triton_aside() -> None:
    """Start hashing Triton, imported here first (an import on a side thread could meet this thread's imports)."""
    _start("triton", _find("triton_key", TRITON_KEY_HOMES))


def hash_torch_aside() -> None:
    """Start hashing torch's sources; imports inductor's codecache here, which loading a saved graph does anyway."""
    _start("torch", _find("torch_key", (TORCH_KEY_HOME,)))


def wait() -> None:
    """Wait for the hashes started, before inductor asks for them (asking meanwhile would hash a second time)."""
    for name, thread in list(_pending.items()):
        thread.join(WAIT_LIMIT_S)
        if not thread.is_alive():
            del _pending[name]
    if _seconds and not _pending:
        mark("source keys hashed aside")


def report() -> dict:
    """What was hashed aside and in how many seconds, and what failed (then inductor hashed it itself)."""
    return {**_seconds, **({"errors": dict(_errors)} if _errors else {})}


def _find(name: str, homes: tuple[str, ...]) -> Callable[[], object] | None:
    for home in homes:
        try:
            found = getattr(importlib.import_module(home), name, None)
        except Exception:  # not installed, or a broken install: inductor will say so if it needs it
            continue
        if callable(found):
            return found
    return None


def _start(name: str, key: Callable[[], object] | None) -> None:
    if key is None or name in _pending or name in _seconds or name in _errors:  # each key once per process
        return

    def run() -> None:
        started = time.perf_counter()
        try:
            key()
        except Exception as exc:
            _errors[name] = f"{type(exc).__name__}: {str(exc)[:120]}"
            return
        _seconds[name] = round(time.perf_counter() - started, 3)

    thread = threading.Thread(target=run, name=f"{name}-key", daemon=True)
    _pending[name] = thread
    thread.start()
