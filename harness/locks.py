"""One run per output directory at a time, and no empty directory left behind by a failed run; and turns, for
work that two processes must not do twice at once (a compile both would save under one name).

The lock is an fcntl.flock on a file inside the directory: the kernel drops it when its holder
exits, however it exits, so a lock left by a killed run is taken over by the next one. The file
names the holder's pid for the message a second run prints, and is removed when the run ends.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from harness.errors import BusyError
from harness.files import ensure_writable_dir

LOCK_NAME = ".harness.lock"


def _holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text().strip()
    except OSError:
        return "another process"
    return f"pid {pid}" if pid.isdigit() else "another process"


def _flock_soon(fd: int, tries: int = 20, pause_s: float = 0.01) -> bool:
    """An exclusive flock, retried briefly: a reader's probe (held_by) holds a shared lock for an instant."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < tries:
                time.sleep(pause_s)
    return False


def acquire(directory: Path, stage: str) -> int:
    """Lock `directory` for this process; a directory a live run holds is one BusyError line."""
    lock_path = Path(directory) / LOCK_NAME
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _flock_soon(fd):
            os.close(fd)
            raise BusyError(f"{directory}: another {stage} run ({_holder(lock_path)}) is writing to this "
                            "directory; wait for it to finish or choose another output directory") from None
        try:
            same_file = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:  # else the holder removed it between our open and flock: try a fresh one
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def held_by(directory: Path) -> str | None:
    """Who holds the lock of `directory` now, e.g. 'pid 123'; None when no live run does. Probed with a shared
    lock released at once, so a run starting meanwhile still gets the directory."""
    lock_path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:  # no lock file: no run
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(lock_path)
    except OSError:  # no locks on this file system
        return None
    finally:
        os.close(fd)
    return None


def release(directory: Path, fd: int) -> None:
    try:
        os.unlink(Path(directory) / LOCK_NAME)
    except FileNotFoundError:
        pass
    os.close(fd)


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:  # not empty: what is there was written and stays
        pass


@contextmanager
def claimed_output_dir(directory: Path, stage: str) -> Iterator[Path]:
    """Create `directory` if needed and hold its lock for the block. When the block fails and the
    directory was made here and is still empty, it is removed: a failed run leaves nothing."""
    directory = Path(directory)
    created = not directory.exists()
    ensure_writable_dir(directory)
    fd = acquire(directory, stage)
    try:
        yield directory
    except BaseException:
        release(directory, fd)
        if created:
            _remove_if_empty(directory)
        raise
    release(directory, fd)


@contextmanager
def turn(lock_path: Path, waiting: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` for the block, after the process that holds it now, if any (`waiting`
    is told who that is before this one blocks). The file stays: removed, a third process could lock a new file
    while a second still waits on the old one. Where the file system has no flock, the block runs unlocked."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        locked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting(_holder(Path(lock_path)))
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no locks on this file system
            locked = False
        if locked:
            try:  # only for the message a waiting process prints: a full disk must not fail the work
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass
        yield
    finally:
        os.close(fd)  # and with it the lock
