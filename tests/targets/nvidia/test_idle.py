"""GPU idle check through NVML, with a stand-in library (no GPU needed)."""
from __future__ import annotations

import ctypes
import os

import pytest


class FakeNvml:
    """The NVML calls of the idle check, writing through byref pointers as the library does."""

    def __init__(self, utilization: int, pids: list[int]) -> None:
        self.utilization, self.pids = utilization, pids
        self.nvmlErrorString = lambda code: b"Unknown Error"

    def nvmlInit_v2(self):
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index, handle):
        handle._obj.value = 1000 + index.value
        return 0

    def nvmlDeviceGetUtilizationRates(self, handle, rates):
        rates._obj.gpu, rates._obj.memory = self.utilization, 3
        return 0

    def nvmlDeviceGetMemoryInfo(self, handle, memory):
        memory._obj.total, memory._obj.free, memory._obj.used = 80 << 30, 70 << 30, 10 << 30
        return 0

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle, count, infos):
        for i, pid in enumerate(self.pids):
            infos[i].pid, infos[i].usedGpuMemory = pid, (i + 1) << 30
        count._obj.value = len(self.pids)
        return 0

    def nvmlDeviceGetGraphicsRunningProcesses_v3(self, handle, count, infos):
        count._obj.value = 0
        return 0


@pytest.mark.parametrize("utilization, pids, idle", [(0, [], True), (0, [4242], False), (55, [], False)])
def test_the_gpu_check_reads_processes_utilization_and_memory_through_nvml(monkeypatch, utilization, pids, idle):
    from targets.nvidia import nvml
    from targets.nvidia.idle import gpu_idle_state

    fake = nvml.Nvml(FakeNvml(utilization, [os.getpid(), *pids]))  # our own process does not count
    monkeypatch.setattr(nvml, "_nvml", lambda: fake)
    monkeypatch.setattr(nvml, "pci_bus_id", lambda index: None)
    state = gpu_idle_state(0)
    assert state.idle is idle
    assert [p["pid"] for p in state.facts["processes"]] == pids
    assert state.facts["memory_used_bytes"] == 10 << 30 and state.facts["utilization_percent"] == utilization
    assert state.method.startswith("NVML, NVML GPU 0")


def test_without_the_nvidia_driver_the_gpu_is_not_checked(monkeypatch):
    from targets.nvidia import nvml
    from targets.nvidia.idle import gpu_idle_state

    def missing():
        return nvml.Nvml(ctypes.CDLL("libnvidia-ml-not-here.so.1"))

    monkeypatch.setattr(nvml, "_nvml", missing)
    state = gpu_idle_state(0)
    assert state.idle is None and "cannot be loaded" in state.method
