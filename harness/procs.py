"""Worker processes that leave with their parent and stay quiet when the user interrupts.

A pool worker blocked on its task queue outlives a parent killed with SIGKILL: nothing tells it.
On Linux the kernel does it (PR_SET_PDEATHSIG); the worker also checks at start that its parent is
still the one that started it, which covers a parent that died before the request took effect.
Ctrl-C reaches every process of the terminal's group: the parent reports it in one line, so the
workers leave without a traceback of their own.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

PR_SET_PDEATHSIG = 1


def _find_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()  # looked up here, so that a child between fork and exec only makes the call


def killed_with_parent() -> None:
    """`subprocess.Popen(..., preexec_fn=killed_with_parent)`: the kernel kills the child when the process that
    started it dies (SIGKILL included), so no orphan goes on using a device or writing where the next run will."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Start child interpreters inside this block, so that Ctrl-C or SIGTERM while they start leaves no traceback.

    A child begins with SIGINT blocked (the mask is inherited through fork and exec), so a Ctrl-C that reaches it
    before quiet_worker runs (while Python starts and imports numpy) waits instead of raising KeyboardInterrupt;
    quiet_worker unblocks it. This process takes a stop signal of the block's few milliseconds once the block
    ends, so it never leaves a child half started (one that finds no start-up data: EOFError)."""
    arrived: list[int] = []
    handlers: dict[int, Callable] = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {s: h for s in STOP_SIGNALS if callable(h := signal.getsignal(s))}
    for signum in handlers:
        signal.signal(signum, lambda received, frame: arrived.append(received))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hasattr(signal, "pthread_sigmask") else None
    try:
        yield
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if arrived:
            handlers[arrived[0]](arrived[0], None)


def die_with_parent(parent_pid: int) -> None:
    """The same, asked for by the child itself once it runs (a pool worker, the compile child)."""
    killed_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)


def _leave_quietly(signum, frame) -> None:
    os._exit(128 + signum)


def quiet_worker(parent_pid: int) -> None:
    """Pool initializer: `ProcessPoolExecutor(initializer=quiet_worker, initargs=(os.getpid(),))`.

    A SIGINT the worker inherited as ignored stays ignored: the run was started in the background, and its
    parent ignores Ctrl-C too (a worker leaving alone would only turn into a lost-worker failure there)."""
    die_with_parent(parent_pid)
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        signal.signal(signal.SIGINT, _leave_quietly)
    signal.signal(signal.SIGTERM, _leave_quietly)
    if hasattr(signal, "pthread_sigmask"):  # started under interrupts_held: a Ctrl-C that came meanwhile acts now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def signal_name(number: int) -> str:
    """SIGKILL for 9; a number the system has no name for stays a number."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
