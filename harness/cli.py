"""The wrapper every stage's `__main__` uses: one-line errors, non-zero exit, no traceback."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Callable, Sequence

from harness.bytecode import keep_bytecode
from harness.errors import HarnessError, Terminated
from harness.startup import begin_stage

INTERRUPTED = "error: interrupted; rerun the same command to resume"
TERMINATED = "error: terminated (SIGTERM); rerun the same command to resume"


def _terminate_as_interrupt(stage_pid: int):
    """Raise Terminated on SIGTERM in this process; returns the handler it replaced. A forked child that did not
    set its own handler keeps the default (it dies at once), as before: only the stage's own process unwinds."""
    def handler(signum, frame) -> None:
        if os.getpid() != stage_pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (a stage called from a thread): keep the default
        return None


def main_wrapper(parse: Callable[[Sequence[str]], object], run: Callable[[object], object],
                 argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the stage, map known failures to one line and an exit code."""
    begin_stage()
    keep_bytecode()
    previous = _terminate_as_interrupt(os.getpid())
    try:
        return _run_stage(parse, run, argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run_stage(parse: Callable[[Sequence[str]], object], run: Callable[[object], object],
               argv: Sequence[str] | None) -> int:
    try:
        config = parse(sys.argv[1:] if argv is None else argv)
        run(config)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print(TERMINATED, file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; lower the batch size or the number of workers", file=sys.stderr)
        return 8
    except Exception as exc:  # an unexpected bug: still one line unless asked for the traceback
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"error: internal error {type(exc).__name__}: {exc} (set HARNESS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    return 0


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2, like the rest."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def parse_key_value(text: str) -> tuple[str, str]:
    """KEY=VALUE (a target option); the value stays text: the target's options class types it."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def parse_bool(text: str) -> bool:
    """ais_bench-style booleans: 1/0, true/false, yes/no."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "t", "yes", "y"):
        return True
    if lowered in ("0", "false", "f", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (1/0, true/false), got {text!r}")
