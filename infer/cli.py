"""`python -m infer`: flag names follow ais_bench so existing command lines keep working."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from harness.cli import Parser, parse_bool


@dataclass
class InferConfig:
    model: Path
    input: Path | None = None
    output: Path | None = None
    output_dirname: str | None = None
    outfmt: str = "BIN"
    batchsize: int | None = None
    loop: int = 1
    warmup_count: int = 1
    device: str = "0"
    time_limit: float = 0.0
    stable_ci: float = 0.0
    options: dict = field(default_factory=dict)
    progress: bool = True
    shard: str | None = None  # "i/n": this process takes every n-th batch starting at i (multi-device)
    summary_name: str = "summary.json"
    display_all_summary: bool = False
    io: str = "auto"  # dataset mode: read inputs and write outputs in threads or worker processes
    force: bool = False  # run again even when the result directory holds a finished run of the same inputs


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(text)
    return key, value


def parse_args(argv: Sequence[str]) -> InferConfig:
    p = Parser(prog="python -m infer", description=__doc__)
    p.add_argument("--model", "-m", required=True, type=Path,
                   help="convert output directory (with convert.json) or the artifact inside it")
    p.add_argument("--input", "-i", type=Path, help=".bin directory; without it: pure inference on random data")
    p.add_argument("--output", "-o", type=Path, help="result root; outputs go to <output>/<output_dirname>/")
    p.add_argument("--output_dirname", help="result sub-directory (default: a timestamp)")
    p.add_argument("--outfmt", type=str.upper, choices=("TXT", "NPY", "BIN"), default="BIN")
    p.add_argument("--batchsize", type=int, help="batch size (default: the artifact's)")
    p.add_argument("--loop", "-l", type=int, default=1,
                   help="pure mode: timed batches (the minimum when --time_limit is set)")
    p.add_argument("--warmup_count", type=int, default=1, help="untimed batches first")
    p.add_argument("--device", "-d", default="0", help="device index, or a list '0,1' for one process each")
    p.add_argument("--time_limit", type=float, default=0.0,
                   help="pure mode: keep iterating up to this many seconds until the median is stable")
    p.add_argument("--stable_ci", type=float, default=0.0,
                   help="pure mode: stop once the median's 95%% CI half-width is within this fraction")
    p.add_argument("--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="target option, e.g. engine=torch")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--display_all_summary", type=parse_bool, default=False)
    p.add_argument("--io", choices=("auto", "threads", "processes"), default="auto",
                   help="dataset mode: read .bin files and write outputs in threads or in worker processes "
                        "(auto: processes on machines with 8 or more cores)")
    p.add_argument("--force", action="store_true", help="run again even if --output_dirname holds a finished "
                                                        "run of the same inputs and model (else skipped)")
    p.add_argument("--shard", help=argparse_hidden())
    p.add_argument("--summary_name", default="summary.json", help=argparse_hidden())
    args = vars(p.parse_args(list(argv)))
    args["options"] = dict(args.pop("option"))
    if args["batchsize"] is not None and args["batchsize"] < 1:
        p.error("--batchsize must be at least 1")
    if args["loop"] < 1:
        p.error("--loop must be at least 1")
    return InferConfig(**args)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
