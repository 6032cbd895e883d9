"""On a GPU: the session's copies run beside compute, and uint8 input equals float32 input.

Overlap is read off the per-batch CUDA event timeline (record_timeline): with two batches in flight, as
infer's loop keeps them, batch n+1's host-to-device copy must lie inside batch n's compute interval.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from convert.export import Uint8Normalize
from harness.contracts import ConvertManifest, TensorSpec
from targets import get_target
from targets.base import BuildRequest
from targets.nvidia.pipeline import CudaPipelineSession, DeviceRunner
from targets.nvidia.plan import BatchProfile
from tests.nvidia.conftest import relative_error, tiny_net

SIDE = 512  # 4 x 3 x 512 x 512 float32: 12 MiB per batch, about 0.3 ms over PCIe at 50 GB/s


class SlowRunner(DeviceRunner):
    """Per-channel means after enough matrix products to take a few ms: compute clearly longer than H2D."""

    def __init__(self, device) -> None:
        self.device = device
        self.weight = torch.randn(1024, 1024, device=device) / 32

    def make_input(self, batch: int):
        return torch.ones(batch, 3, SIDE, SIDE, device=self.device)

    def forward(self, static_input):
        work = self.weight
        for _ in range(60):
            work = torch.tanh(work @ self.weight)
        return [static_input.mean((2, 3)) + 0 * work[0, :3]]


@pytest.mark.nvidia
def test_next_batch_copy_runs_beside_compute(cuda):
    session = CudaPipelineSession(SlowRunner(cuda), cuda, TensorSpec("x", [-1, 3, SIDE, SIDE]),
                                  [TensorSpec("y", [-1, 3])], BatchProfile(4, 4, 4))
    with session:
        data = session.allocate_host((4, 3, SIDE, SIDE), np.float32)
        data[...] = np.random.default_rng(0).standard_normal(data.shape, dtype=np.float32)
        session.warmup(data, 3)
        session.record_timeline()
        pending = []
        for _ in range(12):
            pending.append(session.submit(data))
            if len(pending) >= 2:
                np.testing.assert_allclose(session.collect(pending.pop(0))[0], data.mean((2, 3)), rtol=1e-4, atol=1e-5)
        while pending:
            session.collect(pending.pop(0))
        timeline = session.timeline
    assert len(timeline) == 12
    for before, after in zip(timeline[1:], timeline[2:]):
        assert before["compute_end"] - before["compute_start"] > 2 * (after["h2d_end"] - after["h2d_start"])
        # the copy of the next batch starts and ends while this one computes
        assert before["compute_start"] <= after["h2d_start"] and after["h2d_end"] <= before["compute_end"]
        assert after["compute_start"] - before["compute_end"] < 0.5  # and the device never waits for it


def build_pixels_model(tmp_path, model, precision: str):
    """The torch engine artifact of `model` behind the uint8 prefix, as convert builds it from uint8 input."""
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    wrapped = Uint8Normalize(model, mean, std).eval()
    spec_in, spec_out = TensorSpec("image", [-1, 8, 8, 3], "uint8"), TensorSpec("class", [-1, 10])
    target = get_target("nvidia", engine="torch")
    request = BuildRequest(onnx=tmp_path / "tiny.sim.onnx", out_dir=tmp_path, model="tiny", precision=precision,
                           batch_sizes=[1, 8], dynamic_batch=True, input=spec_in, output=spec_out,
                           load_model=lambda: wrapped)
    result = target.build(request)
    manifest = ConvertManifest(model="tiny", target="nvidia", precision=precision, artifact=result.artifact.name,
                               onnx="tiny.sim.onnx", sim_onnx="tiny.sim.onnx", input=spec_in, output=spec_out,
                               batch_sizes=[1, 8], dynamic_batch=True, opset=17)
    return target, result.artifact, manifest, mean, std


@pytest.mark.nvidia
@pytest.mark.parametrize("precision,tolerance", [("fp32", 1e-3), ("fp16", 2e-2)])
def test_uint8_input_gives_the_float32_result(cuda, tmp_path, precision, tolerance):
    model = tiny_net()
    target, artifact, manifest, mean, std = build_pixels_model(tmp_path, model, precision)
    pixels = np.random.default_rng(1).integers(0, 256, (8, 8, 8, 3), dtype=np.uint8)
    normalised = (pixels.transpose(0, 3, 1, 2) / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    with torch.no_grad():
        want = model(torch.from_numpy(normalised.astype(np.float32))).numpy()
    with target.open(artifact, manifest, "0") as session:
        (got,) = session.run(pixels)
        info = session.info()
    assert info["input_form"] == "uint8" and session.inputs()[0].dtype == "uint8"
    assert relative_error(got, want) < tolerance
