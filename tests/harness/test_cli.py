"""The stage wrapper: one line and an exit code per kind of failure; a worker lost to Ctrl-C is an interruption."""
from __future__ import annotations

import os
import signal
import threading
from concurrent.futures.process import BrokenProcessPool

import pytest

from harness.cli import INTERRUPTED, main_wrapper
from harness.errors import InputError, WorkerLost


def wrapped(run) -> int:
    return main_wrapper(lambda argv: None, run, [])


def test_known_errors_give_their_line_and_code(capsys):
    def fail(_):
        raise InputError("x.bin: not found; pass a file")

    assert wrapped(fail) == InputError.exit_code
    assert capsys.readouterr().err == "error: x.bin: not found; pass a file\n"


@pytest.mark.parametrize("lost", [BrokenProcessPool("a process in the pool was terminated abruptly"),
                                  WorkerLost("an infer I/O worker process exited"), BrokenPipeError(32, "pipe")],
                         ids=["process pool", "I/O worker", "pipe"])
def test_a_worker_lost_just_before_this_process_sees_ctrl_c_is_an_interruption(capsys, lost):
    def run(_):
        # as the terminal's Ctrl-C can come out: the worker is gone, this process's own SIGINT a moment later
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        raise lost

    assert wrapped(run) == 130
    assert capsys.readouterr().err.strip() == INTERRUPTED


def test_a_worker_lost_without_an_interruption_stays_a_failure(capsys):
    def run(_):
        raise WorkerLost("an infer I/O worker process exited (exit code -9)")

    assert wrapped(run) == WorkerLost.exit_code
    assert capsys.readouterr().err.strip() == "error: an infer I/O worker process exited (exit code -9)"
