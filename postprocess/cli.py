"""`python -m postprocess --result DIR --labels val_label.txt [--classes classes.txt] [--output result.json]`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.cli import Parser


@dataclass
class PostprocessConfig:
    result: Path
    labels: Path
    output: Path | None = None
    details: Path | None = None
    classes: Path | None = None
    topk: int = 5


def parse_args(argv: Sequence[str]) -> PostprocessConfig:
    p = Parser(prog="python -m postprocess", description=__doc__)
    p.add_argument("--result", "-r", required=True, type=Path, help="infer result directory (<stem>_0.txt ...)")
    p.add_argument("--labels", "-l", required=True, type=Path, help="val_label.txt: '<file name> <class index>'")
    p.add_argument("--output", "-o", type=Path, help="result.json path (default: <result>/result.json)")
    p.add_argument("--details", type=Path, help="details JSON path (default: beside result.json)")
    p.add_argument("--classes", type=Path, help="classes.txt: '<index> <wnid> <name>' for readable names")
    p.add_argument("--topk", type=int, default=5, choices=range(1, 11), metavar="K")
    return PostprocessConfig(**vars(p.parse_args(list(argv))))
