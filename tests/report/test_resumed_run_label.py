"""A run resumed after an interruption is timed over the inputs its last process ran, not the whole data set: the
report says so beside its figures, and infer in its summary line."""
from __future__ import annotations

import json

from harness.contracts import run_summary_path
from tests.conftest import make_convert_dir, run_cli, write_bins
from tests.faults.helpers import full_disk_cli

COUNT = 12


def test_a_resumed_run_is_labelled_as_timed_over_part_of_its_inputs(tmp_path):
    model = make_convert_dir(tmp_path / "model", batch=2)
    write_bins(tmp_path / "bins", COUNT)
    args = ["-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"), "--output", str(tmp_path / "res"),
            "--output_dirname", "run", "--outfmt", "TXT", "--io", "threads", "--no-progress", "--batchsize", "2"]
    stopped = full_disk_cli("resume label: disk full", "img_8_0.txt", *args, base=tmp_path)
    assert stopped.returncode == 9, stopped.stderr
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(run_summary_path(tmp_path / "res" / "run").read_text())
    before, timed = summary["extra"]["resumed_after"], summary["num_inputs"]
    assert before > 0 and before + timed == COUNT and len(summary["files"]) == COUNT

    report = run_cli("-m", "report", "--input", str(tmp_path / "res"), "--output", str(tmp_path / "rep"),
                     "--no-published")
    assert report.returncode == 0, report.stderr
    label = f"timed over {timed} of {COUNT} inputs (resumed: {before} written before an interruption, untimed)"
    assert label in (tmp_path / "rep" / "report.md").read_text()
