"""Shared fixtures: paths, a tiny ONNX classifier with its convert directory, CLI runner."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = ROOT.parent / "shared" / "data" / "imagenet-sample"
REPO_SAMPLE = ROOT / "data" / "sample"


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 600):
    """Run `python -m <stage> ...` as a user would; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("HARNESS_DEBUG", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def ais_bench_txt(array: np.ndarray) -> bytes:
    """ais_bench's save_data_to_files for TXT (ref-ascend.md 6.3), written out independently."""
    buf = io.BytesIO()
    rows = array.reshape(-1, array.shape[-1])
    fmt = "%f" if array.dtype in (np.float16, np.float32, np.float64) else "%d"
    for row in rows:
        np.savetxt(buf, np.c_[row], fmt=fmt, newline=" ")
        buf.write(b"\n")
    return buf.getvalue()


def tiny_classifier_onnx(path: Path, size: int = 8, classes: int = 10, seed: int = 0) -> np.ndarray:
    """image [N,3,S,S] -> GlobalAveragePool -> Flatten -> Gemm -> class [N,classes]. Returns W."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((classes, 3)).astype(np.float32)
    bias = rng.standard_normal(classes).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "W", "B"], ["class"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("class", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return weight, bias


def make_convert_dir(directory: Path, target: str = "cpu", size: int = 8, classes: int = 10,
                     batch: int = 4) -> Path:
    """A convert output directory for the tiny classifier, built by the real target."""
    from harness.contracts import ConvertManifest, TensorSpec
    from targets import get_target
    from targets.base import BuildRequest

    directory.mkdir(parents=True, exist_ok=True)
    onnx_path = directory / "tiny.sim.onnx"
    tiny_classifier_onnx(onnx_path, size, classes)
    spec_in = TensorSpec("image", [-1, 3, size, size])
    spec_out = TensorSpec("class", [-1, classes])
    built = get_target(target).build(BuildRequest(onnx=onnx_path, out_dir=directory, model="tiny",
                                                  precision="fp32", batch_sizes=[batch], dynamic_batch=True,
                                                  input=spec_in, output=spec_out))
    ConvertManifest(model="tiny", target=target, precision="fp32", artifact=built.artifact.name,
                    onnx=onnx_path.name, sim_onnx=onnx_path.name, input=spec_in, output=spec_out,
                    batch_sizes=[batch], dynamic_batch=True, opset=17).write(directory)
    return directory


def write_bins(directory: Path, count: int, size: int = 8, seed: int = 1) -> dict[str, np.ndarray]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(count):
        arr = rng.standard_normal((3, size, size)).astype(np.float32)
        arr.tofile(directory / f"img_{i}.bin")
        data[f"img_{i}"] = arr
    return data


@pytest.fixture
def shared_sample() -> Path:
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(f"{SHARED_SAMPLE} is absent (the shared data folder sits beside the repo)")
    return SHARED_SAMPLE
