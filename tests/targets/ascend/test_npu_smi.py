"""npu-smi parsing on every layout of ref-ascend.md section 3 (the files the sim prints)."""
from __future__ import annotations

import pytest

from harness.errors import InputError, MissingDependencyError, TargetError
from targets.ascend import npu_smi
from tests.targets.ascend.upstream import SIM

LAYOUTS = SIM / "npu_smi"


def _read(name: str) -> str:
    return (LAYOUTS / name).read_text()


def test_modelzoo_310p3_table():
    chips = npu_smi.parse_npu_smi_info(_read("310p3.txt"))
    assert [(c.npu_id, c.name, c.health, c.chip_id, c.bus_id) for c in chips] == [
        (0, "310P3", "OK", 0, "0000:82:00.0")]
    assert npu_smi.soc_version_of(chips) == "Ascend310P3"


def test_a2_910b3_two_cards_and_a_process_table():
    chips = npu_smi.parse_npu_smi_info(_read("910b3.txt"))
    assert [(c.npu_id, c.name, c.bus_id) for c in chips] == [(0, "910B3", "0000:C1:00.0"),
                                                             (1, "910B3", "0000:C2:00.0")]
    assert npu_smi.soc_version_of(chips, npu_id=1) == "Ascend910B3"


def test_25x_driver_name_already_prefixed():
    chips = npu_smi.parse_npu_smi_info(_read("950pr.txt"))
    assert [(c.npu_id, c.name, c.bus_id) for c in chips] == [(0, "Ascend950PR", "0000:9D:00.0")]
    assert npu_smi.soc_version_of(chips) == "Ascend950PR"


def test_310b1_without_bus_id_and_in_alarm():
    chips = npu_smi.parse_npu_smi_info(_read("310b1.txt"))
    assert [(c.name, c.health, c.bus_id) for c in chips] == [("310B1", "Alarm", "")]
    assert chips[0].soc_version == "Ascend310B1"


@pytest.mark.parametrize("layout, soc", [("310p3", "Ascend310P3"), ("910b3", "Ascend910B3"),
                                         ("950pr", "Ascend950PR"), ("310b1", "Ascend310B1")])
def test_info_m_chip_table(layout, soc):
    chips = npu_smi.parse_npu_smi_chip_table(_read(f"{layout}.m.txt"))
    assert chips and all(c.name.lower() != "mcu" for c in chips)
    assert npu_smi.soc_version_of(chips) == soc


def test_usage_pairs_without_spaces_and_extra_columns():
    text = ("| 3     910B4     | Warning     | 100.0     49      0/0  |\n"
            "| 0   | 0000:C1:00.0 | 0  0/0  8676/32768 |\n")
    chips = npu_smi.parse_npu_smi_info(text)
    assert [(c.npu_id, c.name, c.health, c.bus_id) for c in chips] == [(3, "910B4", "Warning", "0000:C1:00.0")]


def test_soc_names():
    assert npu_smi.soc_version_from_name("Ascend 310P3") == "Ascend310P3"
    assert npu_smi.normalize_soc_version("310P3") == "Ascend310P3"
    assert npu_smi.normalize_soc_version("Ascend910B3") == "Ascend910B3"
    assert npu_smi.normalize_soc_version("310") == "Ascend310"
    for bad in ("", "Ascend", "AscendXYZ", "Tesla T4", "Ascend31", "Ascend310P3;rm"):
        with pytest.raises(TargetError, match="unknown Ascend SoC"):
            npu_smi.normalize_soc_version(bad)


def test_mixed_socs_need_a_choice():
    chips = npu_smi.parse_npu_smi_info(_read("310p3.txt")) + npu_smi.parse_npu_smi_info(_read("950pr.txt"))
    with pytest.raises(InputError, match="several SoC kinds"):
        npu_smi.soc_version_of(chips)


def test_no_npu_listed():
    with pytest.raises(TargetError, match="listed no NPU"):
        npu_smi.soc_version_of(npu_smi.parse_npu_smi_info("No NPU device found\n"))


def test_detect_runs_npu_smi(ascend_sim):
    ascend_sim.set("ASCEND_SIM_NPU_SMI", "950pr")
    assert npu_smi.detect_soc_version() == "Ascend950PR"


def test_detect_without_npu_smi_says_how_to_set_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="npu-smi.*soc_version=Ascend"):
        npu_smi.detect_soc_version()
