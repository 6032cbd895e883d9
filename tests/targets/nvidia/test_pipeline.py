"""The shared GPU session with a stand-in engine: capture fallback and the device checks."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from harness.contracts import TensorSpec
from harness.errors import TargetError
from targets.nvidia.device import parse_device_index
from targets.nvidia.device_thread import DeviceThread
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


class AsideRunner(ScaleRunner):
    """ScaleRunner that prepares on a device thread (as TorchRunner with warm_aside) and notes each call's thread."""

    def __init__(self, device, host_sync: bool = False, fail: bool = False) -> None:
        super().__init__(device, host_sync)
        self.fail, self.threads, self.aside = fail, [], None

    def make_input(self, batch: int):
        if self.fail:
            raise RuntimeError("no room for the static input")
        return super().make_input(batch)

    def forward(self, static_input):
        self.threads.append(threading.get_ident())
        return super().forward(static_input)

    def prepare_aside(self, batch: int):
        self.aside = self.aside or DeviceThread(torch, self.device)
        return self.aside

    def close(self) -> None:
        if self.aside is not None:
            self.aside.close()


@pytest.mark.nvidia
@pytest.mark.parametrize("host_sync,mode", [(False, "cuda_graph"), (True, "eager")])
def test_a_batch_prepared_aside_is_captured_there_or_else_run_once_here(cuda, host_sync, mode):
    runner = AsideRunner(cuda, host_sync)
    session = CudaPipelineSession(runner, cuda, TensorSpec("x", [-1, 3, 4, 4]), [TensorSpec("y", [-1, 3])],
                                  BatchProfile(1, 4, 4))
    batch = np.random.default_rng(1).standard_normal((4, 3, 4, 4)).astype(np.float32)
    with session:
        (out,) = session.run(batch)
        np.testing.assert_allclose(out, 2 * batch.sum((2, 3)), rtol=1e-5, atol=1e-5)
        graphs = session.info()["cuda_graphs"]
        aside = runner.aside._thread.ident
    here, prepared = threading.get_ident(), runner.warmup_runs + 1  # warm-up runs, then the capture's call
    assert graphs["4"].startswith(mode) and runner.threads[:prepared] == [aside] * prepared
    if mode == "cuda_graph":
        assert runner.threads[prepared:] == []  # replayed: no further calls
    else:  # one run here before the loop (this thread's own plans), then the batch itself
        assert "capture failed" in graphs["4"] and runner.threads[prepared:] == [here, here]


@pytest.mark.nvidia
def test_an_error_while_preparing_aside_reaches_the_caller(cuda):
    runner = AsideRunner(cuda, fail=True)
    session = CudaPipelineSession(runner, cuda, TensorSpec("x", [-1, 3, 4, 4]), [TensorSpec("y", [-1, 3])],
                                  BatchProfile(1, 4, 4))
    with pytest.raises(RuntimeError, match="no room"), session:
        session.run(np.ones((4, 3, 4, 4), np.float32))
    assert not runner.aside._thread.is_alive()  # closed with the session


@pytest.mark.nvidia
def test_compute_is_flagged_as_holding_host_time_only_when_the_device_was_idle(cuda):
    session = CudaPipelineSession(ScaleRunner(cuda), cuda, TensorSpec("x", [-1, 3, 4, 4]), [TensorSpec("y", [-1, 3])],
                                  BatchProfile(1, 4, 4))
    batch = np.ones((4, 3, 4, 4), np.float32)
    with session:
        session.run(batch)  # prepared: warm-up and capture
        idle = []
        for _ in range(10):  # one batch at a time: the device has finished the last one when this one is queued
            session.run(batch)
            idle.append(session.timings[-1])
        busy = []
        for _ in range(3):  # the compute stream still busy for ~50 ms: the batch is queued long before it starts
            with torch.cuda.stream(session._streams["compute"]):
                torch.cuda._sleep(100_000_000)
            session.run(batch)
            busy.append(session.timings[-1])
    assert [t.host_in_compute_ms for t in busy] == [0.0, 0.0, 0.0]
    assert all(t.compute_ms < 40.0 for t in busy)  # the sleep ran before compute_start, outside the interval
    device_only = min(t.compute_ms for t in busy)  # queued in full before the device reached its start
    assert sum(t.host_in_compute_ms > 0 for t in idle) >= 5
    for t in idle:  # what an idle batch's compute_ms holds beyond device time is within its flag (+ launch jitter)
        assert t.compute_ms - device_only <= t.host_in_compute_ms + 0.05
