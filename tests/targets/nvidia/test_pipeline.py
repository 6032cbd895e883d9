"""The shared GPU session with a stand-in engine: capture fallback and the device checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.contracts import TensorSpec
from harness.errors import TargetError
from targets.nvidia.device import parse_device_index
from targets.nvidia.pipeline import CudaPipelineSession, DeviceRunner
from targets.nvidia.plan import BatchProfile


class ScaleRunner(DeviceRunner):
    """y = 2x summed over the pixels; with `host_sync` it reads a value back, which capture forbids."""

    def __init__(self, device, host_sync: bool = False) -> None:
        self.device, self.host_sync = device, host_sync

    def make_input(self, batch: int):
        return torch.ones(batch, 3, 4, 4, device=self.device)

    def forward(self, static_input):
        if self.host_sync:
            float(static_input.sum())
        return [(static_input * 2).sum((2, 3))]


def test_device_index_parsing():
    assert parse_device_index("1") == 1 and parse_device_index("cuda:2") == 2 and parse_device_index(0) == 0
    with pytest.raises(TargetError, match="one worker per GPU"):
        parse_device_index("0,1")
    with pytest.raises(TargetError, match="not a GPU index"):
        parse_device_index("gpu0")


@pytest.mark.nvidia
@pytest.mark.parametrize("host_sync,mode", [(False, "cuda_graph"), (True, "eager")])
def test_capture_falls_back_to_plain_launches(cuda, host_sync, mode):
    session = CudaPipelineSession(ScaleRunner(cuda, host_sync), cuda, TensorSpec("x", [-1, 3, 4, 4]),
                                  [TensorSpec("y", [-1, 3])], BatchProfile(1, 4, 4))
    batch = np.random.default_rng(0).standard_normal((4, 3, 4, 4)).astype(np.float32)
    with session:
        for _ in range(3):
            (out,) = session.run(batch)
            np.testing.assert_allclose(out, 2 * batch.sum((2, 3)), rtol=1e-5, atol=1e-5)
        graphs = session.info()["cuda_graphs"]
    assert graphs["4"].startswith(mode)
    if mode == "eager":
        assert "capture failed" in graphs["4"]
    assert torch.randn(4, device=cuda).isfinite().all()  # a failed capture must not break the device RNG
