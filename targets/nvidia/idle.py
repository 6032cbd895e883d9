"""Is the GPU idle before a timed run: other processes, utilization and memory in use, read through NVML."""
from __future__ import annotations

import ctypes
import os

from harness.idle import IdleState, decide, not_checked

MAX_PROCESSES = 64


class Utilization(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]


class Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class ProcessInfo(ctypes.Structure):  # nvmlProcessInfo_t of the _v2/_v3 calls
    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong), ("gpuInstanceId", ctypes.c_uint),
                ("computeInstanceId", ctypes.c_uint)]


def _processes(nvml, handle, call: str) -> list[ProcessInfo]:
    count = ctypes.c_uint(MAX_PROCESSES)
    infos = (ProcessInfo * MAX_PROCESSES)()
    nvml.check(getattr(nvml.lib, call)(handle, ctypes.byref(count), infos), call)
    return list(infos[:count.value])


def read_gpu(nvml, handle) -> tuple[float, dict, list[dict]]:
    """(GPU utilization %, memory facts, other processes) of one NVML device."""
    utilization, memory = Utilization(), Memory()
    nvml.check(nvml.lib.nvmlDeviceGetUtilizationRates(handle, ctypes.byref(utilization)),
               "nvmlDeviceGetUtilizationRates")
    nvml.check(nvml.lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)), "nvmlDeviceGetMemoryInfo")
    found = {}
    for call in ("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v3"):
        for info in _processes(nvml, handle, call):
            found[info.pid] = info
    own = os.getpid()
    others = [{"pid": pid, "used_bytes": info.usedGpuMemory} for pid, info in sorted(found.items()) if pid != own]
    return float(utilization.gpu), {"memory_used_bytes": memory.used, "memory_total_bytes": memory.total}, others


def gpu_idle_state(torch_index: int) -> IdleState:
    from targets.nvidia.nvml import LIBRARY, NvmlError, _nvml, device_handle, pci_bus_id

    try:
        nvml = _nvml()
        bus_id = None
        try:
            bus_id = pci_bus_id(torch_index)
        except Exception:  # no torch or no CUDA here: NVML's own numbering below
            pass
        handle, label = device_handle(nvml, torch_index, bus_id)
        utilization, memory, processes = read_gpu(nvml, handle)
    except OSError as exc:
        return not_checked(f"{LIBRARY} cannot be loaded ({exc}): the GPU was not checked")
    except NvmlError as exc:
        return not_checked(f"NVML: {exc}: the GPU was not checked")
    return decide(f"NVML, {label}: running processes, utilization, memory in use", utilization, processes, memory)
