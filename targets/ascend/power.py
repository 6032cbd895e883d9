"""NPU power from `npu-smi info -t power -i <NPU ID>`, sampled during the timed loop.

npu-smi prints `<tab><label padded to 30> : <value>` lines in blocks separated by blank lines: a
header (NPU ID, Chip Count), one block per chip and one for the card's MCU. What a block holds depends
on the chip (npu-smi's own print code):
- 310P card: the chip answers "not supported"; the MCU block has `Power Dissipation(W)`, the card's power.
- 910B (A2), 910, 310B: `NPU Real-time Power(W)` per chip, with its `Chip ID` after (310B: before);
  the 25.x driver prints no Chip Count and no Chip ID.
- 310: `Rated Power Dissipation(W)` per chip: a rating, not a measurement; only the MCU block measures.
Energy is the trapezoidal integral of the samples. ais_bench's `--energy_consumption` instead takes
the first line containing `Power Dissipation(W)` at the start and at the end and multiplies their mean by
the duration; that figure is reported beside ours, or why ais_bench has none.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from harness.energy import CounterUnreadable, EnergyMeter, EnergyReading, SampledPowerMeter, UnavailableMeter
from harness.errors import HarnessError
from harness.tools import require_tool, run_tool

CARD_POWER = "Power Dissipation(W)"
CHIP_POWER = "NPU Real-time Power(W)"
RATED_POWER = "Rated Power Dissipation(W)"
FIELD = re.compile(r"^\s*(?P<label>\S.*?)\s+:\s*(?P<value>.*?)\s*$")
NPU_SMI_TIMEOUT_S = 10
# The devices an ACL process sees, by Chip Logic ID, renumbered from 0 in its own device ids (CANN runtime).
VISIBLE_DEVICES = "ASCEND_RT_VISIBLE_DEVICES"
AIS_BENCH_METHOD = ("ais_bench --energy_consumption: mean of the first 'Power Dissipation(W)' line at start "
                    "and at end x duration")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # NA, Failed, -


@dataclass
class NpuPower:
    """One `npu-smi info -t power` answer."""

    card_watts: float | None = None  # the MCU's figure for the whole card
    chip_watts: dict = field(default_factory=dict)  # chip id (None where not printed) -> real-time watts
    rated_watts: dict = field(default_factory=dict)  # chip id -> rated (nominal) watts
    ais_bench_watts: float | None = None  # what ais_bench's get_energy_consumption would take

    def measured(self, chip_id: int | None) -> tuple[float, str]:
        """(watts, what they cover): the card's figure, else this chip's real-time figure."""
        if self.card_watts is not None:
            return self.card_watts, "card power (MCU), all chips of the card"
        if chip_id in self.chip_watts:
            return self.chip_watts[chip_id], f"chip {chip_id} real-time power"
        if len(self.chip_watts) == 1:
            return next(iter(self.chip_watts.values())), "chip real-time power"
        if self.rated_watts:
            raise CounterUnreadable("npu-smi prints only the rated (nominal) power of this NPU, no measured "
                                    "power")
        raise CounterUnreadable(f"npu-smi printed no '{CHIP_POWER}' or '{CARD_POWER}' line for chip {chip_id}")


def _blocks(text: str) -> list[dict]:
    blocks, current = [], {}
    for line in text.splitlines():
        match = FIELD.match(line)
        if match:
            current[match["label"]] = match["value"]
        elif not line.strip() and current:
            blocks.append(current)
            current = {}
    return blocks + ([current] if current else [])


def _ais_bench_reading(text: str) -> float | None:
    for line in text.splitlines():
        if CARD_POWER in line:
            return _number(line.partition(":")[2].strip())
    return None


def parse_power_info(text: str) -> NpuPower:
    power = NpuPower(ais_bench_watts=_ais_bench_reading(text))
    for block in _blocks(text):
        chip = int(block["Chip ID"]) if block.get("Chip ID", "").isdigit() else None
        if CARD_POWER in block and block.get("Chip Name", "MCU").upper() == "MCU":
            power.card_watts = _number(block[CARD_POWER])
        if _number(block.get(CHIP_POWER, "")) is not None:
            power.chip_watts[chip] = _number(block[CHIP_POWER])
        if _number(block.get(RATED_POWER, "")) is not None:
            power.rated_watts[chip] = _number(block[RATED_POWER])
    return power


def npu_location(chip_table: str, logic_id: int) -> tuple[int, int] | None:
    """(NPU ID, Chip ID) of a Chip Logic ID from `npu-smi info -m`."""
    for line in chip_table.splitlines():
        tokens = line.split()
        if len(tokens) >= 4 and tokens[0].isdigit() and tokens[1].isdigit() and tokens[2] == str(logic_id):
            return int(tokens[0]), int(tokens[1])
    return None


def chip_logic_id(device: int) -> int:
    """The Chip Logic ID of this process's device `device`: the device itself, or its entry in
    ASCEND_RT_VISIBLE_DEVICES, which renumbers the listed chips from 0 (npu-smi knows only the real ids).
    ValueError, saying why, when the variable has no whole-number entry for the device."""
    visible = os.environ.get(VISIBLE_DEVICES, "").strip()
    if not visible:
        return device
    ids = []
    for item in visible.split(","):
        if not item.isdigit():  # CANN reads the ids before the first that is not one ("1, 2,3" is 1 alone)
            break
        ids.append(int(item))
    if device >= len(ids):
        raise ValueError(f"{VISIBLE_DEVICES}={visible} has no Chip Logic ID for device {device}")
    return ids[device]


def device_note(device: int, logic_id: int) -> str:
    """What the power figure's name says when the device is not its own Chip Logic ID."""
    return "" if logic_id == device else f"device {device} = Chip Logic ID {logic_id} through {VISIBLE_DEVICES}"


