"""`python -m fleet --matrix FILE --work DIR`: run every cell of a model x target x precision x batch matrix on
the Ray cluster at RAY_ADDRESS (or on a Ray started on this machine), then one report over all of them in
WORK/fleet/report. See docs/fleet.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from fleet.driver import FleetConfig, run
from harness.cli import Parser, main_wrapper


def parse_args(argv: Sequence[str]) -> FleetConfig:
    p = Parser(prog="python -m fleet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--matrix", required=True, type=Path, help="matrix file, YAML or JSON (docs/fleet.md)")
    p.add_argument("--work", type=Path, default=Path("work"), help="results go to WORK/fleet/<cell>/ (default work)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/harness-fleet"),
                   help="node-local cache of each node: data sets, preprocessed inputs, models (default "
                        "/tmp/harness-fleet)")
    p.add_argument("--max-retries", type=int, default=2, help="runs of a cell again after its node died (default 2)")
    p.add_argument("--unplaceable-after", dest="unplaceable_after_s", type=float, default=30.0,
                   help="seconds a cell may wait with no live node that has its hardware before it is recorded as "
                        "failed (default 30)")
    p.add_argument("--no-report", dest="report", action="store_false", help="leave out the report at the end")
    return FleetConfig(**vars(p.parse_args(list(argv))))


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(parse_args, run, argv)
