"""Run a stage as `python -m <stage>` with a file system that is full for some files.

    python tests/faults/full_disk.py MATCH -m infer --model ...

Every os.write to a file whose path contains MATCH fails with ENOSPC, as a full disk makes it fail;
other files are written normally. Forked workers inherit the patch; spawned ones do not, so tests
use the threads I/O path. The stage's code is unchanged.
"""
import errno
import os
import runpy
import sys

_real_open, _real_write, _real_close = os.open, os.write, os.close
_full: set[int] = set()


def _open(path, flags, mode=0o777, *args, **kwargs):
    fd = _real_open(path, flags, mode, *args, **kwargs)
    if MATCH in os.fsdecode(path) and flags & (os.O_WRONLY | os.O_RDWR):
        _full.add(fd)
    return fd


def _write(fd, data):
    if fd in _full:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return _real_write(fd, data)


def _close(fd):
    _full.discard(fd)
    return _real_close(fd)


if __name__ == "__main__":
    MATCH = sys.argv[1]
    assert sys.argv[2] == "-m", "usage: full_disk.py MATCH -m STAGE ARGS..."
    stage = sys.argv[3]
    sys.argv = [stage, *sys.argv[4:]]
    os.open, os.write, os.close = _open, _write, _close
    sys.path.insert(0, os.getcwd())
    runpy.run_module(stage, run_name="__main__", alter_sys=True)
