"""--warmup_count 0 times the engine's first run with the rest: the summary (and so the report) says so."""
from __future__ import annotations

import json

import pytest

from harness.contracts import run_summary_path
from tests.conftest import make_convert_dir, run_cli, write_bins


@pytest.mark.parametrize("mode", ["pure", "dataset"])
def test_a_run_without_warm_up_says_its_timings_include_the_first_run(tmp_path, mode):
    model = make_convert_dir(tmp_path / "model", target="cpu", batch=4)
    write_bins(tmp_path / "bins", 8)
    inputs = ["--input", str(tmp_path / "bins")] if mode == "dataset" else []

    def warning(dirname: str, warmup: str) -> str:
        proc = run_cli("-m", "infer", "--model", str(model), *inputs, "--output", str(tmp_path / "res"),
                       "--output_dirname", dirname, "--warmup_count", warmup, "--loop", "2", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        return json.loads(run_summary_path(tmp_path / "res" / dirname).read_text())["extra"]["warning"]

    assert "--warmup_count 0: no untimed batch ran first, so the timed batches include the engine's first-run " \
           "preparation" in warning("cold", "0")
    assert "--warmup_count" not in warning("warm", "1")
