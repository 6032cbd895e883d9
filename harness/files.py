"""Atomic file writes and small JSON helpers: a killed run never leaves a truncated file."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from harness.errors import DiskFullError, HarnessError, InputError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
DIRECTORY_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ESTALE)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
NAME_MAX = 255  # bytes in one file name (Linux file systems)
# An input's longest output name as first written: '.<stem>_99.txt.<pid of up to 7 digits>.tmp' (temporary_path)
OUTPUT_NAME_EXTRA = len(".") + len("_99.txt") + len(".4194304.tmp")


def stem_of(path: str | os.PathLike) -> str:
    """Everything before the first dot: how the ModelZoo scripts and ais_bench name per-input files.
    (Runs per input on the loop's thread: no Path object, several times slower.)"""
    return os.path.basename(os.fspath(path)).split(".")[0]


def claim_stem(found: dict[str, Path], path: Path) -> None:
    """Add `path` under its stem; a second path of one stem is refused: outputs are named by stem, so theirs
    would overwrite each other."""
    stem = stem_of(path)
    if len(os.fsencode(stem)) > NAME_MAX - OUTPUT_NAME_EXTRA:  # bytes as the file system stores them
        raise InputError(f"{path}: name too long: its outputs, {stem[:12]}…_0.txt and the like, are written first "
                         f"under a temporary name that would pass the file system's {NAME_MAX} bytes; rename it to "
                         f"a name of at most {NAME_MAX - OUTPUT_NAME_EXTRA} bytes before its first dot")
    if stem in found:
        raise InputError(f"{path}: same stem {stem!r} as {found[stem]}; their outputs would overwrite each "
                         "other, remove or rename one of them")
    found[stem] = path


def temporary_path(path: Path, suffix: str = "") -> Path:
    """Where a file is written before it is renamed over `path`: beside it, named by this process's id."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


def writer_id(tmp: Path) -> int | None:
    """The process id that names the temporary file `tmp` (temporary_path), None for a name of another kind."""
    try:
        return int(tmp.name.rsplit(".tmp", 1)[0].rsplit(".", 1)[1])
    except (ValueError, IndexError):
        return None


def writer_gone(tmp: Path) -> bool:
    """Whether the process whose id names the temporary file `tmp` has ended, leaving it behind; a file another
    process is still writing is not."""
    pid = writer_id(tmp)
    if pid is None or not 0 < pid < 1 << 22:  # no process has that id (Linux's limit): another name of ours
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """An ended process its parent (or an init that reaps late, as in some containers) has not reaped yet: it
    answers kill(pid, 0) but writes nothing more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def remove_leftover_temporaries(directory: Path) -> None:
    """Remove the temporary files a killed run left in `directory`, before this process writes there: what they were
    for is written again. One named by this process is a leftover too (its id reused, as in a container); one a
    live process is writing (the other GPU's worker of a `--device 0,1` run, which shares the directory) is kept."""
    for leftover in Path(directory).glob(".*.tmp"):
        if writer_id(leftover) == os.getpid() or writer_gone(leftover):
            leftover.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write to a temporary file in the same directory, then rename over the target.

    The temporary name is fixed per target and process (stale ones from a killed run are removed by
    the stages that resume); os.open with 0o666 gives the mode a plain open() would, umask applied.
    Few syscalls and little Python: infer writes one file per input on its hot path.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as exc:
        raise write_error(exc, path, len(data)) from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise write_error(exc, path, len(data)) from None
        raise


def write_new_or_replace(path: str | Path, data: bytes | memoryview) -> None:
    """A file that does not exist yet is written in place: one directory entry instead of a temporary
    one and a rename, which halves the metadata work where a file system creates only a few thousand
    files a second (infer's outputs; docs/nvidia.md). A kill can leave that new file short, so whoever
    resumes must check what it finds (infer/resume.py does). An existing file is replaced atomically,
    so what was already written is never lost to a half-written one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        atomic_write_bytes(path, data)
        return
    except OSError as exc:
        raise write_error(exc, path, len(data)) from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException as exc:
        os.close(fd)
        try:
            os.unlink(path)
        except FileNotFoundError:  # its directory went away
            pass
        if isinstance(exc, OSError):
            raise write_error(exc, path, len(data)) from None
        raise
    os.close(fd)


@contextmanager
def atomic_output(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that wants a file name (onnx.save, a tool run
    in a subprocess, say); it is renamed over `path` only when the block succeeds and removed when it
    fails, so `path` keeps its old content. `suffix` ends the temporary name, for writers that pick
    the format by it (ONNX Runtime's optimized model, torch.export.save, matplotlib)."""
    path = Path(path)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise_if_disk_full(exc, path, tmp.stat().st_size if tmp.exists() else 0)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` through a temporary file, so `dst` is whole or absent; a no-op onto itself."""
    if Path(src).resolve() == Path(dst).resolve():
        return
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def human_bytes(count: float) -> str:
    if count < 1024:
        return f"{count:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if count < 1024 or unit == "GiB":
            break
    return f"{count:.1f} {unit}"


def disk_full_error(path: Path, needed: int) -> DiskFullError:
    """One line: which file, how much it needed, how much is free there, and that a rerun resumes."""
    try:
        free = human_bytes(shutil.disk_usage(Path(path).parent).free)
    except OSError:
        free = "unknown"
    return DiskFullError(f"{path}: no space left on the device writing {human_bytes(needed)} ({free} free "
                         "there); free space or choose another directory and rerun the same command "
                         "(files already finished are kept)")


def write_error(exc: OSError, path: str | Path, needed: int) -> HarnessError:
    """One line for a file that could not be written: a full disk (exit 9); else (exit 3) its directory lost or
    not writable, a name too long, or the system's own reason where the harness cannot tell the cause."""
    if exc.errno in NO_SPACE:
        return disk_full_error(Path(path), needed)
    reason = exc.strerror or str(exc)
    if exc.errno in DIRECTORY_GONE:
        return InputError(f"{path}: cannot be written ({reason}): its directory was removed or became unreachable "
                          "during the run; restore it (or choose another directory) and rerun the same command")
    if exc.errno in NOT_WRITABLE:
        return InputError(f"{path}: cannot be written ({reason}): its directory is read-only or not writable by "
                          "this user; make it writable (or choose another directory) and rerun the same command")
    if exc.errno == errno.ENAMETOOLONG:
        return InputError(f"{path}: cannot be written ({reason}): the name, or the temporary name it is first "
                          f"written under, passes the file system's {NAME_MAX} bytes; give the input a shorter name")
    return InputError(f"{path}: cannot be written ({reason}); rerun the same command once that is fixed (files "
                      "already finished are kept)")


def raise_if_disk_full(exc: BaseException, path: Path, needed: int) -> None:
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        raise disk_full_error(path, needed) from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent) + ("\n" if indent else ""))


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file; a missing or broken one is an InputError naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found; run the stage that writes it first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {what} is not valid JSON ({exc}); delete it and rerun the stage "
                         "that writes it") from None
    except OSError as exc:  # a directory in its place, no permission, an I/O error
        raise InputError(f"{path}: {what} cannot be read ({exc.strerror or exc}); remove what is there and "
                         "rerun the stage that writes it") from None


def ensure_writable_dir(path: Path) -> Path:
    """Create a directory (and parents) or fail with one clear line."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise InputError(f"{path}: output directory cannot be written ({exc.strerror}); "
                         "choose another directory or fix its permissions") from None
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
