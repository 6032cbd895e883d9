"""summary.json `energy`: a meter's reading plus the per-image figures, merged over devices, printed.

Images per second per watt is the same number as images per joule (both over the timed loop).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Sequence

from harness.energy import EnergyReading


@dataclass
class EnergySummary(EnergyReading):
    """summary.json `energy`: the reading plus the per-image figures."""

    available: bool = False
    images: int = 0
    joules_per_image: float | None = None
    images_per_second_per_watt: float | None = None  # = images per joule
    counter_to_sampled_ratio: float | None = None
    # several devices: what peak_watts is, or why there is none (each device's own peak: comparison.per_device)
    peak_watts_basis: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "EnergySummary | None":
        """summary.json `energy` read back; None where the run recorded none (keys of later versions ignored)."""
        if not data:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def summarize_energy(reading: EnergyReading | None, images: int) -> EnergySummary:
    if reading is None:
        return EnergySummary(unavailable="no energy meter ran around this loop")
    summary = EnergySummary(**asdict(reading), images=images)
    if reading.joules is None or reading.unavailable:
        summary.joules = None
        summary.unavailable = reading.unavailable or "the meter returned no energy"
        return summary
    if reading.joules <= 0:  # a loop shorter than the counter's update period: no figure, not 0 J
        summary.joules = None
        summary.unavailable = (f"the energy counter did not advance over the {reading.seconds:.3f} s timed loop; "
                               "run longer (--loop, --time_limit)")
        return summary
    summary.available = True
    if images > 0:
        summary.joules_per_image = reading.joules / images
    summary.images_per_second_per_watt = images / reading.joules
    if reading.sampled_joules:
        summary.counter_to_sampled_ratio = reading.joules / reading.sampled_joules
    return summary


PEAK_SUMMED = ("sum of the devices' peaks, their timed loops running at once (an upper bound: the peaks need not "
               "have come at the same moment)")
PEAK_APART = ("none: the devices' timed loops did not run at once, or when they ran is not recorded, so their peaks "
              "do not add up (each device's peak: comparison.per_device)")


def merge_energy(parts: Sequence[dict], devices: Sequence[str], span_s: float | None = None,
                 side_by_side: bool = False) -> dict:
    """One `energy` for a run on several devices: joules add up; any device without a figure makes
    the total unavailable, naming it. Average watts divide by `span_s`, the walltime from the first device's
    timed loop start to the last one's end, where known: loops that did not overlap did not draw at once.
    The devices' peaks add up only where their loops ran `side_by_side`; else there is no combined peak."""
    missing = [f"device {d}: {p.get('unavailable') or 'no energy recorded'}" for d, p in zip(devices, parts)
               if not p.get("available")]
    images = sum(int(p.get("images") or 0) for p in parts)
    if missing or not parts:
        return EnergySummary(images=images, unavailable="; ".join(missing) or "no device").to_dict()
    joules = sum(p["joules"] for p in parts)
    peaks = [p["peak_watts"] for p in parts if p.get("peak_watts") is not None]
    seconds = max([p["seconds"] for p in parts] + ([span_s] if span_s is not None else []))
    merged = EnergySummary(counter=", ".join(sorted({p["counter"] for p in parts})),
                           resolution=parts[0].get("resolution", ""), method=parts[0].get("method", ""),
                           seconds=seconds, joules=joules, average_watts=joules / seconds if seconds > 0 else None,
                           peak_watts=sum(peaks) if side_by_side and len(peaks) == len(parts) else None,
                           peak_watts_basis=PEAK_SUMMED if side_by_side else PEAK_APART,
                           samples=sum(p.get("samples", 0) for p in parts), images=images, available=True,
                           joules_per_image=joules / images if images else None,
                           images_per_second_per_watt=images / joules if joules > 0 else None)
    merged.comparison = {"per_device": dict(zip(devices, parts))}
    return merged.to_dict()


def energy_line(energy: dict) -> str:
    """The one line infer prints about energy."""
    if not energy:
        return "[INFO] energy: not recorded"
    if not energy.get("available"):
        return f"[INFO] energy: unavailable: {energy.get('unavailable')}"
    line = (f"[INFO] energy: {energy['joules']:.2f} J over {energy['seconds']:.2f} s, "
            f"{energy['average_watts']:.1f} W average")
    if energy.get("peak_watts") is not None:
        summed = " (the devices' peaks added)" if energy.get("peak_watts_basis") == PEAK_SUMMED else ""
        line += f", {energy['peak_watts']:.1f} W peak{summed}"
    if energy.get("joules_per_image") is not None:
        line += f", {energy['joules_per_image']:.4g} J/image, {energy['images_per_second_per_watt']:.4g} img/s/W"
    return line + f" ({energy['counter']})"
