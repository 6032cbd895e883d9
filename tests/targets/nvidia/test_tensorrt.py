"""TensorRT engine end to end on a tiny ONNX; runs wherever tensorrt imports and a GPU is present."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.contracts import ConvertManifest, TensorSpec
from harness.errors import TargetError
from targets.base import BuildRequest
from targets.nvidia.options import tensorrt_version
from tests.conftest import tiny_classifier_onnx

pytestmark = pytest.mark.nvidia

SPEC_IN = TensorSpec("image", [-1, 3, 8, 8])
SPEC_OUT = TensorSpec("class", [-1, 10])


@pytest.fixture
def trt_gpu():
    if tensorrt_version() is None:
        pytest.skip("tensorrt does not import here (it installs from NVIDIA's index only); the TensorRT "
                    "engine is covered by the pure tests of its plan")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


def build(tmp_path, precision, batches, dynamic):
    from targets import get_target

    weight, bias = tiny_classifier_onnx(tmp_path / "tiny.sim.onnx")
    target = get_target("nvidia", engine="tensorrt", workspace_mib="256")
    result = target.build(BuildRequest(onnx=tmp_path / "tiny.sim.onnx", out_dir=tmp_path, model="tiny",
                                       precision=precision, batch_sizes=list(batches), dynamic_batch=dynamic,
                                       input=SPEC_IN, output=SPEC_OUT))
    manifest = ConvertManifest(model="tiny", target="nvidia", precision=precision, artifact=result.artifact.name,
                               onnx="tiny.sim.onnx", sim_onnx="tiny.sim.onnx", input=SPEC_IN, output=SPEC_OUT,
                               batch_sizes=list(batches), dynamic_batch=dynamic, opset=17)
    return target, result, manifest, weight, bias


@pytest.mark.parametrize("batches,dynamic", [((4,), False), ((1, 8), True)])
def test_engine_builds_runs_and_matches_numpy(tmp_path, trt_gpu, batches, dynamic):
    target, result, manifest, weight, bias = build(tmp_path, "fp32", batches, dynamic)
    assert result.artifact.suffix == ".plan" and result.info["build_log_tail"]
    assert (tmp_path / result.info["timing_cache"]).exists()
    rng = np.random.default_rng(0)
    with target.open(result.artifact, manifest, "0") as session:
        for count in ((4, 4) if not dynamic else (8, 3)):
            batch = rng.standard_normal((count, 3, 8, 8)).astype(np.float32)
            (out,) = session.run(batch)
            np.testing.assert_allclose(out, batch.mean((2, 3)) @ weight.T + bias, rtol=2e-3, atol=2e-3)
        assert session.info()["engine"] == "tensorrt"


def test_engine_from_another_tensorrt_version_is_refused(tmp_path, trt_gpu):
    target, result, manifest, _, _ = build(tmp_path, "fp32", (4,), False)
    meta_file = result.artifact.with_name(result.artifact.name + ".json")
    meta = json.loads(meta_file.read_text())
    meta["tensorrt"] = "9.0.0"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(TargetError, match="built with TensorRT 9.0.0"):
        target.open(result.artifact, manifest, "0")
