"""On a GPU: the session's copies run beside compute, and uint8 input equals float32 input.

Overlap is read off the per-batch CUDA event timeline (record_timeline): with two batches in flight, as
infer's loop keeps them, batch n+1's host-to-device copy must lie inside batch n's compute interval.
"""
from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch

from convert.export import Uint8Normalize
from harness.contracts import ConvertManifest, TensorSpec
from targets import get_target
from targets.base import BuildRequest
from targets.nvidia.pipeline import CudaPipelineSession, DeviceRunner
from targets.nvidia.plan import BatchProfile
from targets.nvidia.timeline import compute_gap_ms, h2d_overlap_share
from tests.targets.nvidia.conftest import relative_error, tiny_net

SIDE = 256  # 4 x 3 x 256 x 256 float32: 3 MiB per batch, well under 0.2 ms over PCIe


class SlowRunner(DeviceRunner):
    """Per-channel means after enough matrix products to take a few ms: compute clearly longer than H2D."""

    def __init__(self, device) -> None:
        self.device = device
        self.weight = torch.randn(1024, 1024, device=device) / 32

    def make_input(self, batch: int):
        return torch.ones(batch, 3, SIDE, SIDE, device=self.device)

    def forward(self, static_input):
        work = self.weight
        for _ in range(120):
            work = torch.tanh(work @ self.weight)
        return [static_input.mean((2, 3)) + 0 * work[0, :3]]


@pytest.mark.nvidia
def test_next_batch_copy_runs_beside_compute(cuda):
    session = CudaPipelineSession(SlowRunner(cuda), cuda, TensorSpec("x", [-1, 3, SIDE, SIDE]),
                                  [TensorSpec("y", [-1, 3])], BatchProfile(4, 4, 4))
    with session:
        data = session.allocate_host((4, 3, SIDE, SIDE), np.float32)
        data[...] = np.random.default_rng(0).standard_normal(data.shape, dtype=np.float32)
        session.warmup(data, 3, in_flight=2)
        assert session._slot_count == {4: 2}  # the loop below makes no buffers inside its timed part
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
    h2d = statistics.median(t["h2d_end"] - t["h2d_start"] for t in timeline)
    compute = statistics.median(t["compute_end"] - t["compute_start"] for t in timeline)
    assert compute > 2 * h2d, "the stand-in engine must compute for longer than a copy takes"
    assert h2d_overlap_share(timeline[1:]) > 0.9  # batch n+1's copy runs while batch n computes
    assert compute_gap_ms(timeline[1:]) < 0.1  # and the device does not wait for it


def test_timeline_reading():
    serial = [{"h2d_start": 3.0 * i, "h2d_end": 3.0 * i + 1, "compute_start": 3.0 * i + 1, "compute_end": 3.0 * i + 3}
              for i in range(4)]
    assert h2d_overlap_share(serial) == 0.0 and compute_gap_ms(serial) == 1.0
    overlapped = [{"h2d_start": 2.0 * i + 1, "h2d_end": 2.0 * i + 1.5, "compute_start": 2.0 * i + 2,
                   "compute_end": 2.0 * i + 4} for i in range(4)]
    assert h2d_overlap_share(overlapped) == 1.0 and compute_gap_ms(overlapped) == 0.0


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


def test_uint8_artifact_takes_pixels_and_normalises_them(tmp_path):
    model = tiny_net()
    _, artifact, manifest, mean, std = build_pixels_model(tmp_path, model, "fp32")
    program = torch.export.load(str(artifact)).module()
    pixels = np.random.default_rng(2).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    normalised = (pixels.transpose(0, 3, 1, 2) / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    with torch.no_grad():
        got = program(torch.from_numpy(pixels)).numpy()
        want = model(torch.from_numpy(normalised.astype(np.float32))).numpy()
    assert relative_error(got, want) < 1e-5
