"""The cpu target's threads option is bounded by the machine's CPUs: ONNX Runtime makes every thread asked for, so a
mistyped count stalled the run making them."""
from __future__ import annotations

import json
import os

from harness.contracts import run_summary_path
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli


def test_more_threads_than_cpus_are_refused_and_all_of_them_run(tmp_path):
    model = make_convert_dir(tmp_path / "model", target="cpu", batch=4)
    cpus = os.cpu_count()

    def infer(threads: int):
        return run_cli("-m", "infer", "--model", str(model), "--loop", "2", "--no-progress", "--output",
                       str(tmp_path / "res"), "--output_dirname", f"t{threads}", "--option", f"threads={threads}",
                       timeout=60)

    proc = infer(100000)
    assert proc.returncode == 3
    assert_one_line_error(proc, f"cpu target option threads=100000: this machine has {cpus} logical CPUs",
                          f"give at most {cpus}")
    assert infer(cpus + 1).returncode == 3
    proc = infer(cpus)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(run_summary_path(tmp_path / "res" / f"t{cpus}").read_text())["engine"]["threads"] == cpus
