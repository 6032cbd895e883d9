"""End-to-end over several devices: every worker prepares (loads, compiles, warms up), then all start their timed
loops together at a start barrier, so all images over the walltime from the first device's timed loop start to the
last one's end describe devices running side by side."""
from __future__ import annotations

import json
import os

import pytest

from harness.contracts import run_summary_path
from tests.conftest import ROOT, make_convert_dir, run_cli, write_bins

LOOP, COMPUTE_MS, BATCH = 30, 10, 4  # each device's timed loop: 30 batches of 10 ms, 0.3 s
LATE_START_S = 1.5  # device 1 prepares this much longer than device 0, as one compiling longer would
SKEW_AT_MOST_S = 0.05  # how far apart loops started together may begin (process wake-up, not preparation)


def late_device_env(tmp_path) -> dict:
    """Workers whose device-1 process sleeps before it starts, as one waiting for another's compile would."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys, time\n"
        "if sys.argv[-2:] != ['--device', '0,1'] and '--device' in sys.argv "
        "and sys.argv[sys.argv.index('--device') + 1] == '1':\n"
        f"    time.sleep({LATE_START_S})\n")
    return {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}


def prepared_at(part: dict) -> float:
    """The worker process's age when its warm-up ended (both workers start at the same moment)."""
    return part["extra"]["startup"]["marks"]["warm-up batches"]


