"""Run external tools (atc, npu-smi, trtexec) through one helper: argv lists, never shell strings."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from typing import Mapping, Sequence

from harness.errors import MissingDependencyError, ToolError


@dataclass
class ToolResult:
    argv: list[str]
    returncode: int
    output: str

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def require_tool(name: str, how: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingDependencyError(name, how, why="not found on PATH")
    return path


def run_tool(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None,
             timeout: float | None = None, check: bool = True) -> ToolResult:
    """Run a command, capture stdout+stderr together; on failure raise with the command and its tail."""
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                              timeout=timeout, text=True, errors="replace")
    except FileNotFoundError:
        raise MissingDependencyError(argv[0], "put it on PATH", why="not found") from None
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{shlex.join(argv)} timed out after {timeout}s") from exc
    result = ToolResult(argv=argv, returncode=proc.returncode, output=proc.stdout or "")
    if check and proc.returncode != 0:
        tail = result.tail(8).replace("\n", " | ")
        raise ToolError(f"{shlex.join(argv)} failed with exit code {proc.returncode}: {tail}")
    return result
