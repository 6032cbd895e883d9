"""The start barrier of a `--device 0,1` run: every worker loads, compiles and warms up its engine, says it is
ready, and starts its timed loop only when the parent says go, so the devices' loops run side by side.

Two pipes per worker, inherited by their descriptors (`--start_barrier READY,GO`): the worker writes `ready`
on the first and reads `go` from the second. A worker that dies before it is ready closes its end of the first
(the parent sees it at once); a parent that stops the run closes the second, and the waiting worker leaves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from harness.errors import InputError, TargetError

READY = b"ready\n"
GO = b"go\n"


class StoppedBeforeLoop(TargetError):
    """The parent closed the barrier without go: another device failed, or the run was stopped."""


@dataclass
class StartBarrier:
    """The worker's end: `wait()` once everything before the timed loop is done."""

    ready_fd: int
    go_fd: int

    @classmethod
    def from_flag(cls, text: str | None) -> "StartBarrier | None":
        if not text:
            return None
        ready, go = (int(fd) for fd in text.split(","))
        try:
            for fd in (ready, go):  # the worker's own children (I/O workers, a compile child) must not hold them
                os.set_inheritable(fd, False)
        except OSError as exc:
            raise InputError(f"--start_barrier {text}: {exc.strerror}; the flag is set by a --device 0,1 run for "
                             "its workers only, drop it") from None
        return cls(ready, go)

    def wait(self) -> None:
        try:
            os.write(self.ready_fd, READY)
        finally:
            os.close(self.ready_fd)
        try:
            answer = _read_line(self.go_fd)
        finally:
            os.close(self.go_fd)
        if answer != GO:
            raise StoppedBeforeLoop("the run was stopped before the timed loop (another device failed or the run "
                                    "was interrupted)")


def _read_line(fd: int) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 16)
        if not chunk:
            break
        data += chunk
    return data


@dataclass
class ParentEnd:
    """The parent's end of one worker's two pipes; `flag` goes on the worker's command line, `child_fds` to
    Popen's pass_fds (closed here once the worker holds them)."""

    ready_read: int
    ready_write: int
    go_read: int
    go_write: int
    ready: bool = False

    @classmethod
    def open(cls) -> "ParentEnd":
        ready_read, ready_write = os.pipe()
        go_read, go_write = os.pipe()
        return cls(ready_read, ready_write, go_read, go_write)

    @property
    def flag(self) -> str:
        return f"{self.ready_write},{self.go_read}"

    @property
    def child_fds(self) -> tuple[int, int]:
        return (self.ready_write, self.go_read)

    def started(self) -> None:
        """The worker holds its ends now: close the parent's copies, so the worker's exit reads as end of file."""
        for fd in self.child_fds:
            _close(fd)
        self.ready_write = self.go_read = -1

    def read_ready(self) -> bool:
        """After select() said the ready pipe is readable: True when the worker said ready, False at end of file
        (the worker exited, or closed it, without saying so)."""
        self.ready = _read_line(self.ready_read) == READY
        return self.ready

    def go(self) -> None:
        try:
            os.write(self.go_write, GO)
        except BrokenPipeError:  # the worker is gone; its exit status says why
            pass
        self.close()

    def close(self) -> None:
        for name in ("ready_read", "ready_write", "go_read", "go_write"):
            _close(getattr(self, name))
            setattr(self, name, -1)


def _close(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
