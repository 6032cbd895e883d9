"""The CANN toolkit on this machine: is it set up, which version, what its atc accepts."""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from harness.errors import MissingDependencyError
from harness.tools import require_tool, run_tool

SET_ENV = "/usr/local/Ascend/ascend-toolkit/set_env.sh"
# set_env.sh of CANN toolkits exports both; older ones only ASCEND_TOOLKIT_HOME, newer ones both.
TOOLKIT_HOME_VARS = ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH")
HOW_TO_INSTALL = f"install the CANN toolkit and run `source {SET_ENV}`"


def toolkit_home() -> Path | None:
    for name in TOOLKIT_HOME_VARS:
        value = os.environ.get(name)
        if value:
            return Path(value)
    return None


def require_atc() -> str:
    """The atc executable, after checking that the CANN environment is sourced."""
    path = require_tool("atc", HOW_TO_INSTALL)
    if toolkit_home() is None:
        raise MissingDependencyError(
            "the CANN environment", f"run `source {SET_ENV}` (or the set_env.sh of your toolkit) first",
            why=f"{' and '.join(TOOLKIT_HOME_VARS)} are unset although atc is on PATH")
    return path


def cann_version(home: Path | None = None) -> str:
    """The toolkit version from the files CANN installs; 'unknown' when none can be read.

    version.cfg holds `toolkit_running_version=[<build>:<release>]`, older trees only
    `compiler/version.info` with `Version=<build>`.
    """
    home = home or toolkit_home()
    if home is None:
        return "unknown"
    for name, pattern in (("version.cfg", r"toolkit_running_version=\[[^:\]]*:([^\]]+)\]"),
                          ("compiler/version.info", r"^Version=(\S+)"),
                          ("atc/version.info", r"^Version=(\S+)")):
        try:
            text = (home / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return "unknown"


@functools.lru_cache(maxsize=8)
def atc_help(atc: str) -> str:
    """`atc --help` output (the exit status varies between versions, so it is not checked)."""
    return run_tool([atc, "--help"], check=False, timeout=120).output


def supports_precision_mode_v2(help_text: str) -> bool:
    return re.search(r"--precision_mode_v2\b", help_text) is not None
