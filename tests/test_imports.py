"""Every module imports and every stage's --help runs on a machine without GPU or NPU software."""
from __future__ import annotations

import pkgutil

import pytest

from tests.conftest import ROOT, run_cli

PACKAGES = ["harness", "preprocess", "convert", "infer", "postprocess", "report", "targets", "fleet"]
STAGES = ["preprocess", "convert", "infer", "postprocess", "report", "fleet"]
VENDOR = ("tensorrt", "aclruntime", "ais_bench", "acl")


def all_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        path = ROOT / package
        if not path.is_dir():
            continue
        names.append(package)
        for info in pkgutil.walk_packages([str(path)], prefix=f"{package}."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return names


def test_every_module_imports_without_vendor_packages():
    modules = all_modules()
    assert {"preprocess.run", "infer.run", "postprocess.run", "targets.cpu.target"} <= set(modules)
    # A meta-path finder that refuses vendor packages, as on a machine that has none of them.
    code = (
        "import sys, importlib, importlib.abc\n"
        f"VENDOR = {VENDOR!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in VENDOR: raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in VENDOR]\n"
        "print('imported', len(" + repr(modules) + "))\n")
    proc = run_cli("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert f"imported {len(modules)}" in proc.stdout


@pytest.mark.parametrize("stage", STAGES)
def test_help_runs(stage):
    if not (ROOT / stage / "__main__.py").exists():
        pytest.fail(f"{stage}/__main__.py is missing")
    proc = run_cli("-m", stage, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout.lower()


def test_light_stages_do_not_import_torch():
    code = ("import sys, preprocess.run, postprocess.run, infer.run, targets.cpu, targets.null; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = run_cli("-c", code)
    assert proc.returncode == 0, proc.stderr
