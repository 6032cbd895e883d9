"""Faults of the Ascend path: which NPU the energy and idle figures come from, ais_bench's --npu_id, a cut OM."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.energy import UnavailableMeter
from harness.errors import InputError, TargetError
from infer.ais_bench_flags import TARGET_OPTION_ARG, ascend_bench_options, take_ais_bench_flags
from targets import get_target
from tests.targets.ascend.models import build_request, manifest_for, tiny_classifier
from tests.targets.ascend.upstream import ROOT


def _two_npus(ascend_sim, visible: str) -> None:
    """The simulated A2 machine: NPU 0 (100.0 W, a process on it) and NPU 1 (96.3 W, idle)."""
    ascend_sim.set("ASCEND_SIM_NPU_SMI", "910b3")
    ascend_sim.set("ASCEND_RT_VISIBLE_DEVICES", visible)


def test_energy_is_read_from_the_chip_the_visible_devices_name(ascend_sim):
    from targets.ascend.power import ascend_energy_meter

    _two_npus(ascend_sim, "1")
    meter = ascend_energy_meter(0)  # the process's device 0 is Chip Logic ID 1
    assert meter.gauge.argv[-2:] == ["-i", "1"]
    assert meter.gauge.read_watts() == 96.3
    assert "device 0 = Chip Logic ID 1 through ASCEND_RT_VISIBLE_DEVICES" in meter.gauge.name


def test_a_device_the_visible_devices_do_not_list_has_no_energy_figure(ascend_sim):
    from targets.ascend.power import ascend_energy_meter

    _two_npus(ascend_sim, "1")
    meter = ascend_energy_meter(1)
    assert isinstance(meter, UnavailableMeter)
    assert "ASCEND_RT_VISIBLE_DEVICES=1 has no Chip Logic ID for device 1" in meter.reason
    _two_npus(ascend_sim, "")  # unset or empty: every chip visible, device = Chip Logic ID
    assert ascend_energy_meter(1).gauge.argv[-2:] == ["-i", "1"]


@pytest.mark.parametrize("visible, ids", [("2,3", [2, 3]), ("1, 2,3", [1]), ("1,2,-1,3", [1, 2]), ("x", [])])
def test_the_visible_devices_are_read_as_cann_reads_them(monkeypatch, visible, ids):
    """CANN takes the ids before the first entry that is not one (a space included) and numbers them from 0."""
    from targets.ascend.power import chip_logic_id

    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", visible)
    assert [chip_logic_id(d) for d in range(len(ids))] == ids
    with pytest.raises(ValueError, match=f"has no Chip Logic ID for device {len(ids)}"):
        chip_logic_id(len(ids))


def test_the_idle_check_looks_at_the_chip_the_visible_devices_name(ascend_sim):
    from targets.ascend.idle import npu_idle_state

    _two_npus(ascend_sim, "1")
    state = npu_idle_state(0)
    assert state.idle is True and "NPU 1" in state.method
    _two_npus(ascend_sim, "0,1")
    assert npu_idle_state(0).idle is False  # NPU 0 runs another process


def test_ais_bench_npu_id_sets_the_npu_whose_power_is_read():
    assert take_ais_bench_flags(["--npu_id", "1", "--loop", "2"]) == [f"{TARGET_OPTION_ARG}=--npu_id=1", "--loop", "2"]
    assert ascend_bench_options({"--npu_id": "1"}, "ascend") == {"npu_id": "1"}
    assert ascend_bench_options({"--npu_id": "1"}, "cpu") == {}  # no NPU there: it means nothing
    with pytest.raises(InputError, match=r"--npu_id -1: give an NPU ID"):
        take_ais_bench_flags(["--npu_id=-1"])


def test_ais_bench_npu_id_reaches_the_energy_figure_of_a_run(ascend_sim, tmp_path):
    ascend_sim.set("ASCEND_SIM_NPU_SMI", "910b3")
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "om", batch_sizes=[2])
    om = get_target("ascend").build(request).artifact
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.environ["PYTHONPATH"], str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "infer", "--model", str(om), "--loop", "3", "--npu_id", "1",
                           "--output", str(tmp_path / "res"), "--output_dirname", "run"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "res" / "run_summary.json").read_text())
    assert summary["energy"]["counter"].startswith("npu-smi info -t power -i 1 ")
    assert summary["energy"]["peak_watts"] == 96.3


@pytest.mark.parametrize("flag", [["--npu_id", "1"], ["--option", "npu_id=1"]])
def test_one_npu_id_for_two_devices_is_refused(ascend_sim, tmp_path, flag):
    """Both workers would read NPU 1's power."""
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "om", batch_sizes=[2])
    om = get_target("ascend").build(request).artifact
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.environ["PYTHONPATH"], str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "infer", "--model", str(om), "--loop", "3", "--device", "0,1",
                           *flag, "--output", str(tmp_path / "res"), "--output_dirname", "run"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 3
    assert proc.stderr.strip() == ("error: --option npu_id=1 (ais_bench: --npu_id) names one device, but --device 0,1 "
                                   "runs 2: each would report that one's figures; drop it (each device's own is "
                                   "looked up)")
    assert not list((tmp_path / "res").iterdir())  # no result directory, no summary


def test_a_cut_om_is_one_line_that_says_to_rebuild_it(sim_api, tmp_path):
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "om", batch_sizes=[2])
    target = get_target("ascend")
    result = target.build(request)
    data = result.artifact.read_bytes()
    result.artifact.write_bytes(data[:-64])  # the header whole, the model inside it cut short
    with pytest.raises(TargetError, match="cannot load it on device 0") as info:
        target.open(result.artifact, manifest_for(request, result), "0")
    message = str(info.value)
    assert "\n" not in message and str(result.artifact) in message and "rerun convert" in message


def test_a_batch_the_runtime_recorded_no_time_for_is_refused_not_counted_as_zero():
    """0 ms a batch would raise compute-only throughput without bound."""
    from targets.ascend.pipeline import batch_timings

    with pytest.raises(TargetError, match=r"recorded no execution time for 2 batch\(es\)"):
        batch_timings([], None, None, 2)
    assert [t.compute_ms for t in batch_timings([1.0, 2.0, 3.0, 4.0], None, None, 2)] == [3.0, 7.0]
