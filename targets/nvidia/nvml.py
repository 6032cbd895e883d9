"""NVIDIA board energy through NVML: libnvidia-ml.so.1 (part of the driver) loaded with ctypes.

`nvmlDeviceGetTotalEnergyConsumption` counts millijoules since the driver loaded (Volta and newer); it is
read before and after the loop. `nvmlDeviceGetPowerUsage` (milliwatts; on Ampere and newer, except
GA100, the board's average over about one second) is sampled beside it for the peak and for a
sampled-power integral that cross-checks the counter. Where the energy counter is not supported the
sampled power alone gives the energy, and the summary says so.
"""
from __future__ import annotations

import ctypes
import functools
import os

from harness.energy import (CounterMeter, CounterUnreadable, EnergyMeter, SampledPowerMeter, UnavailableMeter)

LIBRARY = "libnvidia-ml.so.1"
NVML_SUCCESS = 0


class NvmlError(CounterUnreadable):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Nvml:
    """The few NVML calls used here; `lib` is the loaded library (a stand-in in tests)."""

    def __init__(self, lib) -> None:
        self.lib = lib
        self.lib.nvmlErrorString.restype = ctypes.c_char_p
        self.check(self.lib.nvmlInit_v2(), "nvmlInit_v2")

    def check(self, code: int, call: str) -> None:
        if code != NVML_SUCCESS:
            text = self.lib.nvmlErrorString(code)
            text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
            raise NvmlError(code, f"NVML {call} failed: {text} (code {code})")

    def handle_by_index(self, index: int) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        self.check(self.lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)),
                   f"nvmlDeviceGetHandleByIndex_v2({index})")
        return handle

    def handle_by_pci_bus_id(self, bus_id: str) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        self.check(self.lib.nvmlDeviceGetHandleByPciBusId_v2(bus_id.encode(), ctypes.byref(handle)),
                   f"nvmlDeviceGetHandleByPciBusId_v2({bus_id})")
        return handle

    def total_energy_mj(self, handle) -> int:
        value = ctypes.c_ulonglong()
        self.check(self.lib.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(value)),
                   "nvmlDeviceGetTotalEnergyConsumption")
        return value.value

    def power_mw(self, handle) -> int:
        value = ctypes.c_uint()
        self.check(self.lib.nvmlDeviceGetPowerUsage(handle, ctypes.byref(value)), "nvmlDeviceGetPowerUsage")
        return value.value


class NvmlEnergyCounter:
    resolution = "1 mJ (NVML unit)"

    def __init__(self, nvml: Nvml, handle, label: str) -> None:
        self.nvml, self.handle, self.name = nvml, handle, f"NVML total energy, {label}"

    def read(self) -> tuple[float, ...]:
        return (self.nvml.total_energy_mj(self.handle) / 1000.0,)

    def wrap_ranges(self) -> tuple[float | None, ...]:
        return (None,)  # 64-bit millijoules do not wrap


class NvmlPowerGauge:
    resolution = "1 mW (NVML unit)"

    def __init__(self, nvml: Nvml, handle, label: str) -> None:
        self.nvml, self.handle, self.name = nvml, handle, f"NVML power usage, {label}"

    def read_watts(self) -> float:
        return self.nvml.power_mw(self.handle) / 1000.0


@functools.lru_cache(maxsize=1)
def _nvml() -> Nvml:
    return Nvml(ctypes.CDLL(LIBRARY))


def pci_bus_id(torch_index: int) -> str | None:
    """The CUDA device's PCI address as NVML writes it, where this torch reports one."""
    from targets.nvidia.device import import_torch

    props = import_torch().cuda.get_device_properties(torch_index)
    if getattr(props, "pci_bus_id", None) is None:
        return None
    return f"{getattr(props, 'pci_domain_id', 0):08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"


def device_handle(nvml: Nvml, torch_index: int, bus_id: str | None) -> tuple[object, str]:
    """NVML numbers every GPU of the machine in PCI order, CUDA only the visible ones: match by PCI
    address, else through CUDA_VISIBLE_DEVICES."""
    if bus_id:
        try:
            return nvml.handle_by_pci_bus_id(bus_id), f"GPU at PCI {bus_id}"
        except NvmlError:
            pass  # an address format this driver does not take: the index below
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    index = int(visible[torch_index]) if torch_index < len(visible) and visible[torch_index].isdigit() \
        else torch_index
    return nvml.handle_by_index(index), f"NVML GPU {index}"


def meter_for(nvml: Nvml, handle, label: str) -> EnergyMeter:
    """The energy counter with sampled power where both work; sampled power alone where the counter is
    missing (before Volta); unavailable, with both reasons, where neither does."""
    counter, gauge = NvmlEnergyCounter(nvml, handle, label), NvmlPowerGauge(nvml, handle, label)
    problems = {}
    for name, probe in (("counter", counter.read), ("power", gauge.read_watts)):
        try:
            probe()
        except NvmlError as exc:
            problems[name] = str(exc)
    if "counter" not in problems:
        return CounterMeter(counter, gauge if "power" not in problems else None)
    if "power" not in problems:
        return SampledPowerMeter(gauge, why=f"no total-energy counter: {problems['counter']}")
    return UnavailableMeter(f"{problems['counter']}; {problems['power']}", counter=f"NVML, {label}")


def gpu_energy_meter(torch_index: int) -> EnergyMeter:
    try:
        nvml = _nvml()
    except OSError as exc:
        return UnavailableMeter(f"{LIBRARY} cannot be loaded ({exc}); the NVIDIA driver is not installed "
                                "here", counter="NVML")
    except NvmlError as exc:
        return UnavailableMeter(str(exc), counter="NVML")
    try:
        handle, label = device_handle(nvml, torch_index, pci_bus_id(torch_index))
    except NvmlError as exc:
        return UnavailableMeter(str(exc), counter="NVML")
    return meter_for(nvml, handle, label)
