"""ait and msit benchmark spell ais_bench's flags with dashes (`--om-model`, `--output-dirname`, `--batch-size`,
`--dym-batch`, `--warmup-count`): infer takes those command lines as the underscore ones, and refuses or accepts
their ais_bench-only flags (`--dym-hw`, `--npu-id`, ...) exactly as it does the underscore spellings."""
from __future__ import annotations

import json

import pytest

from harness.contracts import run_summary_path
from infer.cli import parse_args
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli


def test_ait_spellings_parse_as_the_ais_bench_ones():
    dashes = parse_args(["--om-model", "m", "--output", "o", "--output-dirname", "r", "--batch-size", "4",
                         "--dym-batch", "4", "--warmup-count", "3", "--loop", "7", "--display-all-summary", "1",
                         "--npu-id", "0", "--energy-consumption", "1"])
    underscores = parse_args(["--model", "m", "--output", "o", "--output_dirname", "r", "--batchsize", "4",
                              "--dymBatch", "4", "--warmup_count", "3", "--loop", "7", "--display_all_summary", "1",
                              "--npu_id", "0", "--energy_consumption", "1"])
    assert dashes == underscores
    assert (dashes.output_dirname, dashes.batchsize, dashes.dym_batch, dashes.warmup_count) == ("r", 4, 4, 3)


def test_ait_short_model_flag_names_the_model_not_an_output():
    # argparse alone reads `-om x.om` as `-o m` followed by a stray x.om
    assert parse_args(["-om", "resnet50_bs16.om", "--output", "res"]).model.name == "resnet50_bs16.om"
    assert parse_args(["-om=resnet50_bs16.om", "--output", "res"]).output.name == "res"


def test_an_ait_command_line_runs(tmp_path):
    model = make_convert_dir(tmp_path / "model", target="null", batch=4)
    proc = run_cli("-m", "infer", "--om-model", str(model), "--output", str(tmp_path / "res"), "--output-dirname",
                   "r", "--batch-size=4", "--warmup-count", "2", "--loop", "5")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(run_summary_path(tmp_path / "res" / "r").read_text())
    assert summary["batch_size"] == 4 and summary["num_batches"] == 5


@pytest.mark.parametrize("flag, needle", [("--dym-hw", "--dym-hw is an ais_bench flag for dynamic-HW models"),
                                          ("--debug", "--debug 1: this harness implements only --debug 0")])
def test_ait_spellings_of_flags_the_harness_does_not_run_are_refused_by_their_name(tmp_path, flag, needle):
    proc = run_cli("-m", "infer", "--om-model", str(tmp_path / "m"), flag, "1")
    assert_one_line_error(proc, needle)
    assert proc.returncode == 3


def test_infer_own_dash_flags_are_unchanged():
    config = parse_args(["--model", "m", "--no-progress", "--accept-preprocess-mismatch"])
    assert config.progress is False and config.accept_preprocess_mismatch is True


def test_abbreviations_argparse_takes_stay_unambiguous():
    short = parse_args(["--model", "m", "--batch", "4", "--warmup", "2", "--dym", "4", "--display", "1"])
    assert (short.batchsize, short.warmup_count, short.dym_batch, short.display_all_summary) == (4, 2, 4, True)
    assert parse_args(["--om-model=m", "--batch-size=4"]).batchsize == 4
