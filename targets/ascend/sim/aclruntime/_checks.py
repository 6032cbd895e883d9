"""File::CheckFileBeforeRead of the 2025 bindings (File.cpp), for the model path."""
from __future__ import annotations

import os
import stat

FULL_PATH_LENGTH_MAX = 4096
FILE_NAME_LENGTH_MAX = 255
PATH_DEPTH_MAX = 32
MAX_OM_SIZE = 64 << 30
READ_FILE_NOT_PERMITTED = stat.S_IWGRP | stat.S_IWOTH
_ALLOWED = set("_./-")


def om_path_problem(path: str) -> str | None:
    """The reason File::CheckFileBeforeRead(path, OM) returns false (as its ERROR_LOG says), else None."""
    abs_path = os.path.abspath(path)
    if not abs_path:
        return "path is empty"
    if len(abs_path) > FULL_PATH_LENGTH_MAX or len(os.path.basename(abs_path)) > FILE_NAME_LENGTH_MAX:
        return "path length illegal"
    if any(not (c.isascii() and c.isalnum()) and c not in _ALLOWED for c in abs_path):
        return "path characters invalid"
    if abs_path.count("/") > PATH_DEPTH_MAX:
        return "path depth invalid"
    if not os.path.isfile(abs_path):
        return "path is not regular file"
    if os.path.islink(abs_path):
        return "path is soft link"
    mode = os.stat(abs_path).st_mode
    if mode & READ_FILE_NOT_PERMITTED:
        return "path permission should not be over 0o755(rwxr-xr-x)"
    if not os.access(abs_path, os.R_OK) or not mode & stat.S_IRUSR:
        return "path permission should be at least 0o400(r--------)"
    if not abs_path.endswith(".om") or os.path.getsize(abs_path) > MAX_OM_SIZE:
        return "path suffix and size invalid"
    return None
