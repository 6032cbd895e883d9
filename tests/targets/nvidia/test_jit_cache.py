"""Where the CUDA driver keeps what it compiles at run time: moved only where its default place cannot be written."""
from __future__ import annotations

import os
import sys
import types

import pytest

from targets.nvidia import jit_cache
from targets.nvidia.jit_cache import keep_driver_jit_cache


@pytest.fixture
def no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)


def unwritable_home(tmp_path) -> str:
    """A home below a regular file: nothing can be made there, whoever runs the test (root too)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    return str(blocker / "home")


def test_a_writable_default_is_left_to_the_driver(tmp_path, no_torch):
    environ = {"HOME": str(tmp_path)}
    assert keep_driver_jit_cache(environ) == {"state": "on", "path": str(tmp_path / ".nv" / "ComputeCache")}
    assert "CUDA_CACHE_PATH" not in environ


def test_an_unwritable_default_is_replaced_by_the_harness_directory(tmp_path, no_torch):
    home = unwritable_home(tmp_path)
    environ = {"HOME": home, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    state = keep_driver_jit_cache(environ)
    assert environ["CUDA_CACHE_PATH"] == str(tmp_path / "cache" / "inference-harness" / "cuda-jit")
    assert os.path.isdir(environ["CUDA_CACHE_PATH"])
    assert state == {"state": "on", "path": environ["CUDA_CACHE_PATH"],
                     "instead_of": f"{home}/.nv/ComputeCache"}


def test_the_temporary_directory_when_no_cache_directory_is_writable(tmp_path, monkeypatch, no_torch):
    monkeypatch.setattr(jit_cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    environ = {"HOME": unwritable_home(tmp_path)}
    assert keep_driver_jit_cache(environ)["state"] == "on"
    assert environ["CUDA_CACHE_PATH"].startswith(str(tmp_path / "tmp" / "inference-harness-cuda-jit-"))


def test_nothing_is_moved_once_cuda_has_started(tmp_path, monkeypatch):
    started = types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", started)
    environ = {"HOME": unwritable_home(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert keep_driver_jit_cache(environ)["state"].startswith("off (its default place is not writable")
    assert "CUDA_CACHE_PATH" not in environ


@pytest.mark.parametrize("setting, state", [
    ({"CUDA_CACHE_DISABLE": "1"}, "off (CUDA_CACHE_DISABLE=1)"),
    ({"CUDA_CACHE_PATH": "{unwritable}/jit"}, "off (CUDA_CACHE_PATH is not writable)"),
    ({"CUDA_CACHE_PATH": "{tmp}/jit"}, "on")])
def test_the_users_own_settings_are_reported_not_changed(tmp_path, no_torch, setting, state):
    values = {k: v.format(unwritable=unwritable_home(tmp_path), tmp=tmp_path) for k, v in setting.items()}
    environ = {"HOME": unwritable_home(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), **values}
    assert keep_driver_jit_cache(environ)["state"] == state
    assert environ == {"HOME": unwritable_home(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), **values}


def test_no_home_directory_goes_to_the_temporary_directory(tmp_path, monkeypatch, no_torch):
    """No HOME and no passwd entry (a container run under an arbitrary uid): "~" must not become a relative path."""
    monkeypatch.setattr(jit_cache.os.path, "expanduser", lambda path: path)
    monkeypatch.setattr(jit_cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    environ: dict[str, str] = {}
    state = keep_driver_jit_cache(environ)
    assert os.path.isabs(environ["CUDA_CACHE_PATH"])
    assert environ["CUDA_CACHE_PATH"].startswith(str(tmp_path / "tmp" / "inference-harness-cuda-jit-"))
    assert state["instead_of"] == "~/.nv/ComputeCache (no home directory)"


def test_infer_settles_the_cache_before_its_idle_check_starts_cuda(tmp_path, monkeypatch, no_torch):
    """infer checks that the GPU is idle before it opens the session, and that check starts CUDA: the driver's
    cache must be placed by then, and the session reports what was settled."""
    from targets.nvidia import idle
    from targets.nvidia.target import NvidiaTarget

    monkeypatch.setenv("HOME", unwritable_home(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("CUDA_CACHE_PATH", "CUDA_CACHE_DISABLE"):
        monkeypatch.setenv(name, "")  # recorded, so that what the target sets is undone after the test
        monkeypatch.delenv(name)
    seen = []
    monkeypatch.setattr(idle, "gpu_idle_state", lambda index: seen.append(os.environ.get("CUDA_CACHE_PATH")))
    target = NvidiaTarget(engine="torch")
    target.idle_state("0")
    assert seen == [str(tmp_path / "cache" / "inference-harness" / "cuda-jit")]
    assert target._driver_jit_cache()["instead_of"].endswith("/.nv/ComputeCache")
