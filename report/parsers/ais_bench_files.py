"""Read what ais_bench / ais_infer / msit benchmark wrote on a real Ascend machine into plain dicts (text only).

Summary files (ref-ascend.md section 6.2):
- ais_bench (2022-11 on): `<output>/<dirname>_summary.json`, a sibling of the result directory;
- ais_infer (older): `<output>/<dirname>/sumary.json`, inside it.
Keys: NPU_compute_time / H2D_latency / D2H_latency {min, max, mean, median, percentile(99%), count},
throughput, args (sys.argv), filesinfo, and in newer versions npu_compute_time_list and pid. With
`--pipeline 1 --threads N` ais_bench keeps only {mean, count} (the mean of merged [start, end] intervals)
and npu_compute_time_list holds those [start, end] pairs; its log prints `NPU_compute_time (ms): mean = X`.
The printed Performance Summary (section 6.5) is read from a log file or text.
Timing dicts come back as {min, max, mean, median, p99, count} (whatever of those was written), in ms.
"""
from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from pathlib import Path

from harness.errors import InputError
from harness.output_formats import parse_output_name

BATCH_FLAG, BATCH_FLAG_MIN = "--batchsize", "--bat"  # "--ba" could also be --backend
STAT_KEYS = {"NPU_compute_time": "compute_ms", "H2D_latency": "h2d_ms", "D2H_latency": "d2h_ms"}
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
_STAT_LINE = re.compile(rf"(?P<phase>NPU_compute_time|H2D_latency|D2H_latency)\s*\(ms\):\s*"
                        rf"min\s*=\s*(?P<min>{_NUMBER}),\s*max\s*=\s*(?P<max>{_NUMBER}),\s*"
                        rf"mean\s*=\s*(?P<mean>{_NUMBER}),\s*median\s*=\s*(?P<median>{_NUMBER}),\s*"
                        rf"percentile\((?P<q>\d+)%\)\s*=\s*(?P<pct>{_NUMBER})")
_MEAN_ONLY_LINE = re.compile(rf"(?P<phase>NPU_compute_time|H2D_latency|D2H_latency)\s*\(ms\):\s*"
                             rf"mean\s*=\s*(?P<mean>{_NUMBER})\s*$")
_THROUGHPUT = re.compile(r"throughput\b(?P<formula>.*?):\s*(?P<value>" + _NUMBER + r")\s*$")
_BATCH_IN_FORMULA = re.compile(r"batchsize(?:\.mean)?\((?P<bs>" + _NUMBER + r")\)")
_TOTAL = re.compile(r"summary throughput:\s*(?P<value>" + _NUMBER + ")")
_DEVICE_RUN = re.compile(rf"i:(?P<i>\d+)\s+device_(?P<device>\d+)\s+throughput:(?P<throughput>{_NUMBER})\s+"
                         rf"start_time:(?P<start>{_NUMBER})\s+end_time:(?P<end>{_NUMBER})")


def _stat_dict(raw: dict) -> dict:
    out = {k: float(raw[k]) for k in ("min", "max", "mean", "median") if k in raw}
    for key, value in raw.items():
        # one ais_bench version writes the key as "percentile(99%<spaces>)": compare without spaces
        match = re.fullmatch(r"percentile\((\d+)%\)", re.sub(r"\s+", "", str(key)))
        if match:
            out[f"p{match.group(1)}"] = float(value)
    if "count" in raw:
        out["count"] = int(raw["count"])
    return out


def batch_size_from_args(args) -> int | None:
    """--batchsize from the recorded sys.argv (`--batchsize 16`, `--batchsize=16`, or an abbreviation argparse
    accepts such as `--batch 16`); None when absent."""
    if not isinstance(args, list):
        return None
    for i, arg in enumerate(map(str, args)):
        name, has_value, value = arg.partition("=")
        if not (len(name) >= len(BATCH_FLAG_MIN) and BATCH_FLAG.startswith(name)):
            continue
        if not has_value:
            value = str(args[i + 1]) if i + 1 < len(args) else ""
        try:
            return int(value)
        except ValueError:
            return None
    return None


