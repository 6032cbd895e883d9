"""Out of memory in a sweep: the null target with a stated memory, through make bench and the report."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, assert_one_line_error, make_convert_dir, run_cli

SIZE, CLASSES = 64, 10
SAMPLE_BYTES = 3 * SIZE * SIZE * 4 + CLASSES * 4  # one float32 input image and its float32 logits
MIB = 1 << 20


def test_a_batch_beyond_the_stated_memory_fails_in_one_line_and_leaves_a_record(tmp_path):
    model = make_convert_dir(tmp_path / "model", target="null", size=SIZE, classes=CLASSES, batch=64)
    proc = run_cli("-m", "infer", "--model", str(model), "--batchsize", "32", "--loop", "2", "--option",
                   "memory_mib=1", "--output", str(tmp_path / "runs"), "--output_dirname", "bs32", "--no-progress")
    assert proc.returncode == 8
    assert_one_line_error(proc, "batch 32 does not fit in device memory", "use a smaller --batchsize")
    record = json.loads((tmp_path / "runs" / "bs32_summary.json").read_text())
    assert record["kind"] == "harness.out_of_memory"
    assert (record["batch_size"], record["needed_bytes"], record["available_bytes"]) == (32, 32 * SAMPLE_BYTES, MIB)


def test_bench_records_the_row_goes_on_and_the_report_shows_it(tmp_path):
    work = tmp_path / "work"
    make_convert_dir(work / "models" / "tiny" / "null-fp32-bs4-b4_32_8", target="null", size=SIZE, classes=CLASSES,
                     batch=32)
    common = [f"PYTHON={sys.executable}", f"WORK={work}", "TARGET=null", "MODEL=tiny", "BS=4"]
    proc = subprocess.run(["make", "-s", "bench", *common, "BATCHES=4 32 8", "OPTIONS=memory_mib=1", "WARMUP=1",
                           "LOOP=3", "TIME_LIMIT=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "out of memory at batch sizes: 32 (recorded)" in proc.stderr
    bench = work / "bench" / "tiny" / "null-fp32"
    for bs in (4, 8):  # the sweep went on past 32
        assert json.loads((bench / f"bs{bs}_summary.json").read_text())["num_batches"] >= 3
    assert json.loads((bench / "bs32_summary.json").read_text())["kind"] == "harness.out_of_memory"
    report = tmp_path / "report"
    proc = run_cli("-m", "report", "--input", str(work / "bench"), "--output", str(report))
    assert proc.returncode == 0, proc.stderr
    text = (report / "report.md").read_text()
    needed = f"{32 * SAMPLE_BYTES / MIB:,.1f} MiB"
    assert f"fp32, batch 32: **out of memory** (needed {needed}, available 1.0 MiB)" in text
    assert "batch 8: **out of memory**" not in text
    everything = json.loads((report / "report.json").read_text())
    assert [row["batch_size"] for row in everything["out_of_memory"]] == [32]


def test_a_batch_within_the_stated_memory_runs(tmp_path):
    model = make_convert_dir(tmp_path / "model", target="null", size=SIZE, classes=CLASSES, batch=64)
    fits = MIB // SAMPLE_BYTES  # 21 samples fit in 1 MiB
    proc = run_cli("-m", "infer", "--model", str(model), "--batchsize", str(fits), "--loop", "2", "--option",
                   "memory_mib=1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("-m", "infer", "--model", str(model), "--batchsize", str(fits + 1), "--loop", "2", "--option",
                   "memory_mib=1", "--no-progress")
    assert proc.returncode == 8, proc.stderr
