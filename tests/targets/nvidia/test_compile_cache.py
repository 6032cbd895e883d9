"""The compile cache beside a torch-engine artifact: keyed, found warm by a second process, rebuilt."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from targets.nvidia.compile_cache import (CACHE_DIRNAME, TURN_SUFFIX, CompileCache, artifact_hash, cache_key,
                                          source_hash)
from targets.nvidia.torch_runtime import graph_code_files

GPU = {"gpu_name": "NVIDIA H200", "compute_capability": "9.0"}


@pytest.fixture
def restore_env(monkeypatch):
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        monkeypatch.setenv(name, os.environ.get(name, ""))


def test_key_changes_with_everything_that_changes_the_compiled_code():
    base = cache_key("abc", "2.11.0", GPU, {"variant": "inductor"})
    assert base == cache_key("abc", "2.11.0", dict(GPU), {"variant": "inductor"})
    others = {cache_key("abd", "2.11.0", GPU, {"variant": "inductor"}),
              cache_key("abc", "2.12.0", GPU, {"variant": "inductor"}),
              cache_key("abc", "2.11.0", {**GPU, "gpu_name": "NVIDIA H100 80GB HBM3"}, {"variant": "inductor"}),
              cache_key("abc", "2.11.0", GPU, {"variant": "max-autotune"})}
    assert base not in others and len(others) == 4


def test_a_change_to_the_graph_rewrites_gives_a_fresh_key(tmp_path):
    files = [tmp_path / "fx_passes.py", tmp_path / "torch_runtime.py"]
    files[0].write_text("def fold(): return 1\n")
    files[1].write_text("def apply(): pass\n")
    before = source_hash(files)
    assert source_hash(list(files)) == before
    files[0].write_text("def fold(): return 2\n")
    assert source_hash(files) != before
    # the session hashes the rewrites' own source and the module that applies them
    assert {p.name for p in graph_code_files()} == {"fx_passes.py", "torch_runtime.py", "precompiled.py"}
    assert all(p.is_file() for p in graph_code_files())


def test_artifact_hash_prefers_the_recorded_one(tmp_path):
    artifact = tmp_path / "m.pt2"
    artifact.write_bytes(b"program")
    assert artifact_hash(artifact, "recorded") == "recorded"
    assert artifact_hash(artifact, None) == "1310ca2c8932dbd118668bd97442558a3e1f546b5e15c69699dfbd6024f548d8"  # sha256 of b"program"


def test_second_open_is_warm_and_an_unusable_cache_is_rebuilt(tmp_path, restore_env, capsys):
    artifact = tmp_path / "m.pt2"
    artifact.write_bytes(b"program")
    first = CompileCache.open(artifact, "k1")
    assert first.state == "cold" and first.directory == tmp_path / CACHE_DIRNAME / "k1"
    (first.directory / f".bs2.aoti.pt2{TURN_SUFFIX}").touch()  # a compile's turn, left by one that failed
    assert CompileCache.open(artifact, "k1").state == "cold"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(first.directory)
    assert os.environ["TRITON_CACHE_DIR"] == str(first.directory / "triton")
    (first.directory / "fxgraph").mkdir()
    (first.directory / "fxgraph" / "entry").write_text("compiled")
    second = CompileCache.open(artifact, "k1")
    assert second.state == "warm"
    assert CompileCache.open(artifact, "k2").state == "cold"  # another key: another directory
    second.rebuild("BackendCompilerFailed: bad entry")
    assert second.state == "rebuilt" and second.directory.is_dir() and not any(second.directory.iterdir())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unusable" in err[0] and "rebuilding" in err[0]


def test_the_cache_is_found_by_an_absolute_path_whatever_the_artifact_path(tmp_path, monkeypatch, restore_env):
    """A relative cache path reached inductor's C++ compiler from another working directory: `cc1plus: fatal
    error: work/models/.../.compile-cache/...` (make's WORK=work), so the package form was refused."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.pt2").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    cache = CompileCache.open(Path("m") / "a.pt2", "k1")
    assert cache.directory == tmp_path / "m" / CACHE_DIRNAME / "k1" and cache.directory.is_absolute()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "m" / CACHE_DIRNAME / "k1")


def test_a_refusal_recorded_without_the_caches_absolute_path_no_longer_holds(tmp_path):
    """Such a record comes from when a relative cache path made inductor's C++ compile fail: try the package again."""
    import json

    from targets.nvidia import precompiled

    precompiled.refuse_aoti(tmp_path, "PackageRefused: made here")
    assert precompiled.earlier_refusal(tmp_path) == ("PackageRefused: made here", True)
    record = json.loads((tmp_path / precompiled.AOTI_REFUSED).read_text())
    assert record["cache_dir"] == str(tmp_path.resolve())
    del record["cache_dir"]
    (tmp_path / precompiled.AOTI_REFUSED).write_text(json.dumps(record))
    assert precompiled.earlier_refusal(tmp_path) == ("PackageRefused: made here", False)
