"""An NPU of several chips (Atlas 300I Duo: two 310P3 on one card): npu-smi repeats the main row for each chip,
and the idle check, the SoC and the power figure must be those of the chip the device is."""
from __future__ import annotations

import pytest

from targets.ascend.npu_smi import parse_npu_smi_info
from tests.targets.ascend.upstream import SIM

DUO = (SIM / "npu_smi" / "310p3duo.txt").read_text()


def test_each_chip_row_is_its_own():
    from targets.ascend.idle import chip_facts, chip_rows

    rows = chip_rows(DUO)
    assert sorted(rows) == [(1, 0), (1, 1)]
    assert chip_facts(rows[(1, 0)]) == (87.0, {"memory_used_bytes": 9692 << 20, "memory_total_bytes": 21527 << 20})
    assert chip_facts(rows[(1, 1)]) == (0.0, {"memory_used_bytes": 1425 << 20, "memory_total_bytes": 21527 << 20})


def test_chips_and_soc_of_a_duo_card():
    chips = parse_npu_smi_info(DUO)
    assert [(c.npu_id, c.chip_id, c.soc_version) for c in chips] == [(1, 0, "Ascend310P3"), (1, 1, "Ascend310P3")]


@pytest.mark.parametrize("device, idle, used_mib", [(0, False, 9692), (1, True, 1425)])
def test_idle_check_reads_the_devices_own_chip(ascend_sim, device, idle, used_mib):
    """Device 1 is chip 1 (Chip Logic ID 1 in npu-smi info -m): idle, although chip 0 beside it is busy."""
    from targets.ascend.idle import npu_idle_state

    ascend_sim.set("ASCEND_SIM_NPU_SMI", "310p3duo")
    state = npu_idle_state(device)
    assert state.idle is idle
    assert state.facts["memory_used_bytes"] == used_mib << 20
    assert f"NPU 1 chip {device}:" in state.method


def test_npu_id_without_chip_checks_every_chip_of_it(ascend_sim):
    from targets.ascend.idle import npu_idle_state

    ascend_sim.set("ASCEND_SIM_NPU_SMI", "310p3duo")
    state = npu_idle_state(1, npu_id=1)
    assert state.idle is False and state.facts["utilization_percent"] == 87.0
    assert state.facts["memory_used_bytes"] == (9692 + 1425) << 20
    assert "all 2 chips" in state.method


def test_power_of_a_duo_chip_is_labelled_as_the_whole_card(ascend_sim):
    from targets.ascend.power import ascend_energy_meter

    ascend_sim.set("ASCEND_SIM_NPU_SMI", "310p3duo")
    meter = ascend_energy_meter(1)
    assert meter.gauge.argv[-2:] == ["-i", "1"] and meter.gauge.chip_id == 1
    assert meter.gauge.read_watts() == 43.6
    assert "all chips of the card" in meter.gauge.name
