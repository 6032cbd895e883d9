"""ais_bench / ais_infer / msit benchmark results for the report, read through report.parsers.ais_bench_files.

What each generation printed or wrote (ref-ascend.md section 6, checked against the tools' summary writers):
- earliest ais_infer (2022): `throughput (1000*batchsize/NPU_compute_time): X`, the batch size not printed;
- ais_infer and ais_bench up to 2023-01: `throughput 1000*batchsize(16)/NPU_compute_time.mean(21.94): 729.26`;
- ais_bench from 2023-01 (and msit benchmark, which prints through it): `1000*batchsize.mean(1)/...`;
- `--pipeline 1 --threads N`: `NPU_compute_time (ms): mean = X`, means only;
- JSON: `sumary.json` inside the result directory (ais_infer 2022: stats without `count`) and
  `<dirname>_summary.json` beside it (ais_bench: `count`, `npu_compute_time_list`, `pid`);
- ait benchmark (2023-05 to 2024) and msit benchmark print and write the 2023-01 forms; their recorded argv
  names the OM `--om-model`/`-om` and the batch `--batch-size`;
- ait benchmark 2023-09-11 to 2023-10-10 with `--pipeline --thread N`: each execution time divided by N, written
  as ordinary statistics (only the argv or the line `run in pipeline mode with N computing threads` shows it):
  refused, since nothing in it was measured per execution; from 2023-10-11 (`--threads`) the means-only form.
The batch is the one ais_bench computed its throughput with: printed in the formula (from 2023-01 the batch
fed, not --batchsize), else the throughput inverted (a dynamic-shape run's mean batch is kept and said); a command
batch size that differs is said in the notes. A multi-device run's `i:N device_D throughput` lines name its
processes' summaries, and its `summary throughput` is theirs alone, never that of runs appended to the same log.
Throughput is ais_bench's own: 1000 * batchsize / mean NPU compute ms, compute-only; a run that timed no
execution (ais_bench then writes mean 0 and throughput 0) is refused. Until 2022-12 ais_infer's
--batchsize defaulted to 1 whatever the OM's batch, so such a run counted one image per batch: the batch then
comes from the OM name (`_bs16`) and the throughput is recomputed, or the row says it could not be checked.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ContractError, InputError
from harness.stats import compute_only_throughput
from report.parsers import ais_bench_args, ais_bench_files

SUMMARY_MARKER = "Performance Summary"
AIS_THROUGHPUT_LINE = re.compile(r"throughput\b[^\n]*NPU_compute_time")  # the harness prints compute_time only
MODEL_SUFFIXES = re.compile(r"(_linux_(x86_64|aarch64))?(\.om)?$", re.IGNORECASE)
BATCH_IN_NAME = re.compile(r"(?:^|[_.-])(?:bs|batch|batchsize)[_-]?(\d+)(?=$|[_.-])", re.IGNORECASE)
COMMAND_BATCH = re.compile(r"\s--batch(?:size|-size)?[= ](\d+)\b")
COMMAND_MODEL = re.compile(r"""\s(?:--model|-m|--om|--om-model|-om)[= ](?:"[^"]*\.om"|'[^']*\.om'|(?:\\\s|\S)+?\.om)"""
                           r"(?=[\s\"']|$)")  # quoted or with escaped spaces too; -m alone is python's
