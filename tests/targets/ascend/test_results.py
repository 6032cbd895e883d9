"""Readers of ais_bench results (summary JSON in both places, printed log) on sample files and sim runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError
from targets import get_target
from report.parsers import ais_bench_files as results
from tests.targets.ascend.models import IMAGE, build_request, tiny_classifier

SAMPLES = Path(__file__).resolve().parent / "samples"
STEMS = ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002"]


def test_new_layout_summary_beside_the_result_dir():
    got = results.read_result(SAMPLES / "ais_bench" / "result" / "result_bs16")
    assert got["summary_layout"] == "sibling" and got["summary_file"].endswith("result_bs16_summary.json")
    assert got["compute_ms"] == {"min": 21.5, "max": 22.6, "mean": 21.94005001068115, "median": 21.9,
                                 "p99": 22.5, "count": 4}
    assert got["h2d_ms"]["p99"] == 1.39 and got["d2h_ms"]["mean"] == 0.15
    assert got["throughput"] == pytest.approx(1000 * 16 / 21.94005001068115)
    assert got["batch_size"] == 16
    assert got["compute_ms_list"] == [21.5, 21.8, 22.0, 22.6] and got["pid"] == 4242
    assert got["num_samples"] == 2 and got["outfiles"] == 2
    assert got["outputs"] == {stem: [f"{stem}_0.txt"] for stem in STEMS}


def test_old_layout_sumary_inside_the_result_dir():
    got = results.read_result(SAMPLES / "ais_infer" / "result" / "2022_09_08-10_11_12")
    assert got["summary_layout"] == "inside"
    assert got["compute_ms"] == {"min": 21.0, "max": 23.0, "mean": 21.94005001068115, "median": 21.9, "p99": 22.9}
    assert got["batch_size"] == 16  # from "--batchsize=16"
    assert "compute_ms_list" not in got and "pid" not in got
    assert list(got["outputs"]) == STEMS  # sumary.json is not an output file


@pytest.mark.parametrize("log, batch, throughput, transfers", [
    ("ais_bench_2023.log", 16, 729.2599603105127, False),
    ("ais_infer_2022.log", 16, 729.2599603105127, True),
    ("ais_bench_display_all.log", 1, 1512.8592735267011, True),
])
def test_performance_summary_logs(log, batch, throughput, transfers):
    got = results.read_log(SAMPLES / "logs" / log)
    assert got["batch_size"] == batch and isinstance(got["batch_size"], int) and got["throughput"] == throughput
    assert got["compute_ms"]["mean"] == pytest.approx(1000 * batch / throughput)
    assert set(got["compute_ms"]) == {"min", "max", "mean", "median", "p99"}
    assert ("h2d_ms" in got and "d2h_ms" in got) == transfers


def test_two_device_log():
    got = results.read_log(SAMPLES / "logs" / "ais_bench_multidevice.log")
    assert [run["throughput"] for run in got["runs"]] == [2500.0, 2000.0]
    assert got["total_throughput"] == 4500.0
    assert [(d["device"], d["throughput"]) for d in got["device_runs"]] == [(0, 2500.0), (1, 2000.0)]


def test_earliest_wording_without_batch_size():
    text = ("[INFO] -----------------Performance Summary------------------\n"
            "[INFO] NPU_compute_time (ms): min = 2.0, max = 2.0, mean = 2.0, median = 2.0, percentile(99%) = 2.0\n"
            "[INFO] throughput (1000*batchsize/NPU_compute_time): 500.0\n")
    got = results.parse_performance_log(text)
    assert got["throughput"] == 500.0 and "batch_size" not in got


def test_pipeline_outputs_means_and_interval_pairs():
    """`--pipeline 1 --threads 2`: stats {mean, count}, [start, end] pairs, a mean-only printed line."""
    got = results.parse_summary({"NPU_compute_time": {"mean": 1.5, "count": 2}, "throughput": 4000.0,
                                 "npu_compute_time_list": [[0.0, 2.0], [1.0, 3.0]], "args": ["--batchsize", "6"]})
    assert got["compute_ms"] == {"mean": 1.5, "count": 2} and got["compute_intervals"] == 2
    assert "compute_ms_list" not in got and got["batch_size"] == 6
    printed = results.parse_performance_log(
        "[INFO] -----------------Performance Summary------------------\n"
        "[INFO] NPU_compute_time (ms): mean = 1.5\n"
        "[INFO] throughput 1000*batchsize.mean(6)/NPU_compute_time.mean(1.5): 4000.0\n")
    assert printed["compute_ms"] == {"mean": 1.5} and printed["pipeline"] and printed["batch_size"] == 6


def test_result_dir_with_log_and_without_summary(tmp_path):
    (tmp_path / "a_0.txt").write_text("1.0 \n")
    got = results.read_result(tmp_path, log=SAMPLES / "logs" / "ais_bench_2023.log")
    assert got["log"]["throughput"] == 729.2599603105127 and got["batch_size"] == 16


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "not a directory"),
    (lambda p: p, "no .*_summary.json beside it"),
])
def test_bad_result_dirs(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        results.read_result(make(tmp_path))


def test_not_a_summary_and_not_a_log(tmp_path):
    (tmp_path / "x_summary.json").write_text(json.dumps({"kind": "harness.infer"}))
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="no NPU_compute_time key"):
        results.read_result(tmp_path / "x")
    with pytest.raises(InputError, match="no ais_bench Performance Summary"):
        results.parse_performance_log("hello\n")


def _real_ais_bench(args: list[str]) -> str:
    """Huawei's real CLI (../shared/upstream, 2025) over the simulated aclruntime."""
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "ais_bench", *args], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_real_ais_bench_round_trip(ascend_sim, tmp_path):
    """What the real CLI writes, the readers take back (the inside layout of ais_infer is read from samples)."""
    layout = "sibling"
    request = build_request(tiny_classifier(tmp_path / "tiny.onnx"), tmp_path / "om", batch_sizes=[2])
    om = get_target("ascend").build(request).artifact
    prep = tmp_path / "prep"
    prep.mkdir()
    images = np.random.default_rng(0).standard_normal((3, 3, IMAGE, IMAGE)).astype(np.float32)
    for i, image in enumerate(images):
        image.tofile(prep / f"img.{i}.bin")  # name has a dot: ais_bench keeps only what precedes the first one
        image.tofile(prep / f"sample_{i}.bin")
    log = _real_ais_bench(["--model", str(om), "--input", str(prep), "--output", str(tmp_path / "result"),
                           "--output_dirname", "result_bs2", "--outfmt", "TXT", "--batchsize", "2"])
    got = results.read_result(tmp_path / "result" / "result_bs2")
    assert got["summary_layout"] == layout and got["batch_size"] == 2
    assert got["h2d_ms"]["max"] > 0 and got["d2h_ms"]["max"] > 0
    assert sorted(got["outputs"]) == ["img", "sample_0", "sample_1", "sample_2"]
    assert got["throughput"] == pytest.approx(1000 * 2 / got["compute_ms"]["mean"])
    printed = results.parse_performance_log(log)
    assert printed["throughput"] == pytest.approx(got["throughput"])
    assert printed["batch_size"] == 2
    text = (tmp_path / "result" / "result_bs2" / "sample_1_0.txt").read_text()
    assert text.endswith(" \n") and len(text.split()) == 10


def test_summary_batch_is_the_one_its_throughput_was_computed_with_not_the_flag():
    # ais_bench 2023 fed batches of 16 while its argv said --batchsize 8: 8 would sit beside a bs16 throughput
    data = json.loads((SAMPLES / "ais_bench_2023_flag" / "flag8_summary.json").read_text())
    got = results.parse_summary(data)
    assert got["batchsize_flag"] == 8 and got["batch_size"] == 16
    assert got["throughput"] == pytest.approx(1000 * 16 / got["compute_ms"]["mean"])
