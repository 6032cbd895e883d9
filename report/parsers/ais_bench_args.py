"""The command lines behind ais_bench results: the sys.argv a summary JSON records and the command a log echoed.

Flags of ais_bench and ais_infer (`--model`/`-m`, `--batchsize`), ait/msit benchmark (`--om-model`/`-om`,
`--batch-size`) and of their --pipeline runs (`--pipeline`, `--threads`, ait's `--thread` in 2023-09/10).
"""
from __future__ import annotations

import shlex

MODEL_FLAGS = ("--model", "-m", "--om", "--om-model", "-om")  # ais_bench, ais_infer, ait/msit benchmark
BATCH_FLAG_AIT = "--batch-size"  # ait/msit benchmark; ais_bench's --batchsize is read by ais_bench_files
THREADS_FLAG, THREADS_FLAG_MIN = "--threads", "--thr"  # ait 2023-09-11 to 2023-10-10 spelled it --thread
PIPELINE_FLAG, PIPELINE_OFF = "--pipeline", ("no", "false", "f", "n", "0")


def command_model(command: str) -> str | None:
    """The OM an echoed command names (`--model x.om`, `--model=x.om`, `-om "a b/x.om"`), read as the shell would."""
    try:
        tokens = shlex.split(command)
    except ValueError:  # an unbalanced quote elsewhere in the line
        tokens = command.split()
    for i, token in enumerate(tokens):
        name, has_value, value = token.partition("=")
        if name not in MODEL_FLAGS:
            continue
        value = value if has_value else (tokens[i + 1] if i + 1 < len(tokens) else "")
        if value.endswith(".om"):
            return value
    return None


def threads_arg(args) -> int:
    """--thread / --threads (or an abbreviation argparse accepts) from the recorded sys.argv; 1 when absent."""
    for i, item in enumerate(map(str, args)):
        name, has_value, value = item.partition("=")
        if len(name) >= len(THREADS_FLAG_MIN) and THREADS_FLAG.startswith(name):
            value = value if has_value else (str(args[i + 1]) if i + 1 < len(args) else "")
            return int(value) if value.isdigit() else 1
    return 1


def pipeline_on(args) -> bool:
    """--pipeline took a value (`--pipeline 1`, ait/msit's str2bool) or none (a switch); absent or false: off."""
    if not isinstance(args, list):
        return False
    for i, item in enumerate(map(str, args)):
        name, has_value, value = item.partition("=")
        if name == PIPELINE_FLAG:
            value = value if has_value else (str(args[i + 1]) if i + 1 < len(args) else "")
            return value.lower() not in PIPELINE_OFF
    return False


def model_arg(args) -> str | None:
    """The OM path from the recorded sys.argv (`--model x.om`, `--model=x.om`, `-m`, `--om`, `--om-model`, `-om`)."""
    return flag_value(args, MODEL_FLAGS, str)


def flag_value(args, names: tuple[str, ...], kind):
    """The value of the first of `names` in the recorded sys.argv (`--flag value` or `--flag=value`), else None."""
    if not isinstance(args, list):
        return None
    for i, item in enumerate(map(str, args)):
        for name in names:
            value = str(args[i + 1]) if item == name and i + 1 < len(args) else (
                item[len(name) + 1:] if item.startswith(name + "=") else None)
            if value is not None:
                try:
                    return kind(value)
                except ValueError:
                    return None
    return None
