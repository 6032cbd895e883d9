"""`--device`: one device, or a comma-separated list of them, read once into one spelling.

The spelling is what the run records (summary `device`) and what a rerun is compared against, so `0, 1` and
`0,1` must be the same run; a device listed twice (`0,0`, `0,00`) would run two workers on one device and add
their figures up as two devices'.
"""
from __future__ import annotations


class DeviceListError(ValueError):
    """--device names no device, an empty entry, or a device twice."""


def _canonical(entry: str) -> str:
    """A device index without its leading zeros (`01` is device 1 to every target); any other name as given."""
    return str(int(entry)) if entry.isascii() and entry.isdigit() else entry


def device_list(text: str) -> list[str]:
    """The devices of a --device value, each in its one spelling, in the order given."""
    entries = [entry.strip() for entry in str(text).split(",")]
    if not any(entries):
        raise DeviceListError(f"--device {text!r} names no device; pass an index such as 0, or a list such as 0,1")
    if not all(entries):
        raise DeviceListError(f"--device {text!r} has an empty entry; list devices separated by single commas, "
                              "e.g. 0,1")
    devices = [_canonical(entry) for entry in entries]
    twice = next((d for i, d in enumerate(devices) if d in devices[:i]), None)
    if twice is not None:
        raise DeviceListError(f"--device {text!r} lists device {twice} more than once; list each device once "
                              "(one worker runs on each)")
    return devices


def normalised_device(text: str) -> str:
    """The --device value as the run records it: `0, 1` -> `0,1`, ` 01` -> `1`."""
    return ",".join(device_list(text))
