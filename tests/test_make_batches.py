"""The Makefile's batch settings: the model directory names BATCHES (a dynamic build is another artifact than
the static BS one), and `make bench` on a static build sweeps the one batch size it takes, on every target."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_cli, tiny_classifier_onnx


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args, f"PYTHON={sys.executable}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def convert_output(*args: str) -> str:
    proc = make("-n", "convert", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("--output ")[1].split()[0]


def test_the_model_directory_names_batches():
    static = convert_output("WORK=w", "MODEL=m", "BS=16")
    dynamic = convert_output("WORK=w", "MODEL=m", "BS=16", "BATCHES=1 4 16")
    assert static == "w/models/m/cpu-fp32-bs16"
    assert dynamic == "w/models/m/cpu-fp32-bs16-b1_4_16" != static


@pytest.mark.parametrize("target", ["cpu", "null"])
def test_bench_on_a_static_build_sweeps_its_own_batch_size(tmp_path, target):
    onnx = tmp_path / "tiny.onnx"
    tiny_classifier_onnx(onnx)
    model_dir = tmp_path / "work" / "models" / "tiny" / f"{target}-fp32-bs4"
    proc = run_cli("-m", "convert", "--onnx", str(onnx), "--model", "tiny", "--target", target, "--batchsize", "4",
                   "--output", str(model_dir))
    assert proc.returncode == 0, proc.stderr
    bench = make("bench", f"WORK={tmp_path / 'work'}", "MODEL=tiny", f"TARGET={target}", "BS=4", "WARMUP=1",
                 "LOOP=2", "TIME_LIMIT=0")
    assert bench.returncode == 0, bench.stdout[-2000:] + bench.stderr[-2000:]
    bench_dir = tmp_path / "work" / "bench" / "tiny" / f"{target}-fp32"
    assert sorted(p.name for p in bench_dir.glob("*_summary.json")) == ["bs4_summary.json"]
