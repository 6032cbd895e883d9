"""`python -m infer`: ais_bench's flags and meanings, so existing ais_bench command lines run unchanged.

`--model` takes a convert output directory or a bare OM; `--input` a directory, or a comma-separated list of
.bin/.npy files; `--loop N` runs every batch N times (all timed) as ais_bench does; `--dymBatch N` picks the
gear of a dynamic-batch OM. ais_bench flags without a harness equivalent are refused by name
(infer/ais_bench_flags.py). ait and msit benchmark's dash spellings (`--om-model`, `--output-dirname`,
`--batch-size`, `--dym-batch`, `--warmup-count`, `--npu-id`, ...) are taken as the same flags.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from harness.cli import Parser, parse_bool, parse_key_value
from harness.output_formats import FORMATS
from infer.ais_bench_flags import TARGET_OPTION_ARG, take_ais_bench_flags
from infer.devices import DeviceListError, normalised_device


@dataclass
class InferConfig:
    model: Path
    input: str | None = None
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
    ais_bench_flags: dict = field(default_factory=dict)  # e.g. {"--pipeline": "1"}: target options on ascend
    progress: bool = True
    shard: str | None = None  # "i/n": this process takes every n-th batch starting at i (multi-device)
    summary_name: str = ""  # default: <output_dirname>_summary.json beside the result directory
    dym_batch: int = 0
    display_all_summary: bool = False
    io: str = "auto"  # dataset mode: read inputs and write outputs in threads or worker processes
    io_workers: int = 0  # --io processes: how many (0: half the usable cores, 2 to 16)
    accept_preprocess_mismatch: bool = False
    score_calibration_images: bool = False
    force: bool = False  # run again even when the result directory holds a finished run of the same inputs
    start_barrier: str | None = None  # "READY_FD,GO_FD": a --device 0,1 worker waits there before its timed loop


# ait / msit benchmark's spellings of infer's flags. Rewritten before parsing rather than declared as second
# option strings, so that the abbreviations argparse takes (--batch, --warmup) stay unambiguous.
AIT_SPELLINGS = {"--om-model": "--model", "-om": "--model", "--output-dirname": "--output_dirname",
                 "--batch-size": "--batchsize", "--dym-batch": "--dymBatch", "--warmup-count": "--warmup_count",
                 "--display-all-summary": "--display_all_summary"}


def with_ait_spellings(argv: Sequence[str]) -> list[str]:
    """argv with ait/msit benchmark's dash spellings (`--batch-size 4`, `--om-model=x.om`) as infer names them."""
    out = []
    for item in argv:
        name, sep, value = item.partition("=")
        out.append(AIT_SPELLINGS[name] + sep + value if name in AIT_SPELLINGS else item)
    return out


