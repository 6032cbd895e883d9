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
