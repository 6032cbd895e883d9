"""Published reference throughput (report/data/published.csv), each row with its source and conditions."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from harness.errors import ContractError
from report.common import COMPUTE_ONLY
from report.records import PUBLISHED, PerfRecord

PUBLISHED_CSV = Path(__file__).with_name("data") / "published.csv"
COLUMNS = ("model", "device", "target", "precision", "batch_size", "img_s", "gpus", "metric", "software",
           "conditions", "source")


def load_published(path: Path = PUBLISHED_CSV) -> list[PerfRecord]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ContractError(f"{path}: published reference table unreadable ({exc.strerror})") from None
    if rows and set(COLUMNS) - set(rows[0]):
        raise ContractError(f"{path}: columns {sorted(set(COLUMNS) - set(rows[0]))} missing; expected {COLUMNS}")
    return [_record(row, path, n) for n, row in enumerate(rows, start=2)]


def _record(row: dict, path: Path, line: int) -> PerfRecord:
    try:
        img_s = float(row["img_s"])
        batch = int(row["batch_size"]) if row["batch_size"] else None
        gpus = int(row["gpus"] or 1)
    except ValueError:
        raise ContractError(f"{path}:{line}: img_s, batch_size and gpus must be numbers") from None
    if not math.isfinite(img_s) or img_s <= 0 or (batch is not None and batch < 1) or gpus < 1:
        raise ContractError(f"{path}:{line}: img_s must be a finite number above 0 and batch_size and gpus whole "
                            f"numbers of 1 or more, found img_s {row['img_s']!r}, batch_size {row['batch_size']!r}, "
                            f"gpus {row['gpus']!r}; fix the row")
    compute_only = row["metric"] == COMPUTE_ONLY
    return PerfRecord(status=PUBLISHED, origin="published", model=row["model"], target=row["target"],
                      device=row["device"], software=row["software"], precision=row["precision"],
                      batch_size=batch, img_s_compute=img_s if compute_only else None,
                      compute_ms={"mean": 1000.0 * batch / img_s} if batch and compute_only else {},
                      mode=row["metric"], conditions=row["conditions"], source=row["source"], gpus=gpus,
                      reported_img_s=img_s)