def parse_summary(data: dict) -> dict:
    """The summary JSON dict into {compute_ms, h2d_ms, d2h_ms, throughput, batch_size, ...}."""
    if not isinstance(data, dict) or "NPU_compute_time" not in data:
        raise InputError("not an ais_bench summary: no NPU_compute_time key")
    out: dict = {name: _stat_dict(data[key]) for key, name in STAT_KEYS.items() if isinstance(data.get(key), dict)}
    out["throughput"] = float(data.get("throughput", 0.0))
    out["batchsize_flag"] = batch_size_from_args(data.get("args"))
    computed = formula_batch(out["throughput"], out.get("compute_ms", {}).get("mean"))
    out["batch_size"] = computed if computed is not None else out["batchsize_flag"]
    times = data.get("npu_compute_time_list")
    if isinstance(times, list) and times and all(isinstance(v, (list, tuple)) for v in times):
        out["compute_intervals"] = len(times)  # --pipeline: overlapping [start, end] pairs, not durations
    elif isinstance(times, list):
        out["compute_ms_list"] = [float(v) for v in times]
    files = data.get("filesinfo") or {}
    out["num_samples"] = len(files)
    out["outfiles"] = sum(len(v.get("outfiles", [])) for v in files.values() if isinstance(v, dict))
    out["args"] = data.get("args")
    if "pid" in data:
        out["pid"] = data["pid"]
    return out


def formula_batch(throughput: float, mean_ms: float | None) -> int | float | None:
    """The batch ais_bench computed its throughput with (1000 * batch / mean, inverted): a whole number when it is
    one to within the precision the two figures were written with, else the mean batch of a dynamic-shape run
    (ais_bench divides by the mean of the batches fed); None for figures no batch of 1 or more gives. From 2023-01
    this is the batch fed, which a --batchsize flag need not be."""
    if not (isinstance(mean_ms, float) and math.isfinite(mean_ms) and mean_ms > 0
            and math.isfinite(throughput) and throughput > 0):
        return None
    value = throughput * mean_ms / 1000.0
    slack = (_half_unit(throughput) * mean_ms + throughput * _half_unit(mean_ms)) / 1000.0 + 1e-9 * value
    whole = round(value)
    if whole >= 1 and abs(value - whole) <= slack:
        return whole
    return value if value >= 1 - slack else None


def _half_unit(number: float) -> float:
    """Half a unit of the last digit a figure was written with (its shortest form round-trips what was written)."""
    return 0.5 * 10.0 ** Decimal(repr(number)).as_tuple().exponent


def find_summary(result_dir: Path) -> tuple[Path, str] | None:
    """(path, layout) of the summary that belongs to a result directory; layout 'sibling' or 'inside'."""
    result_dir = Path(result_dir)
    sibling = result_dir.parent / f"{result_dir.name}_summary.json"
    if sibling.is_file():
        return sibling, "sibling"
    inside = result_dir / "sumary.json"
    if inside.is_file():
        return inside, "inside"
    return None


