"""Flags that would act on nothing in the run asked for are refused, not taken silently: the run would not be
the measurement its command line describes."""
from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error, make_convert_dir, run_cli, write_bins


@pytest.fixture
def model(tmp_path):
    return make_convert_dir(tmp_path / "model", target="null", batch=4)


def test_a_time_limit_in_dataset_mode_is_refused(model, tmp_path):
    write_bins(tmp_path / "bins", 4)
    proc = run_cli("-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"), "--output",
                   str(tmp_path / "res"), "--output_dirname", "r", "--no-progress", "--time_limit", "5")
    assert_one_line_error(proc, "--time_limit", "--input", "--loop")
    assert proc.returncode == 2 and not (tmp_path / "res").exists()


@pytest.mark.parametrize("mode", ["pure", "dataset"])
def test_stable_ci_without_a_time_limit_is_refused(model, tmp_path, mode):
    # the median's stability is checked only while --time_limit lets the loop go on: alone it would act on nothing
    write_bins(tmp_path / "bins", 4)
    inputs = ["--input", str(tmp_path / "bins")] if mode == "dataset" else []
    proc = run_cli("-m", "infer", "--model", str(model), "--loop", "5", "--stable_ci", "0.01", *inputs,
                   "--output", str(tmp_path / "res"), "--output_dirname", "p", "--no-progress")
    assert_one_line_error(proc, "--stable_ci", "--time_limit")
    assert proc.returncode == 2 and not (tmp_path / "res").exists()


def test_a_time_limit_in_pure_mode_runs(model, tmp_path):
    proc = run_cli("-m", "infer", "--model", str(model), "--loop", "5", "--time_limit", "0.05", "--stable_ci", "0.5",
                   "--output", str(tmp_path / "res"), "--output_dirname", "p")
    assert proc.returncode == 0, proc.stderr