def parse_args(argv: Sequence[str]) -> InferConfig:
    p = Parser(prog="python -m infer", description=__doc__)
    p.add_argument("--model", "-m", "--om", required=True, type=Path,
                   help="convert output directory (with convert.json), the artifact inside it, or a bare .om")
    p.add_argument("--input", "-i",
                   help=".bin/.npy directory or comma-separated files, one sample each; without it: pure "
                        "inference on random data")
    p.add_argument("--output", "-o", type=Path, help="result root; outputs go to <output>/<output_dirname>/")
    p.add_argument("--output_dirname", help="result sub-directory (default: a timestamp)")
    p.add_argument("--outfmt", type=str.upper, choices=tuple(FORMATS), default="BIN")
    p.add_argument("--batchsize", type=int, help="batch size (default: the artifact's)")
    p.add_argument("--loop", "-l", "-r", type=int, default=1,
                   help="executions of each batch, all timed (pure mode: of the one random batch; the minimum "
                        "when --time_limit is set)")
    p.add_argument("--dymBatch", dest="dym_batch", type=int, default=0,
                   help="the gear to run a dynamic-batch OM at (also the batch size)")
    p.add_argument("--warmup_count", type=int, default=1, help="untimed batches first")
    p.add_argument("--device", "-d", default="0", help="device index, or a list '0,1' for one process each")
    p.add_argument("--time_limit", type=float, default=0.0,
                   help="pure mode: keep iterating up to this many seconds until the median is stable")
    p.add_argument("--stable_ci", type=float, default=0.0,
                   help="pure mode with --time_limit: stop once the median's 95%% CI half-width is within this "
                        "fraction")
    p.add_argument("--option", action="append", type=parse_key_value, default=[], metavar="KEY=VALUE",
                   help="target option, e.g. engine=torch")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--display_all_summary", type=parse_bool, default=False)
    p.add_argument("--io", choices=("auto", "threads", "processes"), default="auto",
                   help="dataset mode: read .bin files and write outputs in threads or in worker processes "
                        "(auto: processes on machines with 8 or more cores)")
    p.add_argument("--io_workers", type=int, default=0, metavar="N",
                   help="--io processes: worker processes (default 0: half the usable cores, 2 to 16)")
    p.add_argument("--accept-preprocess-mismatch", action="store_true",
                   help="go on when --input was preprocessed with another recipe than the model's data config; "
                        "the difference is recorded in the run summary")
    p.add_argument("--score-calibration-images", action="store_true",
                   help="keep the images an int8 model was calibrated on among the inputs (they are left out by "
                        "default); the overlap is recorded in the run summary")
    p.add_argument("--force", action="store_true", help="run again even if --output_dirname holds a finished "
                                                        "run of the same inputs and model (else skipped)")
    p.add_argument("--shard", help=argparse_hidden())
    p.add_argument(TARGET_OPTION_ARG, dest="ais_bench_flags", action="append", type=parse_key_value, default=[],
                   help=argparse_hidden())
    p.add_argument("--summary_name", default="", help=argparse_hidden())
    p.add_argument("--start_barrier", type=barrier_fds, help=argparse_hidden())
    args = vars(p.parse_args(take_ais_bench_flags(with_ait_spellings(argv))))
    args["options"] = dict(args.pop("option"))
    args["ais_bench_flags"] = dict(args.pop("ais_bench_flags"))
    problem = numeric_flag_problem(args) or flag_combination_problem(args)
    if problem:
        p.error(problem)
    try:
        args["device"] = normalised_device(args["device"])
    except DeviceListError as exc:
        p.error(str(exc))
    return InferConfig(**args)


MAX_IO_WORKERS = 64  # --io processes: each worker is a spawned interpreter; 16 already saturated a 32-core host


def numeric_flag_problem(args: dict) -> str:
    """What is wrong with the numeric flags, '' when nothing: a NaN, infinite or negative limit would make a
    loop that never stops, or never starts."""
    if args["batchsize"] is not None and args["batchsize"] < 1:
        return "--batchsize must be at least 1"
    if args["loop"] < 1:
        return "--loop must be at least 1"
    if args["dym_batch"] < 0:
        return "--dymBatch must be a positive batch size"
    for flag, key in (("--warmup_count", "warmup_count"), ("--io_workers", "io_workers")):
        if args[key] < 0:
            return f"{flag} must be 0 or more, got {args[key]}"
    if args["io_workers"] > MAX_IO_WORKERS:
        return (f"--io_workers must be at most {MAX_IO_WORKERS}, got {args['io_workers']}: each is a Python process "
                "started before the timed loop (the default, 0, takes half the usable cores, 2 to 16)")
    for flag, key in (("--time_limit", "time_limit"), ("--stable_ci", "stable_ci")):
        if not math.isfinite(args[key]) or args[key] < 0:
            return f"{flag} must be a finite number of 0 or more, got {args[key]}"
    return ""


def flag_combination_problem(args: dict) -> str:
    """What is asked of a loop that would not take it, '' when nothing: the run would not be the measurement its
    command line describes."""
    if args["time_limit"] > 0 and args["input"] is not None:
        return ("--time_limit acts in pure mode only (without --input): a dataset run infers each input once, or "
                "--loop N times; drop --time_limit, or --input to measure on random data")
    if args["stable_ci"] > 0 and args["time_limit"] <= 0:
        fix = ("drop --stable_ci" if args["input"] is not None else
               "add --time_limit SECONDS (the most the loop may run), or drop --stable_ci")
        return (f"--stable_ci acts with --time_limit only: it ends a pure-mode loop that --time_limit lets go on "
                f"once the median is that stable, and without it the loop runs --loop batches; {fix}")
    return ""


def barrier_fds(text: str) -> str:
    """Two inherited pipe descriptors, READY,GO (infer/barrier.py); set by the parent of a --device 0,1 run."""
    import argparse

    fds = text.split(",")
    if len(fds) != 2 or not all(fd.isascii() and fd.isdigit() for fd in fds):
        raise argparse.ArgumentTypeError(f"expected two descriptors READY,GO, got {text!r}")
    return text


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
