"""Parse `npu-smi info` and `npu-smi info -m` into chips, and the atc --soc_version from them.

The table layouts differ between drivers and products (ref-ascend.md section 3): the 310P card of the
ModelZoo READMEs, the A2 (910B) layout with an HBM column and usage pairs without spaces, and the
25.x driver layout whose Name column already carries the `Ascend` prefix. The parser relies only on
what they share: a card's main row starts with its NPU id and has a Health token; the row after it
carries the chip id and a PCI Bus-Id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import InputError, TargetError
from harness.tools import require_tool, run_tool

HEALTH_STATES = ("OK", "Warning", "Alarm", "Critical", "Unknown")
BUS_ID = re.compile(r"\b[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]\b")
# Ascend + a three-digit family and a variant: Ascend310, Ascend310P3, Ascend310B1, Ascend910B3,
# Ascend910_9391, Ascend950PR ... Anything else is not a SoC name atc knows.
SOC_VERSION = re.compile(r"^Ascend[1-9]\d{2}[A-Za-z0-9_\-]*$")
HOW_TO_SET = "pass --option soc_version=Ascend<Name> (Name from `npu-smi info` on the NPU machine)"


@dataclass
class NpuChip:
    npu_id: int
    name: str  # as printed: 310P3, 910B3, Ascend950PR, Ascend 310P3
    health: str = ""
    chip_id: int | None = None
    bus_id: str = ""

    @property
    def soc_version(self) -> str:
        return soc_version_from_name(self.name)


def soc_version_from_name(name: str) -> str:
    """atc's --soc_version: `Ascend` + the Name column, unless the name already starts with it."""
    compact = re.sub(r"\s+", "", name)
    soc = compact if compact.startswith("Ascend") else f"Ascend{compact}"
    if not SOC_VERSION.match(soc):
        raise TargetError(f"unknown Ascend SoC {name!r}; expected a name like Ascend310P3 or Ascend910B3; "
                          f"{HOW_TO_SET}")
    return soc


def normalize_soc_version(value: str) -> str:
    """A user-given soc_version: `310P3` is taken as `Ascend310P3`; anything unknown is refused."""
    return soc_version_from_name(value.strip())


def _cells_tokens(line: str) -> list[str]:
    return line.replace("|", " ").replace("+", " ").split()


def _main_row(tokens: list[str]) -> NpuChip | None:
    if not tokens or not tokens[0].isdigit():
        return None
    health_at = next((i for i, t in enumerate(tokens) if t in HEALTH_STATES), None)
    if health_at is None or health_at < 2:
        return None
    return NpuChip(npu_id=int(tokens[0]), name=" ".join(tokens[1:health_at]), health=tokens[health_at])


def parse_npu_smi_info(text: str) -> list[NpuChip]:
    """Chips listed by `npu-smi info`, in table order; the process table at the end is ignored."""
    chips: list[NpuChip] = []
    pending: NpuChip | None = None
    for line in text.splitlines():
        if "Process id" in line or "Process ID" in line:
            break
        tokens = _cells_tokens(line)
        chip = _main_row(tokens)
        if chip is not None:
            pending = chip
            chips.append(chip)
            continue
        bus = BUS_ID.search(line)
        if bus and pending is not None:
            if tokens and tokens[0].isdigit():
                pending.chip_id = int(tokens[0])
            pending.bus_id = bus.group(0)
            pending = None
    return chips


def parse_npu_smi_chip_table(text: str) -> list[NpuChip]:
    """Rows of `npu-smi info -m`: `NPU ID  Chip ID  Chip Logic ID  Chip Name`; MCU rows are dropped."""
    chips = []
    for line in text.splitlines():
        tokens = _cells_tokens(line)
        if len(tokens) < 4 or not (tokens[0].isdigit() and tokens[1].isdigit()):
            continue
        name = " ".join(tokens[3:])
        if name.lower() == "mcu":
            continue
        chips.append(NpuChip(npu_id=int(tokens[0]), name=name, chip_id=int(tokens[1])))
    return chips


def soc_version_of(chips: list[NpuChip], npu_id: int | None = None) -> str:
    """The SoC of the given NPU id, or of all chips when they are one kind."""
    if not chips:
        raise TargetError(f"npu-smi listed no NPU; {HOW_TO_SET}")
    if npu_id is not None:
        for chip in chips:
            if chip.npu_id == npu_id:
                return chip.soc_version
    kinds = sorted({c.soc_version for c in chips})
    if len(kinds) > 1:
        raise InputError(f"this machine has several SoC kinds ({', '.join(kinds)}); pick one with "
                         "--option soc_version=...")
    return kinds[0]


def detect_soc_version(npu_id: int | None = None) -> str:
    """Run `npu-smi info` (then `npu-smi info -m` if the table is not recognised)."""
    npu_smi = require_tool("npu-smi", f"install the Ascend driver, or {HOW_TO_SET}")
    chips = parse_npu_smi_info(run_tool([npu_smi, "info"], timeout=60).output)
    if not chips:
        chips = parse_npu_smi_chip_table(run_tool([npu_smi, "info", "-m"], timeout=60).output)
    return soc_version_of(chips, npu_id)
