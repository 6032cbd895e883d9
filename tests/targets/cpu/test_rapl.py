"""RAPL through a fake /sys/class/powercap tree: package domains only, wrap-around, the unavailable reasons."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.energy import CounterMeter, UnavailableMeter
from harness.energy_summary import summarize_energy
from targets.cpu import rapl

MAX_RANGE_UJ = 262143328850  # a common max_energy_range_uj


def domain(root: Path, name: str, energy_uj: int, max_uj: int = MAX_RANGE_UJ) -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "name").write_text("package-0\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return path


def set_energy(path: Path, energy_uj: int) -> None:
    (path / "energy_uj").write_text(f"{energy_uj}\n")


def test_packages_are_summed_with_wrap_and_subzones_left_out(tmp_path):
    root = tmp_path / "powercap"
    pkg0 = domain(root, "intel-rapl:0", MAX_RANGE_UJ - 328850)
    pkg1 = domain(root, "intel-rapl:1", 5_000_000)
    core = domain(root, "intel-rapl:0:0", 1_000)  # a sub-zone of package 0: inside it, not added again
    (root / "intel-rapl-mmio:0").mkdir()
    assert [d.name for d in rapl.package_domains(root)] == ["intel-rapl:0", "intel-rapl:1"]
    meter = rapl.cpu_energy_meter(root)
    assert isinstance(meter, CounterMeter)
    meter.start()
    set_energy(pkg0, 1_000_000)  # wrapped: 328850 uJ up to the range, then 1 J after zero
    set_energy(pkg1, 8_000_000)
    set_energy(core, 900_000_000)
    reading = meter.stop()
    expected = (MAX_RANGE_UJ - (MAX_RANGE_UJ - 328850) + 1_000_000) * 1e-6 + (8_000_000 - 5_000_000) * 1e-6
    assert reading.joules == pytest.approx(expected, rel=1e-9)  # uJ of 262 kJ counters in floats
    assert reading.counter == "RAPL package energy (intel-rapl:0, intel-rapl:1)"
    assert reading.resolution.startswith("1 uJ")
    summary = summarize_energy(reading, images=100)
    assert summary.joules_per_image == pytest.approx(expected / 100)


def test_no_powercap_no_domain_and_no_permission_each_say_why(tmp_path, monkeypatch):
    missing = rapl.cpu_energy_meter(tmp_path / "absent")
    assert isinstance(missing, UnavailableMeter) and "no powercap driver" in missing.reason
    (tmp_path / "empty").mkdir()
    assert "no RAPL package domain" in rapl.cpu_energy_meter(tmp_path / "empty").reason
    domain(tmp_path / "locked", "intel-rapl:0", 1)
    real_read = Path.read_text

    def refuse(path: Path, *args, **kwargs):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)
    locked = rapl.cpu_energy_meter(tmp_path / "locked")
    assert isinstance(locked, UnavailableMeter)
    assert "energy_uj is not readable by this user" in locked.reason and "chmod" in locked.reason


def test_this_machine_reports_rapl_or_says_why_not():
    meter = rapl.cpu_energy_meter()
    meter.start()
    summary = summarize_energy(meter.stop(), images=1)
    if rapl.package_domains() and summary.available:
        assert summary.joules >= 0 and summary.counter.startswith("RAPL package energy")
    else:
        assert not summary.available and summary.joules is None
        assert "powercap" in summary.unavailable or "energy_uj" in summary.unavailable
