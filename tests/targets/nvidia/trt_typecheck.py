"""mypy over the modules that call TensorRT, against the installed TensorRT 10.x type stubs (tensorrt-stubs).

The stubs wheel installs tensorrt/__init__.pyi without a py.typed marker, so mypy skips it in site-packages,
and pybind11-stubgen left lines in it that do not parse (a parameter named `in`, a required parameter after
defaulted ones). The stubs are therefore copied to a temporary directory, those lines repaired mechanically
(each repair is listed), and mypy reads them from MYPYPATH. Settings: mypy.ini at the repository root.

By hand: python -m tests.targets.nvidia.trt_typecheck [FILE ...]   (default: every module under targets/ that
imports tensorrt)
"""
from __future__ import annotations

import ast
import importlib.metadata
import keyword
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
STUBS_DISTRIBUTION = "tensorrt-stubs"
INSTALL = "pip install --no-deps -r requirements.txt"
KEYWORD_PARAMETER = re.compile(rf"([(,]\s*)({'|'.join(keyword.kwlist)})(\s*:)")
DEFAULT_VALUE = re.compile(r"\s*=\s*[^,()]+(?=[,)])")


def tensorrt_modules(root: Path = ROOT) -> list[Path]:
    """Every module under targets/ with an `import tensorrt` (at run time or for type checking only)."""
    found = []
    for path in sorted((root / "targets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tensorrt" for a in node.names):
                found.append(path)
                break
    return found


def _repair_def_line(line: str) -> str:
    renamed = KEYWORD_PARAMETER.sub(r"\1\2_\3", line)
    try:
        ast.parse(renamed.strip() + "\n    ...")
        return renamed
    except SyntaxError:  # a parameter without default after defaulted ones: drop the defaults
        return DEFAULT_VALUE.sub("", renamed)


def repair_stub(text: str, name: str) -> tuple[str, list[str]]:
    """The stub with each unparsable `def` line repaired, and one note per repair; other syntax errors raise."""
    lines = text.splitlines(keepends=True)
    notes: list[str] = []
    while True:
        try:
            ast.parse("".join(lines), name)
            return "".join(lines), notes
        except SyntaxError as error:
            index = (error.lineno or 0) - 1
            repaired = _repair_def_line(lines[index]) if lines[index].lstrip().startswith("def ") else lines[index]
            if repaired == lines[index]:
                raise
            notes.append(f"{name}:{index + 1}: {error.msg}: {lines[index].strip()[:80]}")
            lines[index] = repaired


def prepare_stubs(dest: Path) -> list[str]:
    """Copy the installed TensorRT stubs under dest (a MYPYPATH entry), repaired; return the repair notes."""
    try:
        distribution = importlib.metadata.distribution(STUBS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"{STUBS_DISTRIBUTION} is not installed: {INSTALL}") from None
    notes: list[str] = []
    for file in distribution.files or []:
        if file.suffix == ".pyi":
            text, repairs = repair_stub(Path(str(file.locate())).read_text(), str(file))
            (dest / file).parent.mkdir(parents=True, exist_ok=True)
            (dest / file).write_text(text)
            notes += repairs
    if not (dest / "tensorrt" / "__init__.pyi").exists():
        raise RuntimeError(f"{STUBS_DISTRIBUTION} holds no tensorrt/__init__.pyi: {INSTALL}")
    return notes


def run_mypy(files: list[Path], work: Path) -> subprocess.CompletedProcess:
    """mypy with the repository's mypy.ini and the repaired stubs; nothing is cached."""
    stubs = work / "stubs"
    prepare_stubs(stubs)
    env = {**os.environ, "MYPYPATH": str(stubs)}
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "mypy.ini"), "--cache-dir", os.devnull,
               "--no-error-summary", *[str(f) for f in files]]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def main(argv: list[str]) -> int:
    files = [Path(a).resolve() for a in argv] or tensorrt_modules()
    with tempfile.TemporaryDirectory() as work:
        proc = run_mypy(files, Path(work))
    sys.stdout.write(proc.stdout + proc.stderr)
    print(f"mypy {'passed' if proc.returncode == 0 else 'failed'} on "
          f"{', '.join(str(f.relative_to(ROOT)) for f in files)}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
