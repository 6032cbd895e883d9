"""`npu-smi info -t power -i <id>` in every layout, the device -> NPU ID mapping, and energy through the sim."""
from __future__ import annotations

import numpy as np
import pytest

from harness.energy import CounterUnreadable, UnavailableMeter
from harness.energy_summary import summarize_energy
from targets.ascend.power import AscendPowerMeter, ascend_energy_meter, npu_location, parse_power_info
from tests.targets.ascend.models import build_request, manifest_for, tiny_classifier
from tests.targets.ascend.upstream import SIM

LAYOUTS = SIM / "npu_smi"


def npu_smi_line(label: str, value) -> str:
    """npu-smi's own print format: a tab, the label padded to 30, ' : ', the value."""
    return "\t%-30s : %s\n" % (label, value)


def layout(name: str) -> str:
    return (LAYOUTS / name).read_text()


@pytest.mark.parametrize("name, chip, watts, covers, ais_bench", [
    ("310p3.power.0.txt", 0, 15.8, "card power (MCU), all chips of the card", 15.8),
    ("910b3.power.0.txt", 0, 100.0, "chip 0 real-time power", None),
    ("910b3.power.1.txt", 0, 96.3, "chip 0 real-time power", None),
    ("950pr.power.0.txt", 0, 160.2, "chip real-time power", None),  # 25.x: no Chip ID printed
    ("310b1.power.0.txt", 0, 7.6, "chip 0 real-time power", None),  # Chip ID before the power line
])
def test_every_simulated_layout(name, chip, watts, covers, ais_bench):
    power = parse_power_info(layout(name))
    assert power.measured(chip) == (watts, covers)
    assert power.ais_bench_watts == ais_bench
    # ais_bench takes the value from column 34 of the first line holding 'Power Dissipation(W)'
    lines = [line for line in layout(name).splitlines() if "Power Dissipation(W)" in line]
    assert (float(lines[0][34:]) if lines else None) == ais_bench


def test_a_310_card_rates_its_chips_and_measures_at_the_mcu():
    chips = "".join(npu_smi_line("Chip ID", i) + npu_smi_line("Rated Power Dissipation(W)", "8.0") + "\n"
                    for i in range(4))
    text = (npu_smi_line("NPU ID", 1) + npu_smi_line("Chip Count", 4) + "\n" + chips
            + npu_smi_line("Power Dissipation(W)", "30.5") + npu_smi_line("Chip Name", "MCU") + "\n")
    power = parse_power_info(text)
    assert power.measured(2) == (30.5, "card power (MCU), all chips of the card")
    assert power.rated_watts == {0: 8.0, 1: 8.0, 2: 8.0, 3: 8.0}
    assert power.ais_bench_watts == 8.0  # ais_bench's line search stops at the first chip's rating


def test_rated_power_alone_is_not_taken_as_a_measurement():
    text = npu_smi_line("NPU ID", 0) + npu_smi_line("Chip Count", 1) + "\n" + npu_smi_line("Chip ID", 0) \
        + npu_smi_line("Rated Power Dissipation(W)", "8.0") + "\n"
    with pytest.raises(CounterUnreadable, match="only the rated"):
        parse_power_info(text).measured(0)
    na = npu_smi_line("NPU ID", 0) + npu_smi_line("NPU Real-time Power(W)", "NA") + "\n"
    with pytest.raises(CounterUnreadable, match="no 'NPU Real-time Power"):
        parse_power_info(na).measured(0)


@pytest.mark.parametrize("name, device, location", [("310p3.m.txt", 0, (0, 0)), ("910b3.m.txt", 1, (1, 0)),
                                                     ("950pr.m.txt", 0, (0, 0)), ("910b3.m.txt", 2, None)])
def test_device_to_npu_id_from_the_chip_table(name, device, location):
    assert npu_location(layout(name), device) == location


@pytest.mark.parametrize("sim_layout, device, watts, ais_bench", [("310p3", 0, 15.8, True), ("910b3", 1, 96.3, False)])
def test_energy_over_a_pure_loop_on_the_simulated_npu(ascend_sim, tmp_path, sim_layout, device, watts, ais_bench):
    from infer.loop import run_pure
    from targets import get_target

    ascend_sim.set("ASCEND_SIM_NPU_SMI", sim_layout)
    ascend_sim.set("ASCEND_SIM_DEVICES", "2")
    onnx_path = tiny_classifier(tmp_path / "tiny.onnx")
    request = build_request(onnx_path, tmp_path / "om")
    target = get_target("ascend")
    result = target.build(request)
    with target.open(result.artifact, manifest_for(request, result), str(device)) as session:
        meter = session.energy_meter()
        assert isinstance(meter, AscendPowerMeter)
        loop = run_pure(session, 4, loop=5, warmup_count=1, time_limit=0.6)
    energy = summarize_energy(loop.energy, loop.images).to_dict()
    # constant power: the integral is the power times the window, and every sample reads it
    assert energy["available"] and energy["joules"] == pytest.approx(watts * energy["seconds"], rel=1e-9)
    assert energy["peak_watts"] == watts and energy["samples"] >= 2
    assert energy["joules_per_image"] == pytest.approx(watts * energy["seconds"] / loop.images)
    assert energy["counter"].startswith(f"npu-smi info -t power -i {device} (")
    if ais_bench:
        assert energy["comparison"]["ais_bench_joules"] == pytest.approx(np.mean([watts, watts]) * energy["seconds"])
    else:
        assert "ais_bench --energy_consumption has no figure" in energy["comparison"]["ais_bench_unavailable"]


def test_unknown_device_or_missing_npu_smi_is_unavailable(ascend_sim, monkeypatch):
    meter = ascend_energy_meter(5)
    assert isinstance(meter, UnavailableMeter) and "device 5 is not listed in `npu-smi info -m`" in meter.reason
    assert "is not an NPU ID" in ascend_energy_meter(0, "x").reason
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "npu-smi is not available" in ascend_energy_meter(0).reason
