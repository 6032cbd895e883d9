"""The process's age, read from /proc, against the time a parent measured around the child."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness.startup import process_age_s

CHILD = "import time; time.sleep(0.5); from harness.startup import process_age_s; print(process_age_s())"


@pytest.mark.skipif(process_age_s() is None, reason="no /proc here")
def test_age_of_a_child_lies_within_what_its_parent_measured():
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    outside = time.perf_counter() - started
    assert 0.5 <= float(out) <= outside + 0.02  # /proc counts in 10 ms ticks


CACHED_CHILD = "import sys, json, numpy; from harness.bytecode import bytecode_cached; print(json.dumps(bytecode_cached(('numpy',))))"


def test_bytecode_cached_tells_a_cached_import_from_one_compiled_from_source(tmp_path):
    import json
    import os

    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    source_only = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    def child(environment):
        out = subprocess.run([sys.executable, "-c", CACHED_CHILD], env=environment, capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out)

    assert child(source_only) == {"numpy": False}  # an empty prefix, nothing written
    child(env)  # writes numpy's bytecode under the prefix
    assert child(source_only) == {"numpy": True}


def test_marks_keep_order_and_the_first_time_and_a_new_run_starts_afresh():
    from harness import startup

    startup.begin_run()
    startup.mark("stage")
    startup.mark("run")
    first = startup.marks()["run"]
    time.sleep(0.02)
    startup.mark("run")  # marked once: a step's first time counts
    startup.mark("session open")
    marks = startup.marks()
    assert list(marks)[-2:] == ["run", "session open"] and marks["run"] == first
    assert marks["session open"] >= marks["run"] > 0
    startup.begin_run()
    assert "run" not in startup.marks() and "session open" not in startup.marks() and "stage" in startup.marks()


def test_a_new_stage_forgets_every_mark_of_the_last_one():
    from harness import startup

    startup.begin_stage()
    first = startup.marks()["stage"]
    startup.mark("run")
    time.sleep(0.05)  # marks come from /proc/uptime, in hundredths, rounded: 0.02 could read as 0.01
    startup.begin_stage()  # a second stage run in this process (tests, side by side)
    assert list(startup.marks()) == ["stage"] and startup.marks()["stage"] >= first + 0.02
