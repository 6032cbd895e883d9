"""An input removed, or rewritten to another size, while infer runs: one line naming the file and what to do, the
outputs written so far kept; never an internal error, never the first bytes of a longer file taken as the input."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from harness.errors import ContractError, InputError
from infer.dataset import read_file_into
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli, write_bins

COUNT, BATCH, COMPUTE_MS = 120, 4, 25  # 30 batches of 25 ms: the loop runs about 0.75 s


def test_reading_an_input_that_is_gone_or_grew_says_which_and_why(tmp_path):
    row = np.zeros(768, np.uint8)
    with pytest.raises(InputError, match=r"gone.bin: cannot be read \(No such file or directory\): the input was "
                                         r"removed or changed during the run"):
        read_file_into(str(tmp_path / "gone.bin"), row)
    grown = tmp_path / "grown.bin"
    grown.write_bytes(bytes(range(256)) * 6)  # two samples' worth where one was checked before the run
    with pytest.raises(ContractError, match="grown.bin: 1536 bytes of data, 768 expected; the file changed during "
                                            "the run"):
        read_file_into(str(grown), row)
    grown.write_bytes(bytes(range(256)) * 3)
    read_file_into(str(grown), row)
    assert row.tobytes() == grown.read_bytes()


def remove_once_running(first_output, victim, done: threading.Event) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 120
        while not first_output.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        victim.unlink()
        done.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_an_input_removed_during_the_run_stops_it_in_one_line_and_a_rerun_finishes(tmp_path, io):
    model = make_convert_dir(tmp_path / "model", target="null", batch=BATCH)
    write_bins(tmp_path / "bins", COUNT)
    victim = tmp_path / "bins" / f"img_{COUNT - 1}.bin"
    kept = victim.read_bytes()
    argv = ["-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"), "--output", str(tmp_path / "res"),
            "--output_dirname", "r", "--no-progress", "--io", io, "--option", f"compute_ms={COMPUTE_MS}"]
    removed = threading.Event()
    watcher = remove_once_running(tmp_path / "res" / "r" / "img_0_0.bin", victim, removed)
    proc = run_cli(*argv)
    watcher.join(5)
    assert removed.is_set()
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert_one_line_error(proc, str(victim), "cannot be read (No such file or directory)",
                          "removed or changed during the run", "rerun the same command")
    written = sorted((tmp_path / "res" / "r").glob("img_*_0.bin"))
    assert 0 < len(written) < COUNT  # what was written before is still there
    victim.write_bytes(kept)
    again = run_cli(*argv)
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "res" / "r").glob("img_*_0.bin"))) == COUNT
