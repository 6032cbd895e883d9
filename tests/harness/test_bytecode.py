"""Bytecode kept in the harness's own directory only where a package's bytecode is missing and Python would
not write it; then a second process reads what the first compiled."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bytecode import bytecode_cache_dir
from tests.conftest import ROOT


@pytest.fixture
def package(tmp_path, monkeypatch) -> Path:
    """A package with no bytecode beside it, importable as `slowpkg`."""
    source = tmp_path / "src"
    (source / "slowpkg").mkdir(parents=True)
    (source / "slowpkg" / "__init__.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.setenv("HARNESS_PYCACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HARNESS_PYCACHE", raising=False)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    return source


def test_a_cache_is_used_only_where_python_would_compile_every_time(package, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert bytecode_cache_dir("slowpkg") == tmp_path / "cache"
    monkeypatch.setenv("HARNESS_PYCACHE", "0")
    assert bytecode_cache_dir("slowpkg") is None  # turned off
    monkeypatch.delenv("HARNESS_PYCACHE")
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert bytecode_cache_dir("slowpkg") is None  # Python writes it beside the source
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    pyc = Path(__import__("importlib.util").util.cache_from_source(str(package / "slowpkg" / "__init__.py")))
    pyc.parent.mkdir()
    pyc.write_bytes(b"")
    assert bytecode_cache_dir("slowpkg") is None  # shipped with its bytecode
    assert bytecode_cache_dir("no_such_package_here") is None


def test_a_second_process_reads_the_bytecode_the_first_wrote(package, tmp_path):
    script = ("from harness.bytecode import keep_bytecode; used = keep_bytecode('slowpkg'); import slowpkg, os; "
              "print(used, slowpkg.__cached__, os.path.exists(slowpkg.__cached__))")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(package)]),
           "HARNESS_PYCACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPYCACHEPREFIX", None)

    def run() -> list[str]:
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              check=True).stdout.split()

    used, cached, exists = run()
    assert used == str(tmp_path / "cache") and cached.startswith(used) and exists == "True"
    written = os.stat(cached).st_mtime_ns
    assert run() == [used, cached, "True"] and os.stat(cached).st_mtime_ns == written  # read, not compiled again
    assert not (package / "slowpkg" / "__pycache__").exists()  # nothing written beside the source


@pytest.mark.parametrize("stage", ["preprocess", "infer", "postprocess", "report", "fleet"])  # not convert: its
# package imports its modules (the library entry), and its start is dwarfed by its work
def test_a_stage_sets_the_cache_up_before_it_imports_its_own_modules(stage, package, tmp_path):
    """Where the image keeps no bytecode, the stage's own modules (and numpy under them) are read from the cache
    too: `python -m <stage>` sets it up first (here for `slowpkg`, standing in for torch)."""
    script = ("import runpy, sys; import harness.bytecode as b; b.keep_bytecode.__defaults__ = ('slowpkg',); "
              f"sys.argv = [{stage!r}, '--help']\n"
              f"try:\n    runpy.run_module({stage!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
              f"print(sys.modules['{stage}.cli'].__cached__)")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(package)]),
           "HARNESS_PYCACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPYCACHEPREFIX", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout.splitlines()
    assert out[-1].startswith(str(tmp_path / "cache")) and os.path.exists(out[-1])
