"""infer: batching and padding, output formats, summary, pure mode, multi-device, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from harness.contracts import run_summary_path
from tests.conftest import ais_bench_txt, assert_one_line_error, make_convert_dir, run_cli, write_bins
from tests.faults.helpers import FULL_DISK


def reference_logits(data: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return data.mean(axis=(1, 2)) @ weight.T + bias


@pytest.fixture
def model_dir(tmp_path):
    return make_convert_dir(tmp_path / "model", batch=4)


def test_dataset_mode_pads_and_writes_every_format(model_dir, tmp_path):
    from tests.conftest import tiny_classifier_onnx

    weight, bias = tiny_classifier_onnx(tmp_path / "again.onnx")
    data = write_bins(tmp_path / "bins", 10)
    for fmt in ("TXT", "NPY", "BIN"):
        proc = run_cli("-m", "infer", "--model", str(model_dir), "--input", str(tmp_path / "bins"), "--output",
                       str(tmp_path / "res"), "--output_dirname", fmt, "--outfmt", fmt, "--batchsize", "4")
        assert proc.returncode == 0, proc.stderr
        out = tmp_path / "res" / fmt
        files = sorted(p.name for p in out.iterdir())
        assert files == sorted(f"img_{i}_0.{fmt.lower()}" for i in range(10))  # no outputs for 2 padded slots
        summary = json.loads(run_summary_path(out).read_text())
        assert summary["num_inputs"] == 10 and summary["num_batches"] == 3 and summary["padded_slots"] == 2
        for stem, arr in data.items():
            expected = reference_logits(arr, weight, bias).astype(np.float32)
            path = out / f"{stem}_0.{fmt.lower()}"
            if fmt == "TXT":
                got_txt = path.read_bytes()
                ort = np.array(got_txt.split(), dtype=np.float64)
                assert np.allclose(ort, expected, atol=2e-6)
            elif fmt == "NPY":
                assert np.allclose(np.load(path), expected, atol=1e-5)
            else:
                assert np.allclose(np.fromfile(path, dtype=np.float32), expected, atol=1e-5)
    npy = np.load(tmp_path / "res" / "NPY" / "img_3_0.npy")
    assert (tmp_path / "res" / "TXT" / "img_3_0.txt").read_bytes() == ais_bench_txt(npy)


def test_summary_holds_the_timing_contract(model_dir, tmp_path):
    write_bins(tmp_path / "bins", 9)
    started = time.perf_counter()
    proc = run_cli("-m", "infer", "--model", str(model_dir), "--input", str(tmp_path / "bins"), "--output",
                   str(tmp_path / "res"), "--output_dirname", "r", "--batchsize", "2", "--warmup_count", "2")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(run_summary_path(tmp_path / "res" / "r").read_text())
    assert s["kind"] == "harness.infer" and s["target"] == "cpu" and s["mode"] == "dataset"
    compute = s["compute_ms"]
    assert len(compute) == 5 and s["timings"]["compute"]["count"] == 5
    assert s["timings"]["compute"]["median"] == pytest.approx(float(np.median(compute)))
    assert s["throughput"]["compute_only"] == pytest.approx(1000 * 2 / np.mean(compute))
    assert s["throughput"]["end_to_end"] == pytest.approx(9 / s["throughput"]["wall_s"])
    assert "throughput 1000*batchsize(2)" in proc.stdout
    startup, process_s = s["extra"]["startup"], time.perf_counter() - started
    assert 0 < startup["process_age_at_run_s"] <= startup["process_age_at_first_timed_batch_s"] < process_s
    assert 0 <= startup["session_open_s"] < startup["process_age_at_first_timed_batch_s"]
    assert startup["python_bytecode_cached"].keys() == {"onnxruntime"}  # the cpu target's runtime, no torch
    marks = startup["marks"]  # the steps of the start, in order, as the process's age
    assert list(marks)[:2] == ["stage", "run"] and list(marks)[-2:] == ["warm-up batches", "first timed batch"]
    assert list(marks.values()) == sorted(marks.values()) and "session open" in marks
    assert marks["first timed batch"] == pytest.approx(startup["process_age_at_first_timed_batch_s"], abs=0.02)


def test_pure_mode_runs_loop_batches_on_random_data(model_dir, tmp_path):
    proc = run_cli("-m", "infer", "--model", str(model_dir), "--loop", "7", "--batchsize", "3", "--output",
                   str(tmp_path / "res"), "--output_dirname", "pure")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(run_summary_path(tmp_path / "res" / "pure").read_text())
    assert s["mode"] == "pure" and s["num_batches"] == 7 and s["num_inputs"] == 21
    assert len(s["compute_ms"]) == 7
    from infer.loop import random_batch
    from harness.contracts import TensorSpec

    batch = random_batch(TensorSpec("x", [-1, 3, 4, 4]), 2)
    assert np.count_nonzero(batch) == batch.size
    # drawn in place, the values the generator gives: the same data for every target and run
    uniform = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    assert np.allclose(batch, (uniform * 2 - 1) * np.sqrt(3), atol=1e-6)
    large = random_batch(TensorSpec("x", [-1, 3, 224, 224]), 16)  # the spread of normalised pixels
    assert abs(large.mean()) < 0.01 and abs(large.std() - 1) < 0.01 and np.count_nonzero(large) == large.size
    halves = random_batch(TensorSpec("x", [-1, 3, 4, 4], "float16"), 2)
    assert halves.dtype == np.float16 and np.array_equal(halves, batch.astype(np.float16))


def test_cpu_threads_option_sets_the_session_threads(model_dir, tmp_path):
    proc = run_cli("-m", "infer", "--model", str(model_dir), "--loop", "2", "--option", "threads=1", "--output",
                   str(tmp_path / "res"), "--output_dirname", "one")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(run_summary_path(tmp_path / "res" / "one").read_text())
    assert summary["engine"]["threads"] == 1
    assert summary["extra"]["target_options"] == {"build": {}, "run": {"threads": 1}}
    for bad in ("x", "0"):
        assert_one_line_error(run_cli("-m", "infer", "--model", str(model_dir), "--option", f"threads={bad}"),
                              f"threads={bad}", "whole number")


def test_pure_mode_time_limit_stops_on_a_stable_median(model_dir, tmp_path):
    proc = run_cli("-m", "infer", "--model", str(model_dir), "--loop", "10", "--time_limit", "20",
                   "--stable_ci", "0.5", "--output", str(tmp_path / "res"), "--output_dirname", "p")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(run_summary_path(tmp_path / "res" / "p").read_text())
    assert 10 <= s["num_batches"] and s["throughput"]["wall_s"] < 20


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_null_target_on_two_devices_shards_the_dataset(tmp_path, io):
    model = make_convert_dir(tmp_path / "null", target="null", batch=2)
    write_bins(tmp_path / "bins", 7)
    proc = run_cli("-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"), "--output",
                   str(tmp_path / "res"), "--output_dirname", "m", "--device", "0,1", "--batchsize", "2",
                   "--io", io, "--io_workers", "3")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "res" / "m"
    assert sorted(p.name for p in out.glob("*.bin")) == sorted(f"img_{i}_0.bin" for i in range(7))
    merged = json.loads(run_summary_path(out).read_text())
    assert merged["device"] == "0,1" and merged["num_inputs"] == 7
    parts = [json.loads((out.parent / f"{out.name}_summary.device{d}.json").read_text()) for d in "01"]
    assert merged["throughput"]["compute_only"] == pytest.approx(sum(p["throughput"]["compute_only"]
                                                                     for p in parts))
    assert {p["num_inputs"] for p in parts} == {4, 3}
    assert {p["extra"]["io"] for p in parts} == {io}
    assert {p["extra"].get("io_workers") for p in parts} == ({3} if io == "processes" else {None})


def test_bad_inputs_give_one_line(model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("-m", "infer", "--model", str(model_dir), "--input", str(tmp_path / "empty")),
                          "no .bin or .npy files")
    write_bins(tmp_path / "wrong", 2, size=9)
    assert_one_line_error(run_cli("-m", "infer", "--model", str(model_dir), "--input", str(tmp_path / "wrong")),
                          "img_0.bin", "bytes")
    assert_one_line_error(run_cli("-m", "infer", "--model", str(tmp_path / "nowhere")), "not found")


def test_unwritable_output_dir_is_one_line(model_dir, tmp_path):
    write_bins(tmp_path / "ok", 2)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should go")
    assert_one_line_error(run_cli("-m", "infer", "--model", str(model_dir), "--input", str(tmp_path / "ok"),
                                  "--output", str(blocker)), "cannot be written")


def test_writer_processes_and_threads_write_the_same_files(tmp_path):
    from infer.writers import OutputWriter

    rng = np.random.default_rng(3)
    batch = [rng.standard_normal((4, 10)).astype(np.float32), rng.integers(0, 9, (4, 2)).astype(np.int64)]
    for fmt in ("TXT", "BIN", "NPY"):
        for processes in (0, 2):
            out = tmp_path / f"{fmt}-{processes}"
            out.mkdir()
            writer = OutputWriter(out, fmt, processes=processes)
            writer.submit(["a", "b", "c"], batch)  # the 4th row is padding: no file
            writer.close()
            assert sorted(p.name for p in out.iterdir()) == sorted(
                f"{s}_{k}.{fmt.lower()}" for s in "abc" for k in (0, 1))
        for path in (tmp_path / f"{fmt}-0").iterdir():
            assert path.read_bytes() == (tmp_path / f"{fmt}-2" / path.name).read_bytes()
    assert (tmp_path / "TXT-0" / "b_1.txt").read_bytes() == ais_bench_txt(batch[1][1])


@pytest.mark.parametrize("fmt", ["NPY", "TXT"])
def test_an_interrupted_run_resumes_and_a_finished_one_reruns(model_dir, tmp_path, fmt):
    write_bins(tmp_path / "bins", 10)
    args = ["-m", "infer", "--model", str(model_dir), "--input", str(tmp_path / "bins"), "--output",
            str(tmp_path / "res"), "--output_dirname", "r", "--outfmt", fmt, "--batchsize", "4"]
    # a full disk at the summary leaves the outputs and the run's record, as a kill before the end does
    assert run_cli(str(FULL_DISK), "r_summary.json", *args).returncode == 9
    out = tmp_path / "res" / "r"
    suffix = fmt.lower()
    full = {p.name: p.read_bytes() for p in out.glob(f"*.{suffix}")}
    for name in (f"img_3_0.{suffix}", f"img_7_0.{suffix}"):
        (out / name).unlink()
    short = out / f"img_5_0.{suffix}"  # killed while this one was being written
    short.write_bytes(full[short.name][:-1])
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / f".img_9_0.{suffix}.{ended.stdout.strip()}.tmp").write_bytes(b"partial")  # its writer was killed
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "resuming an interrupted run: 7 of 10" in proc.stdout
    summary = json.loads(run_summary_path(out).read_text())
    assert summary["num_inputs"] == 3 and summary["extra"]["resumed_after"] == 7
    assert sorted(f["stem"] for f in summary["files"]) == sorted(f"img_{i}" for i in range(10))  # the directory's
    assert {p.name: p.read_bytes() for p in out.glob(f"*.{suffix}")} == full
    assert not list(out.glob(".*.tmp"))
    again = run_cli(*args)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    forced = run_cli(*args, "--force")
    assert json.loads(run_summary_path(out).read_text())["num_inputs"] == 10, forced.stderr
    assert {p.name: p.read_bytes() for p in out.glob(f"*.{suffix}")} == full


def test_ais_bench_pipeline_flag_off_elsewhere_than_ascend(model_dir, tmp_path):
    """--pipeline sets the ascend target's option; on the cpu target only its default (0) runs."""
    ran = run_cli("-m", "infer", "--model", str(model_dir), "--loop", "2", "--pipeline", "0", "--output",
                  str(tmp_path / "res"), "--output_dirname", "p0")
    assert ran.returncode == 0, ran.stderr
    assert_one_line_error(run_cli("-m", "infer", "--model", str(model_dir), "--loop", "2", "--pipeline", "1"),
                          "--pipeline 1", "cpu target")
    assert_one_line_error(run_cli("-m", "infer", "--model", str(model_dir), "--pipeline", "maybe"),
                          "--pipeline maybe", "give 1 or 0")
