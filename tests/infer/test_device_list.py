"""--device is read once into one spelling: `0, 1` and `0,1` are the same run (a rerun of it is skipped), and a
device listed twice or an empty entry is refused before anything is written."""
from __future__ import annotations

import json

import pytest

from harness.contracts import run_summary_path
from infer.cli import parse_args
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli, write_bins


@pytest.mark.parametrize("given, recorded", [("0, 1", "0,1"), (" 1 ", "1"), ("01", "1"), ("2 ,0", "2,0"),
                                             ("cuda:1", "cuda:1")])
def test_a_device_list_is_read_into_one_spelling(given, recorded):
    assert parse_args(["--model", "m", "--device", given]).device == recorded


@pytest.fixture
def work(tmp_path):
    make_convert_dir(tmp_path / "model", target="null", batch=4)
    write_bins(tmp_path / "bins", 8)
    return tmp_path


def infer(work, device: str, dirname: str = "r"):
    return run_cli("-m", "infer", "--model", str(work / "model"), "--input", str(work / "bins"), "--output",
                   str(work / "res"), "--output_dirname", dirname, "--no-progress", "--io", "threads",
                   "--device", device)


def test_a_rerun_with_the_device_list_spelled_otherwise_is_the_same_run(work):
    first = infer(work, "0, 1")
    assert first.returncode == 0, first.stderr
    summary_path = run_summary_path(work / "res" / "r")
    written = summary_path.read_bytes()
    assert json.loads(written)["device"] == "0,1"
    assert sorted(p.name for p in (work / "res").glob("r_summary.device*.json")) == [
        "r_summary.device0.json", "r_summary.device1.json"]
    for spelling in ("0, 1", "0,1", " 0 , 1 "):
        again = infer(work, spelling)
        assert again.returncode == 0, again.stderr
        assert "8 inputs already have their outputs" in again.stdout and "nothing to do" in again.stdout
    assert summary_path.read_bytes() == written  # not run again


@pytest.mark.parametrize("device, needle", [("0,0", "lists device 0 more than once"),
                                            ("1, 01", "lists device 1 more than once"),
                                            ("0,,1", "has an empty entry"), ("0,", "has an empty entry"),
                                            (" ", "names no device")])
def test_a_device_twice_or_an_empty_entry_is_refused_in_one_line(work, device, needle):
    proc = infer(work, device, dirname="bad")
    assert proc.returncode == 2
    assert_one_line_error(proc, "--device", needle)
    assert not (work / "res").exists()


def test_more_devices_than_batches_is_refused_before_any_device_runs(tmp_path):
    """Batches are dealt out whole: 3 inputs at batch 4 are one batch, so a second device would run nothing while
    the merged summary counted it as a device of the run."""
    make_convert_dir(tmp_path / "model", target="null", batch=4)
    write_bins(tmp_path / "bins", 3)
    argv = ["-m", "infer", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "bins"), "--output",
            str(tmp_path / "res"), "--output_dirname", "r", "--no-progress", "--io", "threads", "--device", "0,1"]
    proc = run_cli(*argv, "--batchsize", "4")
    assert proc.returncode == 3
    assert_one_line_error(proc, "--device 0,1 runs 2 devices, but the 3 inputs make 1 batch of 4",
                          "or pass a smaller --batchsize")
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())
    proc = run_cli(*argv, "--batchsize", "2")
    assert proc.returncode == 0, proc.stderr
    parts = [json.loads((tmp_path / "res" / f"r_summary.device{d}.json").read_text()) for d in "01"]
    assert [p["num_inputs"] for p in parts] == [2, 1]
