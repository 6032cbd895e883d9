"""NVML through ctypes with a stand-in library: counter plus power, fallback to sampled power, no driver."""
from __future__ import annotations

import time

import pytest

from harness.energy import CounterMeter, SampledPowerMeter, UnavailableMeter
from harness.energy_summary import summarize_energy
from targets.nvidia import nvml as nvml_module
from targets.nvidia.nvml import Nvml, device_handle, meter_for

NOT_SUPPORTED = 3


class FakeNvmlLibrary:
    """The NVML C calls, writing through the byref pointers as the library does; a GPU drawing `watts`."""

    def __init__(self, watts: float, energy: bool = True, power: bool = True) -> None:
        self.watts, self.energy, self.power = watts, energy, power
        self.origin = time.perf_counter()
        self.indices: list[int] = []
        self.bus_ids: list[bytes] = []

        def error_string(code):
            return {NOT_SUPPORTED: b"Not Supported"}.get(code, b"Unknown Error")

        self.nvmlErrorString = error_string  # a function object takes the restype attribute as ctypes' do

    def nvmlInit_v2(self):
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index, handle):
        self.indices.append(index.value)
        handle._obj.value = 1000 + index.value
        return 0

    def nvmlDeviceGetHandleByPciBusId_v2(self, bus_id, handle):
        self.bus_ids.append(bus_id)
        handle._obj.value = 77
        return 0

    def nvmlDeviceGetTotalEnergyConsumption(self, handle, value):
        if not self.energy:
            return NOT_SUPPORTED
        value._obj.value = int(1000 * self.watts * (time.perf_counter() - self.origin))  # millijoules
        return 0

    def nvmlDeviceGetPowerUsage(self, handle, value):
        if not self.power:
            return NOT_SUPPORTED
        value._obj.value = int(self.watts * 1000)  # milliwatts
        return 0


def run_meter(meter, seconds: float = 0.3):
    meter.start()
    time.sleep(seconds)
    return meter.stop()


def test_energy_counter_with_power_samples_beside_it():
    nvml = Nvml(FakeNvmlLibrary(watts=450.0))
    meter = meter_for(nvml, nvml.handle_by_index(0), "NVML GPU 0")
    assert isinstance(meter, CounterMeter)
    reading = run_meter(meter)
    assert reading.joules == pytest.approx(450.0 * reading.seconds, abs=0.002 + 450.0 * 1e-4)
    assert reading.sampled_joules == pytest.approx(450.0 * reading.seconds, rel=1e-9)
    assert reading.peak_watts == 450.0 and reading.resolution == "1 mJ (NVML unit)"
    assert reading.counter == "NVML total energy, NVML GPU 0; power: NVML power usage, NVML GPU 0"
    assert summarize_energy(reading, 1000).counter_to_sampled_ratio == pytest.approx(1.0, rel=1e-3)


def test_a_gpu_without_the_energy_counter_falls_back_to_sampled_power():
    nvml = Nvml(FakeNvmlLibrary(watts=70.0, energy=False))
    meter = meter_for(nvml, nvml.handle_by_index(0), "NVML GPU 0")
    assert isinstance(meter, SampledPowerMeter)
    reading = run_meter(meter)
    assert reading.method == "sampled power" and reading.joules == pytest.approx(70.0 * reading.seconds, rel=1e-9)
    assert "no total-energy counter: NVML nvmlDeviceGetTotalEnergyConsumption failed: Not Supported (code 3)" \
        in reading.counter


def test_neither_reading_gives_both_reasons():
    nvml = Nvml(FakeNvmlLibrary(watts=1.0, energy=False, power=False))
    meter = meter_for(nvml, nvml.handle_by_index(0), "NVML GPU 0")
    assert isinstance(meter, UnavailableMeter)
    assert meter.reason.count("Not Supported (code 3)") == 2


def test_cuda_devices_are_found_by_pci_address_or_visible_list(monkeypatch):
    lib = FakeNvmlLibrary(watts=1.0)
    nvml = Nvml(lib)
    handle, label = device_handle(nvml, 0, "00000000:1B:00.0")
    assert lib.bus_ids == [b"00000000:1B:00.0"] and handle.value == 77 and label == "GPU at PCI 00000000:1B:00.0"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    handle, label = device_handle(nvml, 1, None)
    assert lib.indices == [3] and handle.value == 1003 and label == "NVML GPU 3"
    lib.nvmlDeviceGetHandleByPciBusId_v2 = lambda bus_id, handle: NOT_SUPPORTED
    handle, label = device_handle(nvml, 0, "0:1B:0.0")  # refused: the visible list decides
    assert lib.indices == [3, 2] and label == "NVML GPU 2"


def test_no_driver_library_is_unavailable_with_the_reason(monkeypatch):
    def no_library(name):
        raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    nvml_module._nvml.cache_clear()
    monkeypatch.setattr(nvml_module.ctypes, "CDLL", no_library)
    meter = nvml_module.gpu_energy_meter(0)
    nvml_module._nvml.cache_clear()
    assert isinstance(meter, UnavailableMeter)
    assert meter.reason.startswith("libnvidia-ml.so.1 cannot be loaded (libnvidia-ml.so.1: cannot open shared")
    assert "NVIDIA driver is not installed" in meter.reason
