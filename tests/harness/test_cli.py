"""The stage wrapper: one line and an exit code per kind of failure, and Ctrl-C's own line; workers keep a
SIGINT their run ignores."""
from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from harness.cli import INTERRUPTED, main_wrapper
from harness.errors import InputError
from harness.procs import quiet_worker


@pytest.fixture(autouse=True)
def no_bytecode_cache(monkeypatch):
    monkeypatch.setenv("HARNESS_PYCACHE", "0")  # main_wrapper must not redirect this test process's bytecode


def wrapped(run) -> int:
    return main_wrapper(lambda argv: None, run, [])


def test_known_errors_give_their_line_and_code(capsys):
    def fail(_):
        raise InputError("x.bin: not found; pass a file")

    assert wrapped(fail) == InputError.exit_code
    assert capsys.readouterr().err == "error: x.bin: not found; pass a file\n"


def test_ctrl_c_gives_its_line_and_130(capsys):
    def interrupted(_):
        raise KeyboardInterrupt

    assert wrapped(interrupted) == 130
    assert capsys.readouterr().err.strip() == INTERRUPTED


def _handlers_after_quiet_worker(parent: int) -> tuple[bool, bool]:
    quiet_worker(parent)
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN, callable(signal.getsignal(signal.SIGTERM))


def test_a_worker_keeps_a_sigint_its_run_ignores():
    """A run started in the background ignores SIGINT; its workers must too, or a signal to the group would end
    them under a parent that goes on (and then fails for want of its workers)."""
    context = multiprocessing.get_context("spawn")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # spawned children inherit the disposition
    try:
        with context.Pool(1) as pool:
            ignored, term_handled = pool.apply(_handlers_after_quiet_worker, (os.getpid(),))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ignored and term_handled
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with context.Pool(1) as pool:
            ignored, _ = pool.apply(_handlers_after_quiet_worker, (os.getpid(),))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not ignored  # a foreground run's worker leaves quietly on Ctrl-C
