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
from collections.abc import Collection
from dataclasses import dataclass, field

from harness.energy import CounterUnreadable, EnergyMeter, EnergyReading, SampledPowerMeter, UnavailableMeter
from harness.errors import HarnessError
from harness.tools import require_tool, run_tool

CARD_POWER = "Power Dissipation(W)"
CHIP_POWER = "NPU Real-time Power(W)"
RATED_POWER = "Rated Power Dissipation(W)"
FIELD = re.compile(r"^\s*(?P<label>\S.*?)\s+:\s*(?P<value>.*?)\s*$")
NPU_SMI_TIMEOUT_S = 10
WHOLE_NUMBER = re.compile(r"[0-9]+")  # str.isdigit() takes '²', which int() refuses
PASS_NPU_ID = "pass --option npu_id=<NPU ID>"
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
        chip = int(block["Chip ID"]) if WHOLE_NUMBER.fullmatch(block.get("Chip ID", "")) else None
        if CARD_POWER in block and block.get("Chip Name", "MCU").upper() == "MCU":
            power.card_watts = _number(block[CARD_POWER])
        if _number(block.get(CHIP_POWER, "")) is not None:
            power.chip_watts[chip] = _number(block[CHIP_POWER])
        if _number(block.get(RATED_POWER, "")) is not None:
            power.rated_watts[chip] = _number(block[RATED_POWER])
    return power


def _chip_rows(chip_table: str) -> list[tuple[int, int, int]]:
    """(NPU ID, Chip ID, Chip Logic ID) of each chip row of `npu-smi info -m` (an MCU row has no logic id)."""
    rows = []
    for line in chip_table.splitlines():
        tokens = line.split()
        if len(tokens) >= 4 and all(WHOLE_NUMBER.fullmatch(t) for t in tokens[:3]):
            rows.append((int(tokens[0]), int(tokens[1]), int(tokens[2])))
    return rows


def npu_location(chip_table: str, logic_id: int) -> tuple[int, int] | None:
    """(NPU ID, Chip ID) of a Chip Logic ID from `npu-smi info -m`."""
    return next(((npu, chip) for npu, chip, logic in _chip_rows(chip_table) if logic == logic_id), None)


def chip_logic_id(device: int, valid: Collection[int] | None = None) -> int:
    """The Chip Logic ID of this process's device `device`: the device itself, or its entry in
    ASCEND_RT_VISIBLE_DEVICES, which renumbers the listed chips from 0 (npu-smi knows only the real ids).
    CANN reads the entries before the first that is not a whole number or not a chip it has ("1, 2,3" is 1
    alone; "1,3,8" on eight chips is 1,3): `valid`, the Chip Logic IDs npu-smi lists, decides the latter;
    without it every whole number counts. ValueError, saying why, when the device has no entry."""
    visible = os.environ.get(VISIBLE_DEVICES, "").strip()
    if not visible:
        return device
    ids, stop = [], ""
    for item in visible.split(","):
        if not WHOLE_NUMBER.fullmatch(item):
            stop = f"{item!r}, not a whole number"
        elif valid is not None and int(item) not in valid:
            stop = f"{item}, not a Chip Logic ID in npu-smi info -m"
        if stop:
            break
        ids.append(int(item))
    if device >= len(ids):
        read_as = f" (CANN stops at {stop})" if stop else ""
        raise ValueError(f"{VISIBLE_DEVICES}={visible} has no Chip Logic ID for device {device}{read_as}")
    return ids[device]


def device_note(device: int, logic_id: int) -> str:
    """What the power figure's name says when the device is not its own Chip Logic ID."""
    return "" if logic_id == device else f"device {device} = Chip Logic ID {logic_id} through {VISIBLE_DEVICES}"


class NpuNotFound(HarnessError):
    """Which NPU this process's device is could not be found; the message ends with what to pass instead."""


@dataclass(frozen=True)
class NpuLocation:
    npu_id: int
    chip_id: int | None  # None: the NPU's only chip, or npu_id given (npu-smi answers for the NPU)
    note: str = ""  # how the device maps to it, where not one to one


def npu_location_for(npu_smi: str, device: int, npu_id: int | None = None) -> NpuLocation:
    """The NPU of this process's device `device`, whose power and idle state npu-smi reports: `npu_id` when
    given (infer --option npu_id=N, as ais_bench's --npu_id), else the device's Chip Logic ID looked up in
    `npu-smi info -m`. NpuNotFound says why not."""
    if npu_id is not None:
        if not WHOLE_NUMBER.fullmatch(str(npu_id)):
            raise NpuNotFound(f"--option npu_id={npu_id} is not an NPU ID: give a whole number from npu-smi info "
                              "-m")
        return NpuLocation(int(npu_id), None)
    try:
        table = run_tool([npu_smi, "info", "-m"], timeout=NPU_SMI_TIMEOUT_S).output
        logic_id = chip_logic_id(device, {logic for _, _, logic in _chip_rows(table)} or None)
    except (HarnessError, ValueError) as exc:
        raise NpuNotFound(f"{exc}; {PASS_NPU_ID}") from None
    note = device_note(device, logic_id)
    location = npu_location(table, logic_id)
    if location is None:
        where = f"device {device} (Chip Logic ID {logic_id} through {VISIBLE_DEVICES})" if note else f"device {device}"
        raise NpuNotFound(f"{where} is not listed in `npu-smi info -m`; {PASS_NPU_ID}")
    return NpuLocation(*location, note)


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
    """The meter of one NPU (npu_location_for says which)."""
    try:
        npu_smi = require_tool("npu-smi", "install the Ascend driver")
        location = npu_location_for(npu_smi, device, npu_id)
    except HarnessError as exc:
        return UnavailableMeter(str(exc), counter="npu-smi")
    gauge = NpuSmiPowerGauge(npu_smi, location.npu_id, location.chip_id)
    try:
        covers = gauge.sample().measured(gauge.chip_id)[1]
    except CounterUnreadable:
        covers = ""  # the meter reports the reason, and ais_bench's figure where it has one
    said = ", ".join(part for part in (covers, location.note) if part)
    gauge.name += f" ({said})" if said else ""
    return AscendPowerMeter(gauge)
