"""The source hashes inductor checks before it uses a saved graph, computed on side threads while this one imports.

Loading inductor's saved graph, a warm process first hashes torch's sources (`torch_key`, which the saved file
must match) and Triton's sources and library (`triton_key`, for the key of its autotuning cache): together 0.5 s of
a warm start on the H200 (docs/nvidia.md). Each function keeps its value for the process, so calling them early
on a side thread, while this thread imports inductor and loads the weights, takes the hashing off the start's
path: reading files and hashing them release the interpreter lock. Nothing is patched: inductor later finds the
values in the same functions' caches. A key that fails here is left to inductor, which computes it when it asks.
"""
from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from harness.startup import mark

TRITON_KEY_HOMES = ("triton.runtime.cache", "triton.compiler.compiler")  # where Triton 3.x has kept triton_key
TORCH_KEY_HOME = "torch._inductor.codecache"
# a hash still running after this is left to finish alone; inductor's own call then hashes again, or waits for it
# where torch keeps a lock around its key (2.13)
WAIT_LIMIT_S = 60.0


@dataclass
class _Hashes:
    pending: dict[str, threading.Thread] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


_state = _Hashes()  # per process, as the keys' own caches are


def hash_triton_aside() -> bool:
    """Start hashing Triton ("triton"); it is imported here first, so that the thread's walk of its modules finds
    them imported. False when not started: no Triton, or hashed (or started) earlier in this process."""
    return _start("triton", _find("triton_key", TRITON_KEY_HOMES))


def hash_torch_aside() -> bool:
    """Start hashing torch's sources ("torch"); imports inductor's codecache here, which loading a saved graph does
    anyway. False when not started."""
    return _start("torch", _find("torch_key", (TORCH_KEY_HOME,)))


def wait() -> None:
    """Wait for the hashes started, before inductor asks for them (asking meanwhile would hash a second time)."""
    state = _state
    if not state.pending:
        return
    deadline = time.perf_counter() + WAIT_LIMIT_S
    for name, thread in list(state.pending.items()):
        thread.join(max(0.0, deadline - time.perf_counter()))
        if not thread.is_alive():
            state.pending.pop(name, None)
    if not state.pending:
        mark("source keys hashed aside")


def report(names: list[str]) -> dict:
    """For the keys named: the seconds each took aside, and the errors of those that failed (inductor then hashed
    them itself)."""
    state = _state
    seconds = {n: state.seconds[n] for n in names if n in state.seconds}
    errors = {n: state.errors[n] for n in names if n in state.errors}
    return {**({"seconds": seconds} if seconds else {}), **({"errors": errors} if errors else {})}


def _find(name: str, homes: tuple[str, ...]) -> Callable[[], object] | None:
    for home in homes:
        try:
            found = getattr(importlib.import_module(home), name, None)
        except Exception:  # not installed, or a broken install: inductor will say so if it needs it
            continue
        if callable(found):
            return found
    return None


def _start(name: str, key: Callable[[], object] | None) -> bool:
    state = _state
    if key is None or name in state.pending or name in state.seconds or name in state.errors:  # once per process
        return False

    def run() -> None:
        started = time.perf_counter()
        try:
            key()
        except Exception as exc:
            state.errors[name] = f"{type(exc).__name__}: {str(exc)[:120]}"
            return
        state.seconds[name] = round(time.perf_counter() - started, 3)

    thread = threading.Thread(target=run, name=f"{name}-key", daemon=True)
    state.pending[name] = thread
    thread.start()
    return True
