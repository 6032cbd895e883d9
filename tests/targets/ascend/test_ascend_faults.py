"""Faults of the Ascend path: which NPU the energy and idle figures come from, ais_bench's --npu_id, a cut OM."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from harness.energy import UnavailableMeter
from harness.errors import InputError, TargetError
from infer.ais_bench_flags import (OPTION_FLAGS, TARGET_OPTION_ARG, ascend_bench_options, given_target_options,
                                   take_ais_bench_flags)
from targets import get_target, target_class
from tests.targets.ascend.models import IMAGE, build_request, manifest_for, tiny_classifier
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


@pytest.mark.parametrize("visible, chips, ids", [
    ("2,3", None, [2, 3]), ("1, 2,3", None, [1]), ("1,2,-1,3", None, [1, 2]), ("x", None, []),
    ("1,\u00b2,3", None, [1]),  # '²' passes str.isdigit(), and int() refuses it
    ("1,3,8", range(8), [1, 3]),  # CANN's own example: 8 is no chip of an eight-chip machine
    ("1,3,8", None, [1, 3, 8]),
])
def test_the_visible_devices_are_read_as_cann_reads_them(monkeypatch, visible, chips, ids):
    """CANN takes the ids before the first entry that is not one (a space included) or not one of its chips
    (which npu-smi info -m lists), and numbers them from 0."""
    from targets.ascend.power import chip_logic_id

    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", visible)
    assert [chip_logic_id(d, chips) for d in range(len(ids))] == ids
    with pytest.raises(ValueError, match=f"has no Chip Logic ID for device {len(ids)}"):
        chip_logic_id(len(ids), chips)


def test_a_visible_device_npu_smi_does_not_list_ends_the_list(ascend_sim):
    """The simulated A2 machine has Chip Logic IDs 0 and 1: CANN reads "1,3" as 1 alone."""
    from targets.ascend.power import ascend_energy_meter

    _two_npus(ascend_sim, "1,3")
    assert ascend_energy_meter(0).gauge.argv[-2:] == ["-i", "1"]
    meter = ascend_energy_meter(1)
    assert isinstance(meter, UnavailableMeter)
    assert meter.reason == ("ASCEND_RT_VISIBLE_DEVICES=1,3 has no Chip Logic ID for device 1 (CANN stops at 3, not a "
                            "Chip Logic ID in npu-smi info -m); pass --option npu_id=<NPU ID>")


def test_the_idle_check_looks_at_the_chip_the_visible_devices_name(ascend_sim):
    from targets.ascend.idle import npu_idle_state

    _two_npus(ascend_sim, "1")
    state = npu_idle_state(0)
    assert state.idle is True and "NPU 1" in state.method
    _two_npus(ascend_sim, "0,1")
    assert npu_idle_state(0).idle is False  # NPU 0 runs another process


def test_a_given_npu_id_locates_the_npu_for_the_idle_check_and_the_energy_alike(ascend_sim):
    """Device 1 has no Chip Logic ID through ASCEND_RT_VISIBLE_DEVICES=1, but npu_id names the NPU for both."""
    from targets.ascend.idle import npu_idle_state
    from targets.ascend.power import ascend_energy_meter

    _two_npus(ascend_sim, "1")
    state = npu_idle_state(1, npu_id=1)
    assert state.idle is True and "NPU 1" in state.method
    assert ascend_energy_meter(1, npu_id=1).gauge.read_watts() == 96.3


def test_an_npu_not_found_is_one_reason_for_the_idle_check_and_the_energy_alike(ascend_sim):
    from targets.ascend.idle import npu_idle_state
    from targets.ascend.power import ascend_energy_meter

    _two_npus(ascend_sim, "1")
    reason = ascend_energy_meter(1).reason
    assert reason.endswith("; pass --option npu_id=<NPU ID>")
    state = npu_idle_state(1)
    assert state.idle is None and state.method == f"the NPU was not checked: {reason}"
    _two_npus(ascend_sim, "")
    reason = ascend_energy_meter(2).reason  # two NPUs, Chip Logic IDs 0 and 1
    assert reason == "device 2 is not listed in `npu-smi info -m`; pass --option npu_id=<NPU ID>"
    assert npu_idle_state(2).method == f"the NPU was not checked: {reason}"


def test_ais_bench_npu_id_sets_the_npu_whose_power_is_read():
    assert take_ais_bench_flags(["--npu_id", "1", "--loop", "2"]) == [f"{TARGET_OPTION_ARG}=--npu_id=1", "--loop", "2"]
    assert ascend_bench_options({"--npu_id": "1"}, "ascend") == {"npu_id": "1"}
    assert ascend_bench_options({"--npu_id": "1"}, "cpu") == {}  # no NPU there: it means nothing
    with pytest.raises(InputError, match=r"--npu_id -1: give an NPU ID"):
        take_ais_bench_flags(["--npu_id=-1"])
    with pytest.raises(InputError, match="--npu_id \u00b2: give an NPU ID"):
        take_ais_bench_flags(["--npu_id", "\u00b2"])


def test_each_ais_bench_option_flag_sets_a_declared_ascend_option():
    declared = target_class("ascend").options_class.specs()
    assert {flag: record.option for flag, record in OPTION_FLAGS.items()} == {"--pipeline": "pipeline",
                                                                               "--npu_id": "npu_id"}
    assert all(record.option in declared for record in OPTION_FLAGS.values())
    assert given_target_options({"--npu_id": "1", "--pipeline": "0"}, "ascend", {"npu_id": "2"}) == {
        "npu_id": "2", "pipeline": "0"}  # --option wins over the ais_bench flag
    assert given_target_options({"--npu_id": "1", "--pipeline": "0"}, "cpu", {}) == {}


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


@pytest.mark.parametrize("pipeline, advice", [
    ("0", "; update aclruntime"),  # already one batch at a time: pipeline=0 would change nothing
    ("1", "; update aclruntime, or run with --option pipeline=0 (one batch at a time)"),
])
def test_a_missing_execution_time_advises_pipeline_0_only_on_the_pipelined_path(ascend_sim, tmp_path, monkeypatch,
                                                                                pipeline, advice):
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "om", batch_sizes=[2])
    target = get_target("ascend", pipeline=pipeline)
    result = target.build(request)
    with target.open(result.artifact, manifest_for(request, result), "0") as session:
        monkeypatch.setattr(session._backend, "compute_ms", lambda: ([], 0.0))  # an aclruntime that records none
        batch = np.zeros((2, 3, IMAGE, IMAGE), np.float32)
        with pytest.raises(TargetError) as info:
            session.collect(session.submit(batch))
    message = str(info.value)
    assert message.startswith(f"{result.artifact.name}: the runtime recorded no execution time for 1 batch(es)")
    assert message.endswith(advice) and "\n" not in message


@pytest.mark.parametrize("device", ["\u00b2", "x"])
def test_a_device_that_is_no_npu_index_is_refused_before_the_idle_check(device):
    """'²' passes str.isdigit(), and int() refuses it; 'x' was checked as device 0."""
    with pytest.raises(InputError, match=f"Ascend device {device!r}: expected one NPU index such as 0"):
        get_target("ascend").idle_state(device)
