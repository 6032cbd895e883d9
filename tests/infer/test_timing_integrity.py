"""infer's figures against what the run did: --loop in dataset mode, padded rows, --stable_ci not reached,
the message of an unchanged rerun over a resumed run."""
from __future__ import annotations

import json
import os
import time

import pytest

from harness.contracts import run_summary_path
from tests.conftest import make_convert_dir, run_cli, write_bins


@pytest.fixture
def null_model(tmp_path):
    return make_convert_dir(tmp_path / "model", target="null", batch=4)


def infer(model, *args: str):
    proc = run_cli("-m", "infer", "--model", str(model), "--no-progress", "--io", "threads", *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_dataset_loop_counts_every_timed_run_in_end_to_end_and_energy(null_model, tmp_path):
    write_bins(tmp_path / "bins", 10)
    proc = infer(null_model, "--input", str(tmp_path / "bins"), "--output", str(tmp_path / "res"),
                 "--output_dirname", "r", "--batchsize", "4", "--loop", "3", "--option", "compute_ms=10")
    s = json.loads(run_summary_path(tmp_path / "res" / "r").read_text())
    assert s["num_inputs"] == 10 and len(s["compute_ms"]) == 9  # 3 batches, each run 3 times
    assert s["extra"]["runs_per_input"] == 3
    wall = s["throughput"]["wall_s"]
    assert s["throughput"]["end_to_end"] == pytest.approx(30 / wall)
    # the emulated device needs 9 x 10 ms for those 30 images: end-to-end cannot beat that, nor fall to a third
    device_bound = 30 / (9 * 0.010)
    assert device_bound / 2 < s["throughput"]["end_to_end"] <= device_bound * 1.01
    assert s["energy"]["images"] == 30  # J/image divides the timed loop's energy by the images it inferred
    assert "over 10 inputs run 3 times each (--loop)" in proc.stdout


def test_dataset_loop_over_two_devices_counts_every_timed_run(null_model, tmp_path):
    write_bins(tmp_path / "bins", 10)
    infer(null_model, "--input", str(tmp_path / "bins"), "--output", str(tmp_path / "res"), "--output_dirname", "r",
          "--batchsize", "4", "--loop", "3", "--device", "0,1")
    s = json.loads(run_summary_path(tmp_path / "res" / "r").read_text())
    assert s["num_inputs"] == 10 and s["extra"]["runs_per_input"] == 3
    assert s["throughput"]["end_to_end"] == pytest.approx(30 / s["throughput"]["wall_s"])
    assert s["energy"]["images"] == 30  # J/image over the 30 images the two devices' loops inferred


def test_padded_rows_in_compute_only_are_said(null_model, tmp_path):
    write_bins(tmp_path / "bins", 9)
    proc = infer(null_model, "--input", str(tmp_path / "bins"), "--output", str(tmp_path / "res"),
                 "--output_dirname", "r", "--batchsize", "4")
    s = json.loads(run_summary_path(tmp_path / "res" / "r").read_text())
    assert s["padded_slots"] == 3 and s["num_batches"] == 3
    assert "compute-only counts padded rows, as ais_bench's formula does: 3 of 12 rows (25.0%)" in s["extra"]["warning"]
    assert "real images went through at 75.0% of that rate" in proc.stdout
    assert "[INFO] percentile(99%): p99 of 3 batches: between the two slowest" in proc.stdout

    write_bins(tmp_path / "whole", 8)
    infer(null_model, "--input", str(tmp_path / "whole"), "--output", str(tmp_path / "res"), "--output_dirname", "w",
          "--batchsize", "4")
    assert "padded" not in json.loads(run_summary_path(tmp_path / "res" / "w").read_text())["extra"]["warning"]


def test_a_median_that_did_not_become_stable_in_time_is_said(tmp_path):
    model = make_convert_dir(tmp_path / "model", batch=4)  # the cpu target: times that vary
    proc = infer(model, "--batchsize", "4", "--loop", "10", "--time_limit", "0.05", "--stable_ci", "0.000001",
                 "--output", str(tmp_path / "res"), "--output_dirname", "p")
    s = json.loads((tmp_path / "res" / "p_summary.json").read_text())
    ci = s["extra"]["median_ci95"]
    # what the loop decided on: the batches collected when time ran out (those still in flight came after)
    assert ci["stable"] is False and ci["asked"] == 0.000001 and 6 <= ci["batches"] <= len(s["compute_ms"])
    assert ci["reached"] > 0.000001
    assert "the median compute time did not become stable" in proc.stdout and "raise --time_limit" in proc.stdout


def test_a_median_not_stable_on_one_of_two_devices_is_kept_in_the_merged_summary(tmp_path):
    model = make_convert_dir(tmp_path / "model", batch=4)
    infer(model, "--batchsize", "4", "--loop", "10", "--time_limit", "0.05", "--stable_ci", "0.000001",
          "--device", "0,1", "--output", str(tmp_path / "res"), "--output_dirname", "p")
    merged = json.loads((tmp_path / "res" / "p_summary.json").read_text())
    assert merged["extra"]["median_ci95"]["stable"] is False


def test_a_median_that_became_stable_is_recorded_without_a_warning(null_model, tmp_path):
    proc = infer(null_model, "--batchsize", "4", "--time_limit", "5", "--stable_ci", "0.01", "--option",
                 "compute_ms=1", "--output", str(tmp_path / "res"), "--output_dirname", "p")
    s = json.loads((tmp_path / "res" / "p_summary.json").read_text())
    assert s["extra"]["median_ci95"]["stable"] is True and s["extra"]["median_ci95"]["reached"] <= 0.01
    assert "did not become stable" not in proc.stdout


def test_an_unchanged_rerun_over_a_resumed_run_counts_every_input(null_model, tmp_path):
    write_bins(tmp_path / "bins", 6)
    args = ("--input", str(tmp_path / "bins"), "--output", str(tmp_path / "res"), "--output_dirname", "r",
            "--batchsize", "2")
    infer(null_model, *args)
    path = run_summary_path(tmp_path / "res" / "r")
    s = json.loads(path.read_text())
    s["num_inputs"], s["extra"]["resumed_after"] = 2, 4  # as a run that resumed after 4 of its 6 inputs writes it
    path.write_text(json.dumps(s))
    later = time.time() + 1
    os.utime(path, (later, later))
    proc = infer(null_model, *args)
    assert "these 6 inputs already have their outputs" in proc.stdout