def read_summary_file(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: ais_bench summary not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    try:
        return parse_summary(data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def parse_performance_log(text: str) -> dict:
    """The Performance Summary block(s) a run printed; the last block wins, all are kept in `runs`. A
    multi-device run's `i:N device_D throughput:T` lines name the summaries its processes printed just before
    them: those blocks get `device`, and `device_groups` lists each such run ({runs: block indices, total:
    its `summary throughput` or None})."""
    runs: list[dict] = []
    device_runs: list[dict] = []
    groups: list[dict] = []
    pending: list[dict] = []  # device lines of the multi-device run being read
    claimed = 0  # blocks before this belong to an earlier multi-device run
    current: dict = {}
    for line in text.splitlines():
        total = _TOTAL.search(line)
        if "Performance Summary" in line or total:
            if pending:
                groups.append(_device_group(runs, claimed, pending, float(total.group("value")) if total else None))
                claimed, pending = len(runs), []
            if total:
                continue
            current = {}
            runs.append(current)
            continue
        stat = _STAT_LINE.search(line)
        if stat:
            phase = STAT_KEYS[stat.group("phase")]
            current[phase] = {k: float(stat.group(k)) for k in ("min", "max", "mean", "median")}
            current[phase][f"p{stat.group('q')}"] = float(stat.group("pct"))
            continue
        mean_only = _MEAN_ONLY_LINE.search(line)
        if mean_only:  # --pipeline --threads N prints means only
            current[STAT_KEYS[mean_only.group("phase")]] = {"mean": float(mean_only.group("mean"))}
            current["pipeline"] = True
            continue
        device_run = _DEVICE_RUN.search(line)
        if device_run:
            device_runs.append({"index": int(device_run.group("i")), "device": int(device_run.group("device")),
                                **{k: float(device_run.group(k)) for k in ("throughput", "start", "end")}})
            pending.append(device_runs[-1])
            continue
        throughput = _THROUGHPUT.search(line)
        if throughput:
            current["throughput"] = float(throughput.group("value"))
            current["formula"] = throughput.group("formula").strip()
            batch = _BATCH_IN_FORMULA.search(throughput.group("formula"))
            if batch:
                size = float(batch.group("bs"))  # a mean over runs in auto dymshape/dymdims modes
                current["batch_size"] = int(size) if size.is_integer() else size
    if pending:
        groups.append(_device_group(runs, claimed, pending, None))
    if not runs or "compute_ms" not in runs[-1]:
        raise InputError("no ais_bench Performance Summary (NPU_compute_time line) in the log; the log is truncated "
                         "or from an unknown ais_bench version")
    result = dict(runs[-1])
    result["runs"] = runs
    total = _TOTAL.findall(text)
    if total:
        result["total_throughput"] = float(total[-1])
    if device_runs:
        result["device_runs"] = device_runs
        result["device_groups"] = groups
    return result


def _device_group(runs: list[dict], claimed: int, lines: list[dict], total: float | None) -> dict:
    """The summaries one multi-device run's device lines name: the last len(lines) blocks before them (each
    process prints its summary, then the parent a line per process and their sum), matched by throughput,
    which both print from the same figure."""
    first = len(runs) - len(lines)
    blocks = list(range(first, len(runs)))
    printed = sorted(line["throughput"] for line in lines)
    if first < claimed or sorted(runs[i].get("throughput", math.nan) for i in blocks) != printed:
        raise InputError(f"{len(lines)} `device_N throughput` lines (throughputs {printed}) do not match the "
                         "Performance Summaries printed before them; the log is interleaved or edited: split it "
                         "into one log per run, or remove it from the report input")
    if total is not None and not math.isclose(total, math.fsum(printed), rel_tol=1e-6):
        raise InputError(f"'summary throughput:{total}' is not the sum {math.fsum(printed)} of the "
                         f"{len(lines)} device throughputs printed before it; the log is edited or damaged: rerun "
                         "ais_bench, or remove the log from the report input")
    free = list(blocks)
    for line in sorted(lines, key=lambda item: item["index"]):
        block = next(i for i in free if runs[i].get("throughput") == line["throughput"])
        runs[block]["device"] = line["device"]
        free.remove(block)
    return {"runs": blocks, "total": total}


def read_log(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"{path}: ais_bench log not found") from None
    try:
        return parse_performance_log(text)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def list_output_files(result_dir: Path) -> dict[str, list[str]]:
    """stem -> output file names (`<stem>_<k>.<fmt>`, k in order); summary and other files are skipped."""
    outputs: dict[str, list[tuple[int, str]]] = {}
    for path in sorted(Path(result_dir).iterdir()):
        parsed = parse_output_name(path.name)
        if parsed and path.is_file():
            outputs.setdefault(parsed[0], []).append((parsed[1], path.name))
    return {stem: [name for _, name in sorted(files)] for stem, files in outputs.items()}


def read_result(result_dir: Path, log: Path | None = None) -> dict:
    """An ais_bench result directory (+ its summary, + optionally the printed log file) as one dict."""
    result_dir = Path(result_dir)
    if not result_dir.is_dir():
        raise InputError(f"{result_dir}: not a directory; pass the ais_bench result directory "
                         "(<output>/<output_dirname>)")
    found = find_summary(result_dir)
    result: dict = {"result_dir": str(result_dir), "outputs": list_output_files(result_dir)}
    if found is not None:
        path, layout = found
        result.update(read_summary_file(path))
        result.update({"summary_file": str(path), "summary_layout": layout})
    if log is not None:
        result["log"] = read_log(Path(log))
        if "batch_size" in result["log"]:  # printed in the throughput formula: the batch it was computed with
            result["batch_size"] = result["log"]["batch_size"]
    if found is None and log is None:
        raise InputError(f"{result_dir}: no {result_dir.name}_summary.json beside it and no sumary.json in it; "
                         "pass the printed log as well")
    return result
