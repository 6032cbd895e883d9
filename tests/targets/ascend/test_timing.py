"""Compute times from the runtime's own timestamps stay exact however old the session gets.

The 2025 runtime records float32 ms since session creation: after 4 hours its steps are 1 ms, so a 0.6 ms
execution would read 0 or 1 ms. The harness sees the coarse step, opens the session again (a new zero
point) and times the batch again.
"""
from __future__ import annotations

import numpy as np
import pytest

from infer.run import resolution_warning
from targets import get_target
from tests.targets.ascend.models import IMAGE, build_request, manifest_for, tiny_classifier

EXEC_MS = 0.6


@pytest.fixture
def session(sim_api, ascend_sim, tmp_path):
    ascend_sim.set("ASCEND_SIM_EXEC_MS", str(EXEC_MS))
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "out")
    target = get_target("ascend")
    result = target.build(request)
    with target.open(result.artifact, manifest_for(request, result), "0") as opened:
        yield opened


def test_a_four_hour_old_session_still_reads_within_one_percent(session, sim_api):
    import aclruntime

    batch = np.zeros((4, 3, IMAGE, IMAGE), np.float32)
    for _ in range(3):
        session.run(batch)
    aclruntime.advance_clock(4 * 3600)
    for _ in range(3):
        session.run(batch)
    truth = aclruntime.true_exec_ms()[-7:] if sim_api == "2025" else aclruntime.true_exec_ms()[-6:]
    if sim_api == "2025":
        del truth[3]  # the first run after the jump was timed in 1 ms steps and ran again
    measured = [t.compute_ms for t in session.timings]
    assert all(true >= EXEC_MS for true in truth)
    np.testing.assert_allclose(measured, truth, rtol=0.01)
    info = session.info()
    assert info["session_reopens"] == (1 if sim_api == "2025" else 0)
    assert info["timestamp_resolution_ms"] < 0.01 * EXEC_MS


def test_summary_warns_when_timestamps_are_coarser_than_one_percent():
    assert resolution_warning({"timestamp_resolution_ms": 0.0625}, {"median": 0.6}).startswith(
        "the runtime's timestamps had a resolution of 0.0625 ms")
    assert resolution_warning({"timestamp_resolution_ms": 0.004}, {"median": 0.6}) == ""
    assert resolution_warning({}, {"median": 0.6}) == ""


def test_a_session_younger_than_a_minute_is_not_reopened(session, sim_api, ascend_sim):
    """However fast the model, reopening (an OM load) happens at most about once a minute."""
    import aclruntime

    ascend_sim.set("ASCEND_SIM_EXEC_MS", "0.1")
    batch = np.zeros((4, 3, IMAGE, IMAGE), np.float32)
    aclruntime.advance_clock(30)  # steps of 2**-9 ms: over 0.5 % of 0.1 ms, but the session is young
    session.run(batch)
    assert session.info()["session_reopens"] == 0
    aclruntime.advance_clock(4 * 3600)
    session.run(batch)
    assert session.info()["session_reopens"] == (1 if sim_api == "2025" else 0)
