"""torch's and Triton's source hashes, computed on side threads while a warm start imports inductor: computed
once, off the main thread, waited for, and found cached afterwards (Triton stood in for; a warm process with torch's
own hash is in test_precompiled.py)."""
from __future__ import annotations

import functools
import sys
import threading
import time
import types

import pytest

from harness import startup
from targets.nvidia import source_keys

MARK = "source keys hashed aside"


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(source_keys, "_state", source_keys._Hashes())
    startup.begin_run()


def stand_in_triton(monkeypatch, key) -> None:
    """A Triton whose triton_key is `key`, where Triton 3.x keeps it."""
    runtime, cache = types.ModuleType("triton.runtime"), types.ModuleType("triton.runtime.cache")
    cache.triton_key = key
    for name, module in (("triton", types.ModuleType("triton")), ("triton.runtime", runtime),
                         ("triton.runtime.cache", cache)):
        monkeypatch.setitem(sys.modules, name, module)


def test_triton_is_hashed_once_on_a_side_thread_and_waited_for(monkeypatch):
    threads = []

    @functools.lru_cache(None)  # as Triton caches it
    def triton_key():
        time.sleep(0.3)  # long enough that a wait which does not wait finds it running
        threads.append(threading.current_thread().name)
        return "hash"

    stand_in_triton(monkeypatch, triton_key)
    assert source_keys.hash_triton_aside() is True
    assert source_keys.hash_triton_aside() is False  # started already
    source_keys.wait()
    assert source_keys.report(["triton"])["seconds"]["triton"] >= 0.3 and MARK in startup.marks()
    assert source_keys.hash_triton_aside() is False  # done already
    assert triton_key() == "hash"  # inductor's later call: cached
    assert threads == ["triton-key"]
    assert source_keys.report(["torch"]) == {}  # only what was asked about


def test_a_hash_past_the_limit_is_left_running_and_waited_for_later(monkeypatch):
    release = threading.Event()
    stand_in_triton(monkeypatch, lambda: release.wait(30))
    monkeypatch.setattr(source_keys, "WAIT_LIMIT_S", 0.05)
    source_keys.hash_triton_aside()
    source_keys.wait()
    assert source_keys.report(["triton"]) == {} and MARK not in startup.marks()  # still running: no mark
    release.set()
    source_keys.wait()
    assert "triton" in source_keys.report(["triton"])["seconds"] and MARK in startup.marks()


def test_a_key_that_fails_aside_is_reported_and_left_to_inductor(monkeypatch):
    calls = []

    def triton_key():
        calls.append(1)
        raise OSError("libtriton.so: cannot open shared object file")

    stand_in_triton(monkeypatch, triton_key)
    source_keys.hash_triton_aside()
    source_keys.wait()  # returns: the error stays on its thread
    assert source_keys.hash_triton_aside() is False  # not tried again in this process
    assert calls == [1]
    assert source_keys.report(["triton"]) == {
        "errors": {"triton": "OSError: libtriton.so: cannot open shared object file"}}


def test_without_triton_nothing_starts(monkeypatch):
    for name in ("triton", "triton.runtime", "triton.runtime.cache", "triton.compiler", "triton.compiler.compiler"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as when it is not installed
    assert source_keys.hash_triton_aside() is False
    source_keys.wait()
    assert source_keys.report(["triton"]) == {} and MARK not in startup.marks()
