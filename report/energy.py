"""Energy and cost in the report.

Measured rows carry summary.json's `energy` (joules over the timed loop, from the device's counter).
Published rows carry no measurement: where report/data/prices.csv knows the device's board power from
its datasheet, images per joule is img/s over that power, always labelled nominal. Cost per million
images = price per device-hour x devices / (img/s x 3600) x 10^6, at the compute-only throughput (the
figure the comparison tables use), where the prices file gives a price; `python -m report --prices FILE`
replaces the file.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ContractError
from report.records import MEASURED, PerfRecord

PRICES_CSV = Path(__file__).with_name("data") / "prices.csv"
COLUMNS = ("device", "match", "price_per_hour", "currency", "price_source", "board_power_w", "power_source")
NOMINAL = "nominal (datasheet board power)"


@dataclass
class DeviceFacts:
    """One row of the prices file: a device, what its name contains, its price and datasheet power."""

    device: str
    match: str
    price_per_hour: float | None
    currency: str
    price_source: str
    board_power_w: float | None
    power_source: str


def _number(text: str, path: Path, line: int, column: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ContractError(f"{path}:{line}: {column} is {text!r}; give a positive number or leave it empty")
    return value


def load_prices(path: Path = PRICES_CSV) -> list[DeviceFacts]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ContractError(f"{path}: prices file unreadable ({exc.strerror}); pass --prices with a CSV of "
                            f"columns {', '.join(COLUMNS)}") from None
    if rows and set(COLUMNS) - set(rows[0]):
        raise ContractError(f"{path}: columns {sorted(set(COLUMNS) - set(rows[0]))} missing; expected {COLUMNS}")
    facts = []
    for line, row in enumerate(rows, start=2):
        if not row["match"].strip():
            raise ContractError(f"{path}:{line}: empty 'match'; give text that the device name contains")
        facts.append(DeviceFacts(
            device=row["device"], match=row["match"].strip(),
            price_per_hour=_number(row["price_per_hour"], path, line, "price_per_hour"),
            currency=row["currency"].strip(), price_source=row["price_source"].strip(),
            board_power_w=_number(row["board_power_w"], path, line, "board_power_w"),
            power_source=row["power_source"].strip()))
    return facts


def _contains(device: str, match: str) -> bool:
    """`match` in the device name as whole words: 'Ascend310' is not in 'Ascend310P3'."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(match)}(?![A-Za-z0-9])", device, re.IGNORECASE) is not None


def facts_for(device: str, facts: list[DeviceFacts]) -> DeviceFacts | None:
    """The row whose `match` the device name contains; the longest match wins, so a device named
    'NVIDIA H200 NVL' takes the 'H200 NVL' row, not the 'H200' one."""
    found = [f for f in facts if _contains(device, f.match)]
    return max(found, key=lambda f: len(f.match), default=None)


def cost_per_million(img_s: float | None, price_per_hour: float | None) -> float | None:
    if not img_s or not price_per_hour:
        return None
    return price_per_hour / (img_s * 3600.0) * 1e6


def energy_of(record: PerfRecord, facts: list[DeviceFacts]) -> dict:
    """J/image, img/J, average watts and where they come from: measured, nominal, or why there are none."""
    energy = record.energy
    if record.status == MEASURED:
        if energy is not None and energy.available:
            return {"j_per_image": energy.joules_per_image, "img_per_j": energy.images_per_second_per_watt,
                    "watts": energy.average_watts, "energy_basis": f"measured: {energy.counter}"}
        reason = (energy.unavailable if energy is not None else "") or "no energy in this summary.json"
        return {"j_per_image": None, "img_per_j": None, "watts": None, "energy_basis": f"unavailable: {reason}"}
    fact = facts_for(record.device, facts)
    if fact is None or fact.board_power_w is None or not record.img_s_compute:
        return {"j_per_image": None, "img_per_j": None, "watts": None, "energy_basis": "no board power known"}
    watts = fact.board_power_w * record.gpus  # a published figure of several devices is their sum
    img_per_j = record.img_s_compute / watts
    return {"j_per_image": 1.0 / img_per_j, "img_per_j": img_per_j, "watts": watts,
            "energy_basis": f"{NOMINAL}: {record.gpus} x {fact.board_power_w:g} W, {fact.power_source}"}


def cost_of(record: PerfRecord, facts: list[DeviceFacts]) -> dict:
    fact = facts_for(record.device, facts)
    price = fact.price_per_hour * record.gpus if fact and fact.price_per_hour else None
    return {"cost_per_million": cost_per_million(record.img_s_compute, price),
            "currency": fact.currency if fact and price else "",
            "price_per_hour": price, "price_source": fact.price_source if fact and price else ""}


def columns(record: PerfRecord, facts: list[DeviceFacts]) -> dict:
    """The energy and cost fields of one record, flat, for tables, CSV and JSON."""
    return energy_of(record, facts) | cost_of(record, facts)
