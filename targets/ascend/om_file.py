"""The checks ais_bench (2025 and later) and aclruntime make on an OM path before loading it, made first here.

Real rules (../shared/upstream/ais_bench/2025-12: `ais_bench/infer/common/path_security_check.py` for
InferSession, `backend/base/module/ModelInfer/File.cpp` CheckFileBeforeRead for the C++ session):
characters [_A-Za-z0-9/.-] only, at most 4096 characters (255 per name) and 32 levels, a regular file and not a
symbolic link, not writable by group or others, readable by its owner, owned by the current user or one of
its groups, suffix .om, at most 10 GiB. ais_bench's own refusal says only "The path ... is illegal"; this
module says which rule failed and what to change. An OM whose path has other characters (a space, a quote, `$`,
non-ASCII) is given to the runtime through a hard link from a path of allowed ones (load_alias).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

SAFE_CHARACTERS = re.compile(r"^[_A-Za-z0-9/.\-]+$")
PATH_LENGTH_MAX = 4096
NAME_LENGTH_MAX = 255
PATH_DEPTH_MAX = 32
OM_SIZE_MAX = 10 << 30
# What convert gives the OMs it builds: the mode the real tools create their own files with (File.h 0640).
OM_MODE = 0o640


def om_path_problem(path: str, check_owner: bool = True, size_max: int = OM_SIZE_MAX) -> str | None:
    """What ais_bench would refuse about `path` and how to fix it, or None when it would load it. Its Python
    front end checks the owner and 10 GiB; the 2025 C++ session alone (File::CheckFileBeforeRead) no owner and
    64 GiB."""
    abs_path = os.path.abspath(path)
    if not SAFE_CHARACTERS.match(abs_path):
        return ("ais_bench takes only paths of [_A-Za-z0-9/.-] and this OM could not be linked from such a path "
                "(the temp directory is on another file system or has such characters itself); move the "
                "convert output directory to such a path, or set TMPDIR to one on the OM's file system")
    if len(abs_path) > PATH_LENGTH_MAX or len(os.path.basename(abs_path)) > NAME_LENGTH_MAX:
        return f"the path is longer than ais_bench allows ({PATH_LENGTH_MAX} characters, {NAME_LENGTH_MAX} per name)"
    if abs_path.count("/") > PATH_DEPTH_MAX:
        return f"the path is deeper than ais_bench allows ({PATH_DEPTH_MAX} levels); use a shorter directory"
    if os.path.islink(abs_path):
        return f"is a symbolic link, which ais_bench refuses; pass the file itself ({os.path.realpath(abs_path)})"
    try:
        info = os.stat(abs_path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror}); rerun convert"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file; pass the OM convert wrote"
    return _permission_problem(abs_path, info, check_owner) or _size_problem(abs_path, info, size_max)


def _permission_problem(path: str, info: os.stat_result, check_owner: bool) -> str | None:
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"is writable by group or others (mode {mode:o}), which ais_bench refuses; "
                f"run `chmod go-w {path}`")
    if check_owner and info.st_uid != os.geteuid() and info.st_gid not in os.getgroups():
        return (f"belongs to uid {info.st_uid} gid {info.st_gid}, neither this user nor one of its groups, which "
                f"ais_bench refuses; run `chown $(id -u):$(id -g) {path}` or convert as this user")
    if not mode & stat.S_IRUSR or not os.access(path, os.R_OK):
        return f"is not readable by this user (mode {mode:o}); run `chmod u+r {path}`"
    return None


def _size_problem(path: str, info: os.stat_result, size_max: int) -> str | None:
    if not path.endswith(".om"):
        return "does not end in .om, which ais_bench requires"
    if info.st_size > size_max:
        return f"is larger than the {size_max >> 30} GiB ais_bench loads"
    return None


def load_alias(om: Path) -> Path | None:
    """A hard link to `om` under a path of [_A-Za-z0-9/.-] in a fresh temp directory, where the OM's own path
    has other characters (ais_bench 2025 and its C++ session refuse those) and the link can be made; else None.
    A hard link is the same file, so the runtime's checks of mode, owner and size see the OM itself; a copy
    would not, so none is made. The caller removes the directory (remove_alias) when done with it."""
    if SAFE_CHARACTERS.match(os.path.abspath(om)) or os.path.islink(om) or not os.path.isfile(om):
        return None  # a symbolic link or a missing file: the runtime's own rule names it as it is
    directory = tempfile.mkdtemp(prefix="om_")
    alias = Path(directory) / (om.name if SAFE_CHARACTERS.match(om.name) else "model.om")
    try:
        if not SAFE_CHARACTERS.match(str(alias)):
            raise OSError("the temp directory's own path has such characters")
        os.link(om, alias)
    except OSError:  # another file system (EXDEV), or links not allowed: the path stays as it is
        remove_alias(alias)
        return None
    return alias


def remove_alias(alias: Path | None) -> None:
    if alias is not None:
        shutil.rmtree(alias.parent, ignore_errors=True)


def secure(om: Path) -> None:
    """Give an OM convert built the mode the real checks accept, whatever the umask was."""
    os.chmod(om, OM_MODE)