class NpuSmiPowerGauge:
    resolution = "0.1 W (npu-smi prints one decimal)"

    def __init__(self, npu_smi: str, npu_id: int, chip_id: int | None) -> None:
        self.argv = [npu_smi, "info", "-t", "power", "-i", str(npu_id)]
        self.chip_id = chip_id
        self.name = f"npu-smi info -t power -i {npu_id}"
        self.answers: list[NpuPower] = []

    def sample(self) -> NpuPower:
        try:
            result = run_tool(self.argv, timeout=NPU_SMI_TIMEOUT_S, check=False)
        except HarnessError as exc:
            raise CounterUnreadable(str(exc)) from None
        if result.returncode != 0:
            raise CounterUnreadable(f"{' '.join(self.argv)} failed (exit {result.returncode}): "
                                    f"{result.tail(2)}")
        answer = parse_power_info(result.output)
        self.answers.append(answer)
        return answer

    def read_watts(self) -> float:
        return self.sample().measured(self.chip_id)[0]


class AscendPowerMeter(SampledPowerMeter):
    """Sampled npu-smi power, with ais_bench's start/end figure over the same window beside it."""

    def start(self) -> None:
        self.gauge.answers.clear()
        super().start()

    def stop(self) -> EnergyReading:
        reading = super().stop()
        answers = self.gauge.answers
        first, last = (answers[0].ais_bench_watts, answers[-1].ais_bench_watts) if answers else (None, None)
        if first is not None and last is not None:
            reading.comparison["ais_bench_joules"] = (first + last) / 2.0 * reading.seconds
            reading.comparison["ais_bench_method"] = AIS_BENCH_METHOD
        else:
            reading.comparison["ais_bench_unavailable"] = (
                f"no numeric '{CARD_POWER}' line in this npu-smi output, so ais_bench --energy_consumption "
                "has no figure here")
        return reading


def ascend_energy_meter(device: int, npu_id: int | None = None) -> EnergyMeter:
    """The meter of one NPU; `npu_id` (infer --option npu_id=N, as ais_bench's --npu_id) overrides the
    NPU ID found for the device in `npu-smi info -m`."""
    try:
        npu_smi = require_tool("npu-smi", "install the Ascend driver")
    except HarnessError as exc:
        return UnavailableMeter(str(exc), counter="npu-smi")
    note = ""
    if npu_id is not None:
        if not str(npu_id).isdigit():
            return UnavailableMeter(f"--option npu_id={npu_id} is not an NPU ID (a number from npu-smi info -m)")
        location = (int(npu_id), None)
    else:
        try:
            logic_id = chip_logic_id(device)
            table = run_tool([npu_smi, "info", "-m"], timeout=NPU_SMI_TIMEOUT_S).output
        except (HarnessError, ValueError) as exc:
            return UnavailableMeter(f"{exc}; pass --option npu_id=<NPU ID>", counter="npu-smi")
        location, note = npu_location(table, logic_id), device_note(device, logic_id)
        if location is None:
            where = f"{logic_id} ({note})" if note else f"device {device}"
            return UnavailableMeter(f"{where} is not a Chip Logic ID in `npu-smi info -m`; pass "
                                    "--option npu_id=<NPU ID>", counter="npu-smi")
    gauge = NpuSmiPowerGauge(npu_smi, *location)
    try:
        covers = gauge.sample().measured(gauge.chip_id)[1]
    except CounterUnreadable:
        covers = ""  # the meter reports the reason, and ais_bench's figure where it has one
    said = ", ".join(part for part in (covers, note) if part)
    gauge.name += f" ({said})" if said else ""
    return AscendPowerMeter(gauge)