LOADED_MODEL = re.compile(r"load model (.+?\.om) success")  # the runtime prints the path as given, spaces and all
COMMAND_THREADS = re.compile(r"\s--threads?[= ](\d+)\b")
COMMAND_PIPELINE = re.compile(r"\s--pipeline(?:[= ](?!(?:0|false|f|no|n)\b)|$)", re.IGNORECASE | re.MULTILINE)
THREADS_LINE = re.compile(r"run in pipeline mode with (?:(\d+) computing threads|computing threadsnumber:\s*(\d+))")
WORDINGS = (  # (text in the throughput formula, era, tool when the log does not name it)
    ("batchsize.mean(", "2023-01 on", "ais_bench, ait or msit benchmark"),
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
    device_groups: list[DeviceGroup] = field(default_factory=list)  # the multi-device runs among them


@dataclass
class DeviceGroup:
    """One multi-device run of a log: the indices of its processes' runs, and the sum ais_bench printed."""
    runs: list[int]
    total_throughput: float | None  # its `summary throughput`; None where the log ends before it


def is_ais_bench_log(text: str) -> bool:
    return SUMMARY_MARKER in text and AIS_THROUGHPUT_LINE.search(text) is not None


def batch_from_model_name(path: str | None) -> int | None:
    match = BATCH_IN_NAME.search(MODEL_SUFFIXES.sub("", Path(path).name)) if path else None
    return int(match.group(1)) if match else None


@dataclass
class _BlockContext:
    """What a log printed before one Performance Summary about the run behind it."""
    command: str = ""  # the echoed command line, "" when none belongs to this block
    threads_line: int | None = None  # `run in pipeline mode with N computing threads`
    loaded_model: str | None = None  # `load model X.om success`


def parse_printed_summary(text: str, source: str = "ais_bench log") -> AisBenchLog:
    """Every Performance Summary block in a log (one per device process for multi-device runs, one per run
    where several were appended to one file), each read with the command and lines of its own run."""
    try:
        parsed = ais_bench_files.parse_performance_log(text)
    except InputError as exc:
        raise ContractError(f"{source}: {exc}") from None
    contexts = _block_contexts(text, ["device" in block for block in parsed["runs"]])
    one_run = len({context.command for context in contexts}) <= 1  # then a tool named anywhere in it is its own
    runs = []
    for block, context in zip(parsed["runs"], contexts):
        if "compute_ms" not in block or "throughput" not in block:
            raise ContractError(f"{source}: a Performance Summary without NPU_compute_time or throughput line; "
                                "the log is truncated or from an unknown ais_bench version")
        era, tool = _wording(block.get("formula", ""), source)
        named = _tool_named_in(context.command) or (_tool_named_in(text) if one_run else None)
        software = f"{named or tool} ({era} printed summary"
        software += ", --pipeline: means only)" if block.get("pipeline") else ")"
        _check_timed(block["compute_ms"], block["throughput"], source)
        if not block.get("pipeline"):
            _check_not_divided_by_threads(_printed_threads(context), block["throughput"], source)
        command_batch = COMMAND_BATCH.search(context.command)
        run = AisBenchRun(software=software, batch_size=None, throughput=block["throughput"],
                          npu_compute_ms=block["compute_ms"], h2d_ms=block.get("h2d_ms", {}),
                          d2h_ms=block.get("d2h_ms", {}),
                          model_path=ais_bench_args.command_model(context.command) or context.loaded_model,
                          device=block.get("device"))
        printed = block.get("batch_size")
        _resolve_batch(run, printed if printed is not None else _inverted_batch(run),
                       int(command_batch.group(1)) if command_batch else None, era in OLD_ERAS)
        runs.append(run)
    groups = [DeviceGroup(group["runs"], group["total"]) for group in parsed.get("device_groups", [])]
    return AisBenchLog(runs=runs, device_groups=groups)


def _block_contexts(text: str, device_blocks: list[bool]) -> list[_BlockContext]:
    """Each Performance Summary's own command and lines, in order. A threads line belongs to the first summary
    after it not yet given one (the processes of a multi-device run print all theirs before their summaries);
    an echoed command to the first summary after it and to the further ones of its multi-device run (those a
    `device_N throughput` line names), never to a later run appended without one."""
    contexts: list[_BlockContext] = []
    command, loaded, threads = ("", 0), (None, 0), []  # (value, summaries since it was printed)
    for line in joined_continuations(text):
        if SUMMARY_MARKER in line:
            index = len(contexts)
            device = index < len(device_blocks) and device_blocks[index]
            contexts.append(_BlockContext(command[0] if command[1] == 0 or device else "",
                                          threads.pop(0) if threads else None,
                                          loaded[0] if loaded[1] == 0 or device else None))
            command, loaded = (command[0], command[1] + 1), (loaded[0], loaded[1] + 1)
            continue
        if _is_echoed_command(line):  # a new run: what earlier runs printed is theirs
            command, loaded, threads = (line, 0), (None, 0), []
        count = THREADS_LINE.search(line)
        if count:
            threads.append(int(count.group(1) or count.group(2)))
        model = LOADED_MODEL.search(line)
        if model:
            loaded = (model.group(1), 0)
    return contexts


def joined_continuations(text: str) -> list[str]:
    """The log's lines with a command echoed over several (each but the last ending in a backslash) as one."""
    lines: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines + ([pending] if pending else [])


def _is_echoed_command(line: str) -> bool:
    return any(pattern.search(line) for pattern in (COMMAND_MODEL, COMMAND_BATCH, COMMAND_PIPELINE, COMMAND_THREADS))


def _check_timed(compute: dict, throughput: float, source: str) -> None:
    """ais_bench writes mean 0 and throughput 0 (not an error) when it timed no execution; any other throughput
    that is not a positive number was not computed from a timing."""
    mean = compute.get("mean")
    if compute.get("count") == 0 or not (isinstance(mean, float) and math.isfinite(mean) and mean > 0):
        raise ContractError(f"{source}: ais_bench timed no execution (NPU_compute_time mean {mean}, count "
                            f"{compute.get('count', 'not recorded')}; its throughput 0 is a placeholder): an empty "
                            "or failed run; rerun ais_bench, or remove the file from the report input")
    if not (math.isfinite(throughput) and throughput > 0):
        raise ContractError(f"{source}: ais_bench throughput {throughput} with NPU_compute_time mean {mean} ms is "
                            "not a measured figure; the file is damaged or edited: rerun ais_bench, or remove the "
                            "file from the report input")


def _check_not_divided_by_threads(threads: int, throughput: float, source: str) -> None:
    """ait benchmark 2023-09-11 to 2023-10-10 with --pipeline --thread N > 1 divided each execution's duration by N:
    the mean, percentiles and throughput then assume N perfectly overlapping executions, none measured. Later
    versions record the executions' [start, end] intervals (mean only), which is read as --pipeline."""
    if threads > 1:
        raise ContractError(f"{source}: --pipeline with {threads} compute threads, but per-execution statistics: "
                            f"ait benchmark 2023-09-11 to 2023-10-10 divided each execution time by {threads}, so "
                            f"its mean, percentiles and throughput {throughput:.1f} img/s are not measured compute "
                            "times; rerun with --thread 1, or with a later ait or msit benchmark (--threads)")


def _printed_threads(context: _BlockContext) -> int:
    """Compute threads of a block's --pipeline run: its log line, else its echoed command (`--pipeline 1
    --thread 4`)."""
    if context.threads_line is not None:
        return context.threads_line
    threads = COMMAND_THREADS.search(context.command)
    return int(threads.group(1)) if threads and COMMAND_PIPELINE.search(context.command) else 1


def _wording(formula: str, source: str) -> tuple[str, str]:
    for marker, era, tool in WORDINGS:
        if marker in formula:
            return era, tool
    raise ContractError(f"{source}: throughput line 'throughput {formula}' is not a known ais_bench wording "
                        "(batchsize(B), batchsize.mean(B) or (1000*batchsize/NPU_compute_time)); check the log")


def _tool_named_in(text: str) -> str | None:
    for marker, tool in (("msit benchmark", "msit benchmark"), ("ait benchmark", "ait benchmark"),
                         ("ais_infer.py", "ais_infer"),
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
    _check_timed(compute, parsed["throughput"], source)
    args = data.get("args")
    if "compute_intervals" not in parsed and ais_bench_args.pipeline_on(args):
        _check_not_divided_by_threads(ais_bench_args.threads_arg(args), parsed["throughput"], source)
    new = "count" in data["NPU_compute_time"] or "npu_compute_time_list" in data or "pid" in data
    run = AisBenchRun(software=_json_software(args, new, parsed), batch_size=None,
                      throughput=parsed["throughput"], npu_compute_ms=compute, h2d_ms=parsed.get("h2d_ms", {}),
                      d2h_ms=parsed.get("d2h_ms", {}), samples_ms=parsed.get("compute_ms_list", []),
                      model_path=ais_bench_args.model_arg(args))
    if "compute_intervals" in parsed:
        run.notes.append(f"--pipeline: NPU compute mean over {parsed['compute_intervals']} overlapping "
                         "executions (merged intervals); no min/median/p99")
    flag = parsed["batchsize_flag"] or ais_bench_args.flag_value(args, (ais_bench_args.BATCH_FLAG_AIT,), int)
    _resolve_batch(run, parsed["batch_size"], flag, not new)
    return run


def _json_software(args, new: bool, parsed: dict) -> str:
    script = str(args[0]) if isinstance(args, list) and args else ""
    tool = ("ais_infer" if "ais_infer" in script else "msit benchmark" if "msit" in script
            else "ait benchmark" if Path(script).name == "ait" else None)
    if not new:
        return f"{tool or 'ais_infer'} (2022 sumary.json)"
    kind = "--pipeline summary.json" if "compute_intervals" in parsed else "summary.json"
    return f"{tool or 'ais_bench'} ({kind}, 2022-11 on)"


def _resolve_batch(run: AisBenchRun, counted, flag: int | None, old: bool) -> None:
    """The batch behind ais_bench's throughput: the one in its formula (printed, else its throughput inverted),
    which from 2023-01 is the batch fed rather than --batchsize; checked against the OM name where the tool may
    have counted its default of 1."""
    if counted is None:
        counted = flag
    elif flag and flag != counted:
        run.notes.append(f"the command's batch size {flag} is not the batch {counted:g} ais_bench computed its "
                         "throughput with; its throughput is reported for that batch")
    named = batch_from_model_name(run.model_path)
    mean = run.npu_compute_ms.get("mean") or 0.0
    defaulted = old and counted == 1 and not flag  # a --batchsize given by hand is taken as the OM's
    if defaulted and named and named != 1 and mean > 0:
        run.batch_size, run.throughput = named, compute_only_throughput(named, mean)
        run.notes.append(f"ais_infer counted batch 1 (its --batchsize default until 2022-12); batch {named} from "
                         f"the OM name {Path(run.model_path).name}, throughput recomputed as 1000 * {named} / mean")
        return
    if isinstance(counted, float) and not counted.is_integer():
        run.notes.append(f"mean batch {counted:g} (dynamic shapes), listed under batch {round(counted)}")
    run.batch_size = round(counted) if counted else named
    if defaulted and not named:
        run.notes.append("no --batchsize recorded and no batch in the OM name: ais_infer until 2022-12 counted "
                         "batch 1 whatever the OM's batch; check the OM")


def _inverted_batch(run: AisBenchRun) -> int | float | None:
    """ais_bench's own formula inverted (throughput * mean / 1000) for a log whose formula does not print it."""
    return ais_bench_files.formula_batch(run.throughput, run.npu_compute_ms.get("mean"))


def model_name_from_path(path: str | None) -> str | None:
    """`se-resnext_bs16.om` -> `se-resnext`: the OM base name without batch and platform suffixes."""
    if not path:
        return None
    stem = MODEL_SUFFIXES.sub("", Path(path).name)
    return BATCH_IN_NAME.sub("", stem) or None
