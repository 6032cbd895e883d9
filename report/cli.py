"""`python -m report --input DIR [DIR...] --output report/out`: the vendor comparison report."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.cli import Parser, main_wrapper
from report.accuracy import NOT_SHOWN
from report.collect import collect
from report.energy import PRICES_CSV, load_prices
from report.published import PUBLISHED_CSV, load_published


@dataclass
class ReportConfig:
    input: list[Path]
    output: Path = Path("report/out")
    published: Path = PUBLISHED_CSV
    prices: Path = PRICES_CSV
    baseline: str | None = None
    include_published: bool = True


def parse_args(argv: Sequence[str]) -> ReportConfig:
    p = Parser(prog="python -m report", description=__doc__)
    p.add_argument("--input", nargs="+", required=True, type=Path,
                   help="directories (searched recursively) or files, recognised by content: infer summaries, "
                        "result.json, compare.json, trtexec logs, ais_bench summaries and logs")
    p.add_argument("--output", type=Path, default=Path("report/out"), help="report directory (default report/out)")
    p.add_argument("--published", type=Path, default=PUBLISHED_CSV, help="published reference rows (CSV)")
    p.add_argument("--prices", type=Path, default=PRICES_CSV,
                   help="price per device-hour and datasheet board power per device (CSV, default "
                        "report/data/prices.csv)")
    p.add_argument("--no-published", dest="include_published", action="store_false",
                   help="leave the published reference rows out")
    p.add_argument("--baseline", help="text matching the series the ratios divide by, e.g. 'T4' or 'H100 fp16'")
    return ReportConfig(**vars(p.parse_args(list(argv))))


def run(config: ReportConfig) -> Path:
    from report.render import write_report  # matplotlib only when a report is made

    found = collect(config.input)
    for reason in found.skipped:
        print(f"report: skipped {reason}", file=sys.stderr)
    for row in found.accuracy:
        if row.labels.startswith(NOT_SHOWN):
            print(f"report: {row.source}: {row.labels}", file=sys.stderr)
    published = load_published(config.published) if config.include_published else []
    path = write_report(found, published, config.output, config.baseline, load_prices(config.prices))
    print(f"report: {path} ({len(found.perf)} measured performance rows, {len(found.accuracy)} accuracy, "
          f"{len(found.parity)} parity, {len(published)} published rows)")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(parse_args, run, argv)
