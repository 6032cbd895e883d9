"""Turn two FAULT_LOG files (the fault suite run before and after a change) into a Markdown table.

    FAULT_LOG=/tmp/before.jsonl python -m pytest tests/faults   # on the old tree
    FAULT_LOG=/tmp/after.jsonl python -m pytest tests/faults    # on this one
    python tests/faults/table.py /tmp/before.jsonl /tmp/after.jsonl > table.md
"""
from __future__ import annotations

import json
import sys

WIDTH = 220


def load(path: str) -> dict[str, dict]:
    records: dict[str, dict] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            records.setdefault(record["case"], record)  # a case run by several tests: its first run
    return records


def cell(record: dict | None) -> str:
    if record is None:
        return "(not run: the test stopped earlier)"
    said = record["stderr"] or record["stdout"]
    text = f"exit {record['rc']}" + (", **traceback**" if record["traceback"] else "") + (f": {said}" if said else "")
    text = text if len(text) <= WIDTH else text[:WIDTH - 3] + "..."
    return text.replace("|", "\\|")


def table(before: dict[str, dict], after: dict[str, dict]) -> str:
    rows = ["| case | command | before | after |", "|---|---|---|---|"]
    for case, record in after.items():
        command = record["command"].replace("|", "\\|")
        rows.append(f"| {case} | `{command}` | {cell(before.get(case))} | {cell(record)} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(table(load(sys.argv[1]), load(sys.argv[2])))
