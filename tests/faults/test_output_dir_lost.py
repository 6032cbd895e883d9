"""The result directory removed (or made unwritable) while infer writes into it: one line naming the file that
could not be written and what to do, a clean exit code, no internal error."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import make_convert_dir, write_bins
from tests.faults.helpers import assert_clean_failure, start_stage, stop_all, wait_for


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_result_directory_removed_during_the_run(tmp_path, io):
    make_convert_dir(tmp_path / "model", target="null", batch=1)
    write_bins(tmp_path / "bins", 200)
    run = tmp_path / "res" / "run"
    proc = start_stage("-m", "infer", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "bins"),
                       "--output", str(tmp_path / "res"), "--output_dirname", "run", "--io", io,
                       "--batchsize", "1", "--option", "compute_ms=20", "--no-progress")
    try:
        assert wait_for(lambda: len(list(run.glob("*_0.bin"))) >= 2 or proc.poll() is not None)
        assert proc.poll() is None, "the run ended before its directory could be removed"
        run.rename(tmp_path / "gone")  # at once: an rmtree races the run's next writes into the directory
        shutil.rmtree(tmp_path / "gone")
        out, err = proc.communicate(timeout=60)
        proc.stdout, proc.stderr = out, err
        assert_clean_failure(proc, 3, str(run), "cannot be written", "rerun the same command")
        assert "internal error" not in err
    finally:
        stop_all([proc.pid])
