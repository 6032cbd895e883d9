"""ais_bench / ais_infer / msit benchmark results for the report, read through report.parsers.ais_bench_files.

What each generation printed or wrote (ref-ascend.md section 6, checked against the tools' summary writers):
- earliest ais_infer (2022): `throughput (1000*batchsize/NPU_compute_time): X`, the batch size not printed;
- ais_infer and ais_bench up to 2023-01: `throughput 1000*batchsize(16)/NPU_compute_time.mean(21.94): 729.26`;
- ais_bench from 2023-01 (and msit benchmark, which prints through it): `1000*batchsize.mean(1)/...`;
- `--pipeline 1 --threads N`: `NPU_compute_time (ms): mean = X`, means only;
- JSON: `sumary.json` inside the result directory (ais_infer 2022: stats without `count`) and
  `<dirname>_summary.json` beside it (ais_bench: `count`, `npu_compute_time_list`, `pid`).
Throughput is ais_bench's own: 1000 * batchsize / mean NPU compute ms, compute-only. Until 2022-12 ais_infer's
--batchsize defaulted to 1 whatever the OM's batch, so such a run counted one image per batch: the batch then
comes from the OM name (`_bs16`) and the throughput is recomputed, or the row says it could not be checked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ContractError, InputError
from harness.stats import compute_only_throughput
from report.parsers import ais_bench_files

SUMMARY_MARKER = "Performance Summary"
AIS_THROUGHPUT_LINE = re.compile(r"throughput\b[^\n]*NPU_compute_time")  # the harness prints compute_time only
MODEL_SUFFIXES = re.compile(r"(_linux_(x86_64|aarch64))?(\.om)?$", re.IGNORECASE)
BATCH_IN_NAME = re.compile(r"(?:^|[_.-])(?:bs|batch|batchsize)[_-]?(\d+)(?=$|[_.-])", re.IGNORECASE)
COMMAND_BATCH = re.compile(r"\s--batch(?:size)?[= ](\d+)\b")
COMMAND_MODEL = re.compile(r"\s(?:--model|-m|--om|--om-model)[= ](\S+\.om)\b|load model (\S+\.om) success")
WORDINGS = (  # (text in the throughput formula, era, tool when the log does not name it)
    ("batchsize.mean(", "2023-01 on", "ais_bench or msit benchmark"),
    ("batchsize(", "2022 to 2023-01", "ais_infer or ais_bench"),
    ("1000*batchsize/NPU_compute_time", "earliest 2022", "ais_infer"),
)
OLD_ERAS = ("2022 to 2023-01", "earliest 2022")  # --batchsize may have defaulted to 1


@dataclass
class AisBenchRun:
    software: str  # tool and generation, e.g. "ais_infer or ais_bench (2022 to 2023-01 printed summary)"
    batch_size: int | None
    throughput: float  # img/s, compute-only
    npu_compute_ms: dict  # {min, max, mean, median, p99, count}, whatever the tool wrote
    h2d_ms: dict = field(default_factory=dict)
    d2h_ms: dict = field(default_factory=dict)
    samples_ms: list[float] = field(default_factory=list)
    model_path: str | None = None
    device: int | None = None  # the device id of one process of a multi-device run
    notes: list[str] = field(default_factory=list)


@dataclass
class AisBenchLog:
    runs: list[AisBenchRun]
    total_throughput: float | None = None  # "summary throughput" of a multi-device run


def is_ais_bench_log(text: str) -> bool:
    return SUMMARY_MARKER in text and AIS_THROUGHPUT_LINE.search(text) is not None


def batch_from_model_name(path: str | None) -> int | None:
    match = BATCH_IN_NAME.search(MODEL_SUFFIXES.sub("", Path(path).name)) if path else None
    return int(match.group(1)) if match else None


def parse_printed_summary(text: str, source: str = "ais_bench log") -> AisBenchLog:
    """Every Performance Summary block in a log (one per device process for multi-device runs)."""
    try:
        parsed = ais_bench_files.parse_performance_log(text)
    except InputError as exc:
        raise ContractError(f"{source}: {exc}; the log is truncated or from an unknown ais_bench version") from None
    command_batch = COMMAND_BATCH.search(text)
    model = COMMAND_MODEL.search(text)
    model_path = (model.group(1) or model.group(2)) if model else None
    devices = {d["throughput"]: d["device"] for d in parsed.get("device_runs", [])}
    explicit = int(command_batch.group(1)) if command_batch else None
    runs = []
    for block in parsed["runs"]:
        if "compute_ms" not in block or "throughput" not in block:
            raise ContractError(f"{source}: a Performance Summary without NPU_compute_time or throughput line; "
                                "the log is truncated or from an unknown ais_bench version")
        era, tool = _wording(block.get("formula", ""), source)
        software = f"{_tool_named_in(text) or tool} ({era} printed summary"
        software += ", --pipeline: means only)" if block.get("pipeline") else ")"
        run = AisBenchRun(software=software, batch_size=None, throughput=block["throughput"],
                          npu_compute_ms=block["compute_ms"], h2d_ms=block.get("h2d_ms", {}),
                          d2h_ms=block.get("d2h_ms", {}), model_path=model_path,
                          device=devices.get(block["throughput"]))
        _resolve_batch(run, block.get("batch_size"), explicit, era in OLD_ERAS)
        runs.append(run)
    return AisBenchLog(runs=runs, total_throughput=parsed.get("total_throughput") if len(runs) > 1 else None)


def _wording(formula: str, source: str) -> tuple[str, str]:
    for marker, era, tool in WORDINGS:
        if marker in formula:
            return era, tool
    raise ContractError(f"{source}: throughput line 'throughput {formula}' is not a known ais_bench wording "
                        "(batchsize(B), batchsize.mean(B) or (1000*batchsize/NPU_compute_time)); check the log")


def _tool_named_in(text: str) -> str | None:
    for marker, tool in (("msit benchmark", "msit benchmark"), ("ais_infer.py", "ais_infer"),
                         ("-m ais_bench", "ais_bench"), ("ais_bench/__main__.py", "ais_bench")):
        if marker in text:
            return tool
    return None


def parse_summary_json(data, source: str = "ais_bench summary") -> AisBenchRun:
    if not isinstance(data, dict) or "NPU_compute_time" not in data or "throughput" not in data:
        raise ContractError(f"{source}: not an ais_bench summary of a known version (no 'NPU_compute_time' and "
                            "'throughput' keys); remove it from the report input or rename it")
    try:
        parsed = ais_bench_files.parse_summary(data)
    except (InputError, TypeError, ValueError) as exc:
        raise ContractError(f"{source}: ais_bench summary of an unknown layout ({exc})") from None
    compute = parsed.get("compute_ms") or {}
    if "mean" not in compute:
        raise ContractError(f"{source}: NPU_compute_time has no 'mean'; not an ais_bench summary of a known version")
    args = data.get("args")
    new = "count" in data["NPU_compute_time"] or "npu_compute_time_list" in data or "pid" in data
    run = AisBenchRun(software=_json_software(args, new, parsed), batch_size=None,
                      throughput=parsed["throughput"], npu_compute_ms=compute, h2d_ms=parsed.get("h2d_ms", {}),
                      d2h_ms=parsed.get("d2h_ms", {}), samples_ms=parsed.get("compute_ms_list", []),
                      model_path=_model_arg(args))
    if "compute_intervals" in parsed:
        run.notes.append(f"--pipeline: NPU compute mean over {parsed['compute_intervals']} overlapping "
                         "executions (merged intervals); no min/median/p99")
    _resolve_batch(run, None, parsed.get("batch_size"), not new)
    return run


def _json_software(args, new: bool, parsed: dict) -> str:
    script = str(args[0]) if isinstance(args, list) and args else ""
    tool = "ais_infer" if "ais_infer" in script else "msit benchmark" if "msit" in script else None
    if not new:
        return f"{tool or 'ais_infer'} (2022 sumary.json)"
    kind = "--pipeline summary.json" if "compute_intervals" in parsed else "summary.json"
    return f"{tool or 'ais_bench'} ({kind}, 2022-11 on)"


def _resolve_batch(run: AisBenchRun, printed, explicit: int | None, old: bool) -> None:
    """The batch behind ais_bench's throughput: --batchsize when recorded, else what the tool counted, checked
    against the OM name where the tool may have counted its default of 1."""
    if explicit:
        run.batch_size = explicit
        return
    counted = printed if printed is not None else _inverted_batch(run)
    named = batch_from_model_name(run.model_path)
    mean = run.npu_compute_ms.get("mean") or 0.0
    if old and counted == 1 and named and named != 1 and mean > 0:
        run.batch_size, run.throughput = named, compute_only_throughput(named, mean)
        run.notes.append(f"ais_infer counted batch 1 (its --batchsize default until 2022-12); batch {named} from "
                         f"the OM name {Path(run.model_path).name}, throughput recomputed as 1000 * {named} / mean")
        return
    if isinstance(counted, float) and not counted.is_integer():
        run.notes.append(f"mean batch {counted:g} (dynamic shapes)")
    run.batch_size = round(counted) if counted else named
    if old and counted == 1 and not named:
        run.notes.append("no --batchsize recorded and no batch in the OM name: ais_infer until 2022-12 counted "
                         "batch 1 whatever the OM's batch; check the OM")


def _inverted_batch(run: AisBenchRun) -> int | None:
    """ais_bench's own formula inverted: throughput * mean / 1000, when that is a whole number."""
    mean = run.npu_compute_ms.get("mean") or 0.0
    value = run.throughput * mean / 1000.0
    return round(value) if mean > 0 and round(value) >= 1 and abs(value - round(value)) < 0.01 * value else None


def _model_arg(args) -> str | None:
    """The OM path from the recorded sys.argv (`--model x.om`, `--model=x.om`, `-m`, `--om`)."""
    if not isinstance(args, list):
        return None
    for i, item in enumerate(map(str, args)):
        for name in ("--model", "-m", "--om"):
            if item == name and i + 1 < len(args):
                return str(args[i + 1])
            if item.startswith(name + "="):
                return item[len(name) + 1:]
    return None


def model_name_from_path(path: str | None) -> str | None:
    """`se-resnext_bs16.om` -> `se-resnext`: the OM base name without batch and platform suffixes."""
    if not path:
        return None
    stem = MODEL_SUFFIXES.sub("", Path(path).name)
    return BATCH_IN_NAME.sub("", stem) or None
