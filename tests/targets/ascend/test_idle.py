"""NPU idle check from `npu-smi info`, on the simulated npu-smi's documented layouts."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("layout, device, idle, used", [("310p3", 0, True, 1074), ("910b3", 0, False, 0),
                                                         ("910b3", 1, True, 0), ("950pr", 0, True, 0)])
def test_the_npu_check_reads_npu_smi_info(ascend_sim, layout, device, idle, used):
    from targets.ascend.idle import npu_idle_state

    ascend_sim.set("ASCEND_SIM_NPU_SMI", layout)
    state = npu_idle_state(device)
    assert state.idle is idle
    assert state.facts["memory_used_bytes"] == used << 20
    if not idle:  # the 910B3 sample lists python3 (pid 18234) with 5297 MB on NPU 0
        assert state.facts["processes"] == [{"pid": 18234, "name": "python3", "used_bytes": 5297 << 20}]
        assert state.busy == ["1 other process(es) on the device: python3 (18234)"]
