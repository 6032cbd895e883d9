"""TensorRT's Python API as its real bindings define it: 11.x from the installed wheel, 10.x from the stubs.

tensorrt-cu13-bindings ships tensorrt.so, the pybind11 module itself, linked against libnvinfer,
libnvinfer_plugin and libnvonnxparser, which cannot be installed here. Importing it only registers classes;
it calls none of those libraries. So a copy of the .so (its RPATH is $ORIGIN) gets compiled stand-ins
beside it, empty libraries that define each symbol the loader asks for (a C compiler is needed, as for
mmcv), and a child process imports it and prints every class, method signature (pybind11 writes them into
the docstrings), property and enum member (trt_api_dump.py). Nothing is cached: the table is rebuilt
from the installed wheel on every run, so it follows the pinned version.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

BINDINGS_DISTRIBUTION = "tensorrt-cu13-bindings"
DUMP = Path(__file__).with_name("trt_api_dump.py")
MISSING_LIBRARY = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")
MISSING_SYMBOL = re.compile(r"undefined symbol: (\w+)")
MAX_ATTEMPTS = 64


def installed(name: str) -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"{name} is not installed: pip install --no-deps -r requirements.txt") from None


def _unchanged(file: importlib.metadata.PackagePath) -> Path:
    """The installed file, checked against the wheel's RECORD: a real TensorRT install shares the directory."""
    path = Path(str(file.locate()))
    if file.hash is not None:
        digest = base64.urlsafe_b64encode(hashlib.new(file.hash.mode, path.read_bytes()).digest()).rstrip(b"=")
        if digest.decode() != file.hash.value:
            raise RuntimeError(f"{path} is not the file {BINDINGS_DISTRIBUTION} installed (another TensorRT "
                               "wheel wrote over it): reinstall it in an environment without TensorRT")
    return path


def bindings_files() -> tuple[Path, Path, str]:
    """(tensorrt.so, the package's __init__.py, version) of the installed bindings wheel."""
    distribution = installed(BINDINGS_DISTRIBUTION)
    files = {str(f): f for f in distribution.files or []}
    library = next((f for name, f in files.items() if re.fullmatch(r"[^/]+/tensorrt\.[^/]*so", name)), None)
    init = next((f for name, f in files.items() if re.fullmatch(r"[^/]+/__init__\.py", name)), None)
    if library is None or init is None:
        raise RuntimeError(f"{BINDINGS_DISTRIBUTION} {distribution.version} holds no tensorrt.so")
    return _unchanged(library), _unchanged(init), distribution.version


def _compile_stand_ins(work: Path, libraries: set[str], symbols: set[str]) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc) on PATH: it builds the stand-in TensorRT libraries")
    source = work / "stand_in.c"
    source.write_text("".join(f"void *{name}(void) {{ return 0; }}\n" for name in sorted(symbols)))
    for name in libraries:
        subprocess.run([compiler, "-shared", "-fPIC", "-o", str(work / name), f"-Wl,-soname,{name}", str(source)],
                       check=True, capture_output=True)


def _dump(library: Path, work: Path) -> dict:
    copy = work / library.name
    shutil.copyfile(library, copy)
    libraries: set[str] = set()
    symbols: set[str] = set()
    for _ in range(MAX_ATTEMPTS):
        _compile_stand_ins(work, libraries, symbols)
        proc = subprocess.run([sys.executable, str(DUMP), str(copy)], capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return json.loads(proc.stdout)
        missing_library, missing_symbol = MISSING_LIBRARY.search(proc.stderr), MISSING_SYMBOL.search(proc.stderr)
        if missing_library and missing_library[1] not in libraries:
            libraries.add(missing_library[1])
        elif missing_symbol and missing_symbol[1] not in symbols:
            symbols.add(missing_symbol[1])
        else:
            raise RuntimeError(f"{library} did not import: {proc.stderr.strip()[-2000:]}")
    raise RuntimeError(f"{library} still asks for libraries or symbols after {MAX_ATTEMPTS} attempts")


def _add_package_names(api: dict, init: Path) -> None:
    """The wheel's __init__.py adds module names (__version__, volume, ...) and class attributes (X.y = ...)."""
    for node in ast.parse(init.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Name):
                api["attributes"].append(target.id)
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                entry = api["classes"].get(target.value.id)
                if entry is not None:
                    entry["attributes"].append(target.attr)
        if isinstance(node, ast.FunctionDef):
            api["functions"].setdefault(node.name, [])


def load_api_11(work: Path) -> dict:
    """The installed 11.x API: {"version", "classes": {qualname: {...}}, "functions", "attributes"}."""
    library, init, version = bindings_files()
    api = _dump(library, work)
    _add_package_names(api, init)
    api["version"] = version
    return api


def _stub_class_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.ClassDef)):
            names.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, ast.Assign):
            names.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return names


def load_names_10(stub_dir: Path) -> dict[str, set[str]]:
    """Names in the 10.x stubs: {"": module names, "Class": its members (bases included), "A.B": nested}."""
    tree = ast.parse((stub_dir / "tensorrt_bindings" / "tensorrt.pyi").read_text())
    package = ast.parse((stub_dir / "tensorrt" / "__init__.pyi").read_text())
    names: dict[str, set[str]] = {"": set()}
    bases: dict[str, list[str]] = {}

    def visit(node: ast.ClassDef, prefix: str) -> None:
        qualname = prefix + node.name
        names[qualname] = _stub_class_names(node)
        bases[qualname] = [b.id for b in node.bases if isinstance(b, ast.Name)]
        for item in node.body:
            if isinstance(item, ast.ClassDef):
                visit(item, qualname + ".")

    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            visit(node, "")
    for node in package.body:
        if isinstance(node, ast.ImportFrom):
            names[""].update(a.asname or a.name for a in node.names)
        elif isinstance(node, (ast.AnnAssign, ast.Assign)):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names[""].update(t.id for t in targets if isinstance(t, ast.Name))
    for qualname in list(bases):
        pending = list(bases[qualname])
        while pending:
            base = pending.pop()
            names[qualname] |= names.get(base, set())
            pending += bases.get(base, [])
    return names