@pytest.mark.parametrize("mode", ["pure", "dataset"])
def test_timed_loops_start_together_after_preparations_that_differ(tmp_path, mode):
    model = make_convert_dir(tmp_path / "model", target="null", batch=BATCH)
    inputs = []
    if mode == "dataset":
        write_bins(tmp_path / "bins", 2 * LOOP * BATCH)
        inputs = ["--input", str(tmp_path / "bins"), "--io", "threads"]
    proc = run_cli("-m", "infer", "--model", str(model), "--output", str(tmp_path / "res"), "--output_dirname", "p",
                   "--batchsize", str(BATCH), "--loop", str(LOOP if mode == "pure" else 1), *inputs,
                   "--option", f"compute_ms={COMPUTE_MS}", "--device", "0,1", "--no-progress",
                   env=late_device_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(run_summary_path(tmp_path / "res" / "p").read_text())
    parts = [json.loads((tmp_path / "res" / f"p_summary.device{d}.json").read_text()) for d in "01"]
    assert prepared_at(parts[1]) - prepared_at(parts[0]) > LATE_START_S * 0.8  # device 0 was ready long before
    starts = [p["extra"]["timed_loop"]["monotonic_start_s"] for p in parts]
    assert abs(starts[1] - starts[0]) < SKEW_AT_MOST_S
    assert merged["throughput"]["loop_start_skew_s"] == pytest.approx(abs(starts[1] - starts[0]))
    assert merged["extra"]["start_barrier"] is True and merged["extra"]["end_to_end_wall"] == "span"
    # side by side: the combined end-to-end is near the sum of the devices', not one device's rate
    summed = sum(p["throughput"]["end_to_end"] for p in parts)
    assert merged["throughput"]["end_to_end"] == pytest.approx(summed, rel=0.15)
    one_device = BATCH * 1000 / COMPUTE_MS  # 400 img/s
    assert merged["throughput"]["end_to_end"] > one_device * 1.6
    assert "timed loops started within" in proc.stdout


def test_end_to_end_over_devices_without_a_shared_clock_keeps_the_longest_wall():
    from harness.contracts import InferSummary
    from infer.multi import merge

    def part(start: float, boot: str) -> InferSummary:
        summary = InferSummary(target="null", device="0", artifact="a", model="m", precision="fp32", batch_size=4,
                               mode="pure", outfmt="BIN", num_inputs=40, num_batches=10,
                               throughput={"compute_only": 400.0, "end_to_end": 400.0, "wall_s": 0.1})
        summary.extra["timed_loop"] = {"boot_id": boot, "monotonic_start_s": start, "monotonic_end_s": start + 0.1}
        return summary

    same_host = merge([part(5.0, "b"), part(5.2, "b")], ["0", "1"], 1.0)
    assert same_host.throughput["wall_s"] == pytest.approx(0.3) and same_host.extra["end_to_end_wall"] == "span"
    two_hosts = merge([part(5.0, "b"), part(900.0, "c")], ["0", "1"], 1.0)  # monotonic clocks of two machines
    assert two_hosts.throughput["wall_s"] == pytest.approx(0.1)
    assert two_hosts.extra["end_to_end_wall"] == "longest device"


def test_average_watts_of_devices_whose_loops_did_not_overlap():
    from harness.energy_summary import merge_energy

    def part(joules: float) -> dict:
        return {"available": True, "joules": joules, "seconds": 1.0, "images": 100, "counter": "c", "samples": 10,
                "peak_watts": 120.0}

    overlapped = merge_energy([part(100.0), part(100.0)], ["0", "1"], span_s=1.0)
    assert overlapped["average_watts"] == pytest.approx(200.0)  # two devices drawing 100 W at once
    one_after_the_other = merge_energy([part(100.0), part(100.0)], ["0", "1"], span_s=2.0)
    assert one_after_the_other["average_watts"] == pytest.approx(100.0)  # 200 J over the 2 s they took
    assert one_after_the_other["joules_per_image"] == pytest.approx(1.0)


def test_the_report_says_which_walltime_a_combined_end_to_end_divides_by(tmp_path):
    from harness.contracts import InferSummary
    from report.records import perf_from_summary

    summary = InferSummary(target="null", device="0,1", artifact="a", model="m", precision="fp32", batch_size=4,
                           mode="pure", outfmt="BIN", num_inputs=80, num_batches=20, compute_ms=[10.0] * 20,
                           throughput={"compute_only": 800.0, "end_to_end": 400.0, "wall_s": 0.2})
    older = perf_from_summary(summary, tmp_path / "s.json").conditions
    assert "end-to-end all images over the longest device's walltime (how their loops overlapped is not " \
           "recorded" in older
    summary.extra["end_to_end_wall"] = "span"
    spanned = perf_from_summary(summary, tmp_path / "s.json").conditions
    assert "end-to-end all images over the walltime from the first device's timed loop start to the last one's " \
           "end" in spanned


def test_peak_watts_add_up_only_over_loops_that_ran_at_once():
    from harness.contracts import InferSummary
    from harness.energy_summary import PEAK_APART, PEAK_SUMMED
    from infer.multi import merge

    def part(start: float, boot: str = "b") -> InferSummary:
        summary = InferSummary(target="null", device="0", artifact="a", model="m", precision="fp32", batch_size=4,
                               mode="pure", outfmt="BIN", num_inputs=40, num_batches=10,
                               throughput={"compute_only": 400.0, "end_to_end": 400.0, "wall_s": 1.0},
                               energy={"available": True, "joules": 100.0, "seconds": 1.0, "images": 40,
                                       "counter": "c", "samples": 10, "peak_watts": 120.0})
        summary.extra["timed_loop"] = {"boot_id": boot, "monotonic_start_s": start, "monotonic_end_s": start + 1.0}
        return summary

    together = merge([part(5.0), part(5.02)], ["0", "1"], 2.0, barrier=True)
    assert together.energy["peak_watts"] == pytest.approx(240.0)
    assert together.energy["peak_watts_basis"] == PEAK_SUMMED
    assert together.throughput["loop_start_skew_s"] == pytest.approx(0.02)
    one_after_the_other = merge([part(5.0), part(6.5)], ["0", "1"], 3.0)  # never both drawing at once
    assert one_after_the_other.energy["peak_watts"] is None
    assert one_after_the_other.energy["peak_watts_basis"] == PEAK_APART
    assert one_after_the_other.energy["comparison"]["per_device"]["1"]["peak_watts"] == 120.0
    half_overlapping = merge([part(5.0), part(5.5)], ["0", "1"], 2.0)
    assert half_overlapping.energy["peak_watts"] is None
    two_hosts = merge([part(5.0, "b"), part(5.0, "c")], ["0", "1"], 1.0)  # no shared clock: unknown
    assert two_hosts.energy["peak_watts"] is None and "loop_start_skew_s" not in two_hosts.throughput
