"""harness.perf: TF-TRT fps statistics, the stability warning, peak RSS, environment description."""
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness import perf
from harness.stats import summarize_ms

ROOT = Path(__file__).resolve().parents[2]


def test_fps_stats_against_hand_computed_values():
    # batch_ms 10, 20, 40, 50 at batch 2 -> per-batch fps 200, 100, 50, 40
    stats = perf.fps_stats([10.0, 20.0, 40.0, 50.0], batch_size=2)
    assert stats["steps"] == 4
    assert stats["fps_median"] == pytest.approx(75.0)  # (100 + 50) / 2
    assert stats["fps_mean"] == pytest.approx(97.5)  # 390 / 4, not 2 * 1000 / 30
    # deviations 102.5, 2.5, -47.5, -57.5 -> sum of squares 16075, ddof=1, over sqrt(4)
    assert stats["fps_uncertainty"] == pytest.approx(math.sqrt(16075 / 3) / 2)
    # |fps - 75| = 125, 25, 25, 35 -> median 30
    assert stats["fps_jitter"] == pytest.approx(1.4826 * 30)
    assert stats["latency_median_ms"] == pytest.approx(30.0)
    assert stats["latency_mean_ms"] == pytest.approx(30.0)
    assert stats["latency_p99_ms"] == pytest.approx(40 + 0.97 * 10)  # rank 2.97 between 40 and 50
    # p99 of [10, 40] is 39.7, of [20, 50] is 49.7
    assert stats["latency_p99_uncertainty_ms"] == pytest.approx(10.0)


def test_fps_stats_single_and_empty():
    one = perf.fps_stats([4.0], batch_size=8)
    assert one["fps_median"] == pytest.approx(2000.0) and one["fps_uncertainty"] is None
    assert one["latency_p99_uncertainty_ms"] is None
    assert perf.fps_stats([], batch_size=8) == {"steps": 0}


def test_stability_warns_above_two_and_a_half_percent():
    assert perf.stability(summarize_ms([10.0, 10.0, 10.0, 10.0])) is None
    warning = perf.stability(summarize_ms([9.0, 11.0]))  # std sqrt(2), mean 10 -> 14.1%
    assert warning is not None and "14.1%" in warning and "2 batches" in warning
    assert perf.stability({"count": 500, "cv": 0.025}) is None
    assert "3.1%" in perf.stability({"count": 500, "cv": 0.031})
    assert perf.stability({"count": 1, "cv": 0.5}) is None


def test_host_time_in_compute_sums_the_flagged_batches_against_the_known_compute():
    from targets.base import BatchTiming

    timings = [BatchTiming(compute_ms=2.0, host_in_compute_ms=0.0),
               BatchTiming(compute_ms=2.0, host_in_compute_ms=0.05),
               BatchTiming(compute_ms=4.0, host_in_compute_ms=0.15),
               BatchTiming(compute_ms=9.0)]  # a target that cannot tell
    info = perf.host_time_in_compute(timings)
    assert info == {"batches": 2, "of": 3, "max_ms": 0.15, "total_ms": 0.2, "compute_ms": 8.0,
                    "share_of_compute": round(0.2 / 8.0, 4)}
    warning = perf.host_time_warning(info)
    assert "2 of 3 batches" in warning and "2.5% of the compute time" in warning and "upper bound" in warning
    assert perf.host_time_in_compute([BatchTiming(compute_ms=2.0)]) is None  # a target that cannot tell
    assert perf.host_time_warning(None) is None
    # a batch cannot hold more host time than its whole compute time
    capped = perf.host_time_in_compute([BatchTiming(compute_ms=0.02, host_in_compute_ms=0.08)])
    assert capped["total_ms"] == 0.02 and capped["share_of_compute"] == 1.0


def test_host_time_of_several_devices_is_summed_from_their_own_sums():
    from targets.base import BatchTiming

    a = [BatchTiming(compute_ms=2.0, host_in_compute_ms=0.1), BatchTiming(compute_ms=2.0, host_in_compute_ms=0.0)]
    b = [BatchTiming(compute_ms=3.0, host_in_compute_ms=0.3)]
    merged = perf.merge_host_time_in_compute([perf.host_time_in_compute(a), None, perf.host_time_in_compute(b)])
    assert merged == perf.host_time_in_compute(a + b)
    assert merged["batches"] == 2 and merged["of"] == 3 and merged["share_of_compute"] == round(0.4 / 7.0, 4)
    assert perf.merge_host_time_in_compute([None, None]) is None


def test_host_time_warning_only_above_one_percent_of_compute():
    from targets.base import BatchTiming

    at = perf.host_time_in_compute([BatchTiming(compute_ms=100.0, host_in_compute_ms=1.0)])
    above = perf.host_time_in_compute([BatchTiming(compute_ms=100.0, host_in_compute_ms=1.01)])
    assert at["share_of_compute"] == perf.HOST_IN_COMPUTE_SHARE and perf.host_time_warning(at) is None
    assert perf.host_time_warning(above).startswith("compute-only time may include host time")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_host_peak_rss_matches_the_kernels_high_water_mark():
    ours = perf.host_peak_rss_mib()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            kernel_mib = int(line.split()[1]) / 1024.0
    assert ours == pytest.approx(kernel_mib, abs=8.0)


def test_environment_imports_nothing_new():
    code = ("import json, sys; import harness.perf as p; e = p.environment(); "
            "print(json.dumps({'env': e, 'torch': 'torch' in sys.modules, 'ort': 'onnxruntime' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["torch"] is False and result["ort"] is False
    env = result["env"]
    assert set(env) >= {"machine", "os", "python", "packages"}
    assert env["machine"]["logical_cores"] == os.cpu_count()
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert "numpy" in env["packages"] and "torch" not in env["packages"]


def _fake_tool(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_nvidia_smi_parsed_when_present(tmp_path, monkeypatch):
    _fake_tool(tmp_path, "nvidia-smi", 'echo "NVIDIA H100 80GB HBM3, 570.86.15, 81559"')
    monkeypatch.setenv("PATH", str(tmp_path))
    expected = {"driver": "570.86.15", "gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559.0}]}
    assert perf.nvidia_smi_info() == expected
    assert perf.environment()["nvidia"] == expected


def test_nvidia_smi_failure_or_absence_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert perf.nvidia_smi_info() is None
    assert "nvidia" not in perf.environment()
    _fake_tool(tmp_path, "nvidia-smi", "echo 'NVIDIA-SMI has failed'; exit 9")
    assert perf.nvidia_smi_info() is None


def test_imported_package_versions_reads_only_loaded_modules():
    versions = perf.imported_package_versions(("numpy", "surely_not_a_module_name"))
    import numpy

    assert versions == {"numpy": numpy.__version__}
