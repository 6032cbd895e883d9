"""torch's and Triton's source hashes, computed on side threads while a warm start imports inductor: computed
once, off the main thread, and found cached afterwards (Triton stood in for; a warm process with torch's own hash is
in test_precompiled.py)."""
from __future__ import annotations

import functools
import sys
import threading
import types

import pytest

from targets.nvidia import source_keys


@pytest.fixture
def fresh_state(monkeypatch):
    for name in ("_pending", "_seconds", "_errors"):
        monkeypatch.setattr(source_keys, name, {})


def stand_in_triton(monkeypatch, key) -> None:
    """A Triton whose triton_key is `key`, where Triton 3.x keeps it."""
    runtime, cache = types.ModuleType("triton.runtime"), types.ModuleType("triton.runtime.cache")
    cache.triton_key = key
    for name, module in (("triton", types.ModuleType("triton")), ("triton.runtime", runtime),
                         ("triton.runtime.cache", cache)):
        monkeypatch.setitem(sys.modules, name, module)


def test_triton_is_hashed_once_on_a_side_thread_and_found_cached_after(fresh_state, monkeypatch):
    threads = []

    @functools.lru_cache(None)  # as Triton caches it
    def triton_key():
        threads.append(threading.current_thread().name)
        return "hash"

    stand_in_triton(monkeypatch, triton_key)
    source_keys.hash_triton_aside()
    source_keys.hash_triton_aside()  # started already: not again
    source_keys.wait()
    source_keys.hash_triton_aside()  # done already: not again
    source_keys.wait()
    assert triton_key() == "hash"  # inductor's later call
    assert threads == ["triton-key"]
    assert set(source_keys.report()) == {"triton"} and source_keys.report()["triton"] >= 0


def test_a_key_that_fails_aside_is_reported_and_left_to_inductor(fresh_state, monkeypatch):
    calls = []

    def triton_key():
        calls.append(1)
        raise OSError("libtriton.so: cannot open shared object file")

    stand_in_triton(monkeypatch, triton_key)
    source_keys.hash_triton_aside()
    source_keys.wait()  # returns: the error stays on its thread
    source_keys.hash_triton_aside()  # not tried again in this process
    source_keys.wait()
    assert calls == [1]
    assert source_keys.report() == {"errors": {"triton": "OSError: libtriton.so: cannot open shared object file"}}


def test_without_triton_nothing_starts(fresh_state, monkeypatch):
    for name in ("triton", "triton.runtime", "triton.runtime.cache", "triton.compiler", "triton.compiler.compiler"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as when it is not installed
    source_keys.hash_triton_aside()
    source_keys.wait()
    assert source_keys.report() == {} and source_keys._pending == {}
