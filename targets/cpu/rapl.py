"""CPU package energy from RAPL through the Linux powercap interface (/sys/class/powercap).

Each package domain `intel-rapl:<n>` (AMD's kernel driver uses the same name) has `energy_uj`, a
counter in microjoules that restarts from zero after `max_energy_range_uj`. Only the top-level package
domains are summed: their sub-zones (`intel-rapl:0:0`, core or uncore or DRAM) are parts of them or
outside the package. The figure is the CPU packages' energy, not the whole machine's.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.energy import CounterMeter, CounterUnreadable, EnergyMeter, UnavailableMeter

POWERCAP = Path("/sys/class/powercap")
PACKAGE_DOMAIN = re.compile(r"^intel-rapl:\d+$")
MICRO = 1e-6


def package_domains(root: Path = POWERCAP) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted((d for d in root.iterdir() if PACKAGE_DOMAIN.match(d.name)),
                  key=lambda d: int(d.name.split(":")[1]))


def _read_uj(path: Path) -> float:
    try:
        return int(path.read_text().strip()) * MICRO
    except PermissionError:
        raise CounterUnreadable(f"{path} is not readable by this user (root only since Linux 5.10); run as "
                                f"root or make it readable (chmod o+r {path})") from None
    except (OSError, ValueError) as exc:
        raise CounterUnreadable(f"{path} cannot be read ({exc})") from None


class RaplCounter:
    resolution = "1 uJ (energy_uj unit; the hardware counts in steps of about 15-61 uJ)"

    def __init__(self, domains: list[Path]) -> None:
        self.domains = domains
        self.name = "RAPL package energy (" + ", ".join(d.name for d in domains) + ")"
        self._ranges = tuple(_read_uj(d / "max_energy_range_uj") for d in domains)

    def read(self) -> tuple[float, ...]:
        return tuple(_read_uj(d / "energy_uj") for d in self.domains)

    def wrap_ranges(self) -> tuple[float | None, ...]:
        return self._ranges


def cpu_energy_meter(root: Path | None = None) -> EnergyMeter:
    """A RAPL counter meter, or an unavailable one that says why (no powercap, no domain, no permission)."""
    root = POWERCAP if root is None else root
    if not root.is_dir():
        return UnavailableMeter(f"no {root} on this machine (no powercap driver: a VM or container without "
                                "RAPL, or not Linux)", counter="RAPL")
    domains = package_domains(root)
    if not domains:
        return UnavailableMeter(f"no RAPL package domain (intel-rapl:<n>) under {root}; this CPU or VM "
                                "exposes none", counter="RAPL")
    try:
        counter = RaplCounter(domains)
        counter.read()
    except CounterUnreadable as exc:
        return UnavailableMeter(str(exc), counter="RAPL")
    return CounterMeter(counter)
