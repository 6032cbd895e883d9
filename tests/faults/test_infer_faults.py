"""infer faults: full disk (outputs, summary), a damaged ORT cache, locks, reruns, failed runs' directories."""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from harness.contracts import run_summary_path
from tests.conftest import make_convert_dir, write_bins
from tests.faults.helpers import assert_clean_failure, fault_cli, full_disk_cli, snapshot


@pytest.fixture
def work(tmp_path):
    make_convert_dir(tmp_path / "model", batch=2)
    write_bins(tmp_path / "bins", 6)
    return tmp_path


def infer_args(work: Path, *extra: str, dirname: str = "run") -> list[str]:
    return ["-m", "infer", "--model", str(work / "model"), "--input", str(work / "bins"), "--output",
            str(work / "res"), "--output_dirname", dirname, "--outfmt", "TXT", "--io", "threads", "--no-progress",
            *extra]


def outputs(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*_0.txt"))}


def test_disk_full_while_writing_outputs(work):
    proc = full_disk_cli("infer: disk full writing an output", "img_3_0.txt", *infer_args(work), base=work)
    assert_clean_failure(proc, 9, "img_3_0.txt", "no space left", "bytes (", "free there", "rerun the same command")
    run = work / "res" / "run"
    assert not run_summary_path(run).exists() and not list(run.glob(".*.tmp"))
    rerun = fault_cli("infer: rerun after disk full", *infer_args(work), base=work)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming an interrupted run" in rerun.stdout
    assert len(outputs(run)) == 6


def test_disk_full_while_writing_the_summary_keeps_the_outputs(work):
    proc = full_disk_cli("infer: disk full writing the run summary", "run_summary.json", *infer_args(work), base=work)
    assert_clean_failure(proc, 9, "run_summary.json", "no space left", "files already finished are kept")
    assert "delete" not in proc.stderr and "remove" not in proc.stderr
    run = work / "res" / "run"
    kept = outputs(run)
    assert len(kept) == 6 and not run_summary_path(run).exists()
    rerun = fault_cli("infer: rerun after disk full at the summary", *infer_args(work), base=work)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(run_summary_path(run).read_text())["num_inputs"] == 6
    assert outputs(run) == kept


def test_unchanged_rerun_is_skipped_and_force_runs_again(work):
    first = fault_cli("infer: first run", *infer_args(work), base=work)
    assert first.returncode == 0, first.stderr
    before = snapshot(work / "res")
    again = fault_cli("infer: unchanged rerun", *infer_args(work), base=work)
    assert again.returncode == 0, again.stderr
    assert "nothing to do, pass --force" in again.stdout and "Performance Summary" not in again.stdout
    assert snapshot(work / "res") == before
    forced = fault_cli("infer: rerun with --force", *infer_args(work, "--force"), base=work)
    assert forced.returncode == 0 and "Performance Summary" in forced.stdout
    assert snapshot(work / "res")["run_summary.json"] != before["run_summary.json"]


def test_changed_inputs_are_run_again(work):
    assert fault_cli("infer: first run", *infer_args(work), base=work).returncode == 0
    write_bins(work / "bins", 8, seed=5)  # two more inputs, the others rewritten
    again = fault_cli("infer: rerun after the inputs changed", *infer_args(work), base=work)
    assert again.returncode == 0 and "Performance Summary" in again.stdout
    assert len(outputs(work / "res" / "run")) == 8


def test_a_damaged_ort_cache_is_rebuilt_not_looped(work):
    from targets.cpu.target import optimized_cache_path

    manifest = json.loads((work / "model" / "convert.json").read_text())
    cache = optimized_cache_path(work / "model" / manifest["artifact"])
    cache.write_bytes(cache.read_bytes()[:100])  # truncated, still newer than the artifact
    proc = fault_cli("infer: damaged ONNX Runtime optimized-model cache", *infer_args(work), base=work)
    assert proc.returncode == 0, proc.stderr
    assert "rebuilt it" in proc.stdout and proc.stderr.strip() == ""
    again = fault_cli("infer: next run uses the rebuilt cache", *infer_args(work, dirname="two"), base=work)
    assert again.returncode == 0, again.stderr
    summary = json.loads(run_summary_path(work / "res" / "two").read_text())
    assert summary["engine"]["optimized_cache"] is True and "rebuilt" not in again.stdout


def test_second_run_into_a_held_result_directory_is_refused(work):
    assert fault_cli("infer: first run", *infer_args(work), base=work).returncode == 0
    run = work / "res" / "run"
    before = snapshot(run)
    with open(run / ".harness.lock", "w") as held:
        held.write(f"{os.getpid()}\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = fault_cli("infer: second run while one writes the result directory",
                         *infer_args(work, "--force"), base=work)
    assert_clean_failure(proc, 10, str(run), "another infer run", f"pid {os.getpid()}")
    assert {k: v for k, v in snapshot(run).items() if k != ".harness.lock"} == before


def test_a_lock_left_by_a_dead_process_is_taken_over(work):
    run = work / "res" / "run"
    run.mkdir(parents=True)
    (run / ".harness.lock").write_text("999999\n")
    proc = fault_cli("infer: lock file left by a killed run", *infer_args(work), base=work)
    assert proc.returncode == 0, proc.stderr
    assert not (run / ".harness.lock").exists() and len(outputs(run)) == 6


def test_a_failed_run_leaves_no_empty_result_directory(work):
    (work / "bins" / "img_0.bin").write_bytes(b"\0" * 10)  # the wrong size: refused before any output
    proc = fault_cli("infer: failed first run into a new result directory", *infer_args(work, dirname="new"),
                     base=work)
    assert_clean_failure(proc, 4, "img_0.bin")
    assert not (work / "res" / "new").exists()


def test_stability_warning_speaks_of_the_target():
    from harness.perf import stability

    unsteady = {"count": 50, "cv": 0.2}
    assert "GPU" not in stability(unsteady, target="cpu") and "CPU frequency" in stability(unsteady, target="cpu")
    assert "nvidia-smi -lgc" in stability(unsteady, target="nvidia")
    assert "NPU" in stability(unsteady, target="ascend")


def test_model_directory_without_convert_json(work):
    (work / "model" / "convert.json").unlink()
    proc = fault_cli("infer: model directory without convert.json", *infer_args(work), base=work)
    assert_clean_failure(proc, 3, "convert.json", "not found")
    assert not (work / "res" / "run").exists()


def test_output_root_is_a_file(work):
    (work / "res").write_text("a file where the result root should be")
    proc = fault_cli("infer: --output names a file", *infer_args(work), base=work)
    assert_clean_failure(proc, 3, str(work / "res" / "run"), "cannot be written")
