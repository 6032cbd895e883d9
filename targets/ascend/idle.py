"""Is the NPU idle before a timed run: `npu-smi info` (AICore %, memory, processes), as the ModelZoo guide
asks users to check by hand.

The device table gives each NPU two rows: the main row (NPU id, name, health, ...) and the chip row
(chip id, Bus-Id, AICore %, Memory-Usage used / total, HBM-Usage used / total on A2). The process table
after it lists `NPU Chip | pid | name | memory` rows or "No running processes found".
"""
from __future__ import annotations

import os
import re

from harness.errors import HarnessError
from harness.idle import IdleState, decide, not_checked
from harness.tools import require_tool, run_tool
from targets.ascend.npu_smi import BUS_ID, _cells_tokens, _main_row
from targets.ascend.power import NPU_SMI_TIMEOUT_S, npu_location_for

USAGE = re.compile(r"(\d+)\s*/\s*(\d+)")
MIB = 1 << 20


def chip_rows(text: str) -> dict[tuple[int, int | None], str]:
    """(NPU id, chip id) -> the text of that chip's row (the one with the Bus-Id) in the device table. A card of
    several chips (Atlas 300I Duo, the 310 cards) repeats the main row before each chip row, which starts with
    its chip id; a row without one is keyed None."""
    rows, npu = {}, None
    for line in text.splitlines():
        if "Process id" in line or "Process ID" in line:
            break
        main = _main_row(_cells_tokens(line))
        if main is not None:
            npu = main.npu_id
        elif npu is not None and (BUS_ID.search(line) or " NA " in line):
            tokens = _cells_tokens(line)
            chip = int(tokens[0]) if tokens and tokens[0].isdigit() else None
            rows.setdefault((npu, chip), line)
            npu = None
    return rows


def rows_of(rows: dict[tuple[int, int | None], str], npu: int, chip: int | None) -> list[str]:
    """That chip's row; every row of the NPU when the chip is not known (or the table prints no chip ids)."""
    if chip is not None and (npu, chip) in rows:
        return [rows[(npu, chip)]]
    return [row for (n, _), row in rows.items() if n == npu]


def chip_facts(row: str) -> tuple[float | None, dict]:
    """(AICore %, memory facts) from a chip row: AICore is the first value after the Bus-Id, then come the
    used / total pairs (Memory-Usage, and HBM-Usage on A2 and later)."""
    bus = BUS_ID.search(row) or re.search(r"\sNA\s", row)
    after = _cells_tokens(row[bus.end():]) if bus else []
    aicore = float(after[0]) if after and after[0].replace(".", "", 1).isdigit() else None
    pairs = [(int(u) * MIB, int(t) * MIB) for u, t in USAGE.findall(" ".join(after[1:]))]
    facts = {f"{name}_{part}_bytes": value for name, (used, total) in zip(("memory", "hbm"), pairs)
             for part, value in (("used", used), ("total", total))}
    return aicore, facts


def processes_on(text: str, npu: int, chip: int | None) -> list[dict]:
    """Rows of the process table on this NPU (and chip): NPU, chip, pid, name, memory (MB)."""
    found, table = [], False
    for line in text.splitlines():
        if "Process id" in line or "Process ID" in line:
            table = True
            continue
        tokens = _cells_tokens(line)
        if not table or len(tokens) < 4 or not all(t.isdigit() for t in tokens[:3]):
            continue
        npu_of, chip_of, pid = (int(t) for t in tokens[:3])
        if npu_of == npu and (chip is None or chip_of == chip) and pid != os.getpid():
            memory = tokens[-1] if len(tokens) > 4 and tokens[-1].isdigit() else None
            found.append({"pid": pid, "name": tokens[3], "used_bytes": int(memory) * MIB if memory else None})
    return found


def npu_idle_state(device: int, npu_id: int | None = None) -> IdleState:
    """The state of the NPU npu_location_for finds for the device, the one whose power is read."""
    try:
        npu_smi = require_tool("npu-smi", "install the Ascend driver")
        location = npu_location_for(npu_smi, device, npu_id)
        text = run_tool([npu_smi, "info"], timeout=NPU_SMI_TIMEOUT_S).output
    except HarnessError as exc:
        return not_checked(f"the NPU was not checked: {exc}")
    npu, chip = location.npu_id, location.chip_id
    rows = rows_of(chip_rows(text), npu, chip)
    if not rows:
        return not_checked(f"the NPU was not checked: npu-smi info lists no NPU {npu}")
    aicore, facts = _combined([chip_facts(row) for row in rows])
    which = f"NPU {npu} chip {chip}" if chip is not None and len(rows) == 1 else f"NPU {npu}"
    if len(rows) > 1:
        which += f" (all {len(rows)} chips: the highest AICore, the memory summed)"
    return decide(f"npu-smi info, {which}: running processes, AICore utilization, memory in use", aicore,
                  processes_on(text, npu, chip), facts)


def _combined(per_chip: list[tuple[float | None, dict]]) -> tuple[float | None, dict]:
    if len(per_chip) == 1:
        return per_chip[0]
    readings = [aicore for aicore, _ in per_chip if aicore is not None]
    facts: dict = {}
    for _, chip in per_chip:
        for key, value in chip.items():
            facts[key] = facts.get(key, 0) + value
    return (max(readings) if readings else None), facts
