"""Find result files under the report inputs by what they hold, whatever their names, and turn each into records.

Recognised (recursively, passing over directories whose name starts with '.'): JSON holding a harness infer
summary (kind harness.infer, as `summary.json` inside the result directory or `<dirname>_summary.json` beside it),
a ModelZoo result.json, a report.compare result, a calibration sweep or an ais_bench / ais_infer summary
(NPU_compute_time, `*_summary.json` or `sumary.json`); text holding a trtexec performance summary
(`*.trtexec.log`, `trtexec.log`, `result-FP32.txt`, ...) or an ais_bench / ais_infer / msit printed Performance
Summary. Binary files and the numeric TXT outputs of a run are
passed over. A file that is unreadable, of an unknown version or whose batch size cannot be known is skipped with
its reason and the report is made from the rest. External files carry no model name, chip or precision of their
own; a `report-meta.json` in their directory (or above) gives them: {"model": ..., "device": ..., "precision":
..., "software": ..., "target": ..., "batch_size": ...}.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.contracts import InferSummary, OutOfMemoryRecord, merged_summary_of_part
from harness.errors import ContractError, HarnessError, InputError
from harness.files import read_json, sha256_file
from report.accuracy import accuracy_record, run_summary_path_of
from report.external import perf_from_ais_bench, perf_from_ais_bench_log, perf_from_trtexec
from report.parsers.ais_bench import is_ais_bench_log, parse_printed_summary, parse_summary_json
from report.parsers.trtexec import SUMMARY_HEADER, parse_trtexec_log
from report.records import (AccuracyRecord, ParityRecord, PerfRecord, parity_from_compare, perf_from_summary,
                            read_summary, summary_from_dict)
from tasks.classification.record import MODELZOO_TITLE

META_FILE = "report-meta.json"
META_KEYS = {"model", "device", "precision", "software", "target", "batch_size"}
COMPARE_KIND = "harness.compare"
CALIB_KIND = "harness.calib_sweep"
HEAD_BYTES = 4096
NUMERIC_TEXT = re.compile(rb"[\s0-9eE+\-.,naifNAIF\[\]]*")  # the TXT outputs of a run
PRINTED_SUMMARY_LINE = re.compile(r"-{5,}Performance Summary-{5,}|NPU_compute_time \(ms\):")
TRTEXEC_BANNER = "&&&& RUNNING TensorRT.trtexec"
SKIPPED_SUFFIXES = {".npy", ".bin", ".om", ".onnx", ".engine", ".plan", ".png", ".jpg", ".jpeg", ".pt", ".pth"}
DEVICE_SUMMARY = re.compile(r"^device(\d+)_\d+_summary\.json$")  # one process of a multi-device ais_bench run
RESULT_LIKE_NAME = re.compile(r"summary|sumary|result|compare", re.IGNORECASE)


@dataclass
class Collected:
    perf: list[PerfRecord] = field(default_factory=list)
    accuracy: list[AccuracyRecord] = field(default_factory=list)
    parity: list[ParityRecord] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<path>: why"
    simulated: list[str] = field(default_factory=list)
    calib_sweeps: list[dict] = field(default_factory=list)  # {"model", "rows", "source"}
    out_of_memory: list[dict] = field(default_factory=list)  # runs whose batch did not fit, as infer recorded
    idle_checks: list[dict] = field(default_factory=list)  # the device check before each harness run
    device_parts: list[str] = field(default_factory=list)  # "<part>: shown within <merged summary>"
    duplicates: list[str] = field(default_factory=list)  # "<copy>: the same run (or scoring) as <first>"
    runs_seen: dict[str, str] = field(default_factory=dict, repr=False)  # a run's or scoring's content -> first path
    errors: list[HarnessError] = field(default_factory=list)  # why each skipped file was skipped


def collect(inputs: list[Path]) -> Collected:
    found, seen = Collected(), set()
    for root in inputs:
        root = Path(root)
        if not root.exists():
            raise InputError(f"{root}: report input not found; pass infer/bench result directories with --input")
        for path in _files_under(root):
            if path.resolve() not in seen:  # overlapping inputs (work and work/results) count a file once
                seen.add(path.resolve())
                _collect_file(path, root, found)
    if not (found.perf or found.accuracy or found.parity or found.calib_sweeps or found.out_of_memory):
        if found.errors:
            first = found.errors[0]
            more = f" ({len(found.errors) - 1} more file(s) skipped)" if len(found.errors) > 1 else ""
            raise type(first)(f"{first}{more}")
        names = ", ".join(str(p) for p in inputs)
        raise InputError(f"{names}: no summary.json, result.json, compare.json, trtexec log or ais_bench output "
                         "found; pass the directories infer, bench, postprocess or compare wrote")
    return found


def _files_under(root: Path):
    if root.is_file():
        yield root
        return
    for directory, subdirs, names in os.walk(root):
        # a hidden directory holds no result of its own: an attempt being stored beside its cell (.<cell>.new)
        subdirs[:] = sorted(name for name in subdirs if not name.startswith("."))
        for name in sorted(names):
            yield Path(directory) / name


def _collect_file(path: Path, root: Path, found: Collected) -> None:
    try:
        if path.exists() and not path.is_file():  # reading a named pipe would wait for a writer forever
            raise InputError(f"{path}: not a regular file (a named pipe, socket or device); passed over")
        sniffed = _sniff(path)
        if sniffed is None:
            return
        kind, content = sniffed
        HANDLERS[kind](path, root, content, found)
    except HarnessError as exc:
        found.skipped.append(str(exc))
        found.errors.append(exc)
        return
    found.sources.append(str(path))


def _sniff(path: Path) -> tuple[str, object] | None:
    """(kind, parsed JSON or text) of a result file, None for a file that is not one."""
    if path.suffix.lower() in SKIPPED_SUFFIXES:  # model files and the binary outputs of a run
        return None
    head = _read_head(path)
    if b"\0" in head or NUMERIC_TEXT.fullmatch(head):
        return None
    if head.lstrip().startswith(b"{") or path.suffix.lower() == ".json":
        return _sniff_json(path)
    text = _read_text(path)
    if SUMMARY_HEADER in text:
        return "trtexec", text
    if is_ais_bench_log(text):
        return "ais_bench_log", text
    reason = _why_not_a_result(path, text)
    if reason:
        raise ContractError(f"{path}: {reason}")
    return None


def _sniff_json(path: Path) -> tuple[str, object] | None:
    data = read_json(path, "JSON file")
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(data, dict) or path.name == META_FILE:
        return None
    if kind in JSON_KINDS:
        return JSON_KINDS[kind], data
    if data.get("title") == MODELZOO_TITLE:
        return "accuracy", data
    if "NPU_compute_time" in data:
        return "ais_bench_json", data
    if str(kind).startswith("harness.") or not RESULT_LIKE_NAME.search(path.name):
        return None  # the other stages' sidecars, unrelated JSON
    raise ContractError(f"{path}: JSON of an unknown format (kind {kind!r}); expected a harness infer summary "
                        f"(kind {InferSummary.KIND!r}) or an ais_bench summary (NPU_compute_time); remove the file "
                        "or pass result directories only")


def _why_not_a_result(path: Path, text: str) -> str | None:
    printed_summary = PRINTED_SUMMARY_LINE.search(text)
    if printed_summary and "compute_time.mean(" in text:
        return "a harness infer log; its summary JSON holds these figures"
    if TRTEXEC_BANNER in text:
        return (f"a trtexec log without '{SUMMARY_HEADER}' (a build-only or truncated run); rerun trtexec "
                "with inference and keep its whole output")
    if printed_summary:
        return ("no complete ais_bench Performance Summary (NPU_compute_time and throughput lines); the log is "
                "truncated or of an unknown ais_bench version")
    if path.suffix.lower() == ".log":
        return "no trtexec or ais_bench performance summary in this log"
    return None


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: unreadable ({exc.strerror})") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: unreadable ({exc.strerror})") from None


def _harness_summary(path: Path, root: Path, data: dict, found: Collected) -> None:
    summary = summary_from_dict(data, path)
    first = found.runs_seen.setdefault(json.dumps(data, sort_keys=True), str(path))
    if first != str(path):  # a copy of a run (cp -r, a fleet's store beside the work directory) counts once
        found.duplicates.append(f"{path}: the same run as {first} (identical summary); counted once")
        return
    idle = summary.device_idle
    if idle is not None:
        part = f", device {summary.device}" if merged_summary_of_part(path) else ""  # merged runs record none
        found.idle_checks.append({"run": f"{summary.model} on {summary.target}, {summary.precision}, batch "
                                          f"{summary.batch_size}{part}", "idle": idle.get("idle"),
                                  "busy": idle.get("busy") or [], "method": idle.get("method"), "source": str(path)})
    merged = _merged_run_of(path, summary)
    if merged is not None:  # one device's figures of a run over several: its merged summary shows them
        found.device_parts.append(f"{path}: device {summary.device} of the run over devices "
                                  f"{merged.device} in {merged_summary_of_part(path)}")
    elif summary.simulated:  # a simulated runtime: accuracy yes, timings no
        found.simulated.append(str(path))
    else:
        record = perf_from_summary(summary, path)
        merged_path = merged_summary_of_part(path)
        if merged_path is not None:
            record.conditions = ", ".join(filter(None, [
                f"one device's part of a run over several devices, which ran beside it (no readable merged "
                f"summary {merged_path.name} of it here)", record.conditions]))
        found.perf.append(record)


def _merged_run_of(path: Path, summary: InferSummary) -> InferSummary | None:
    """The merged summary of the run over several devices that `path` is one device's part of (infer/multi.py
    writes `<dirname>_summary.device<d>.json` beside `<dirname>_summary.json`); None for a run of its own, or a
    part whose merged summary is absent or names other devices (then the part is shown as its own run)."""
    merged_path = merged_summary_of_part(path)
    try:
        merged = read_summary(merged_path) if merged_path is not None and merged_path.is_file() else None
    except HarnessError:
        return None  # the merged summary is skipped with its own reason
    if merged is None or str(summary.device) not in str(merged.device).split(",") or merged.model != summary.model \
            or merged.batch_size != summary.batch_size:
        return None
    return merged


def _ais_bench_json(path: Path, root: Path, data: dict, found: Collected) -> None:
    run = parse_summary_json(data, str(path))
    device = DEVICE_SUMMARY.match(path.name)
    run.device = int(device.group(1)) if device else None
    found.perf.append(perf_from_ais_bench(run, path, read_meta(path, root)))


def _trtexec_log(path: Path, root: Path, text: str, found: Collected) -> None:
    run = parse_trtexec_log(text, str(path))
    found.perf.append(perf_from_trtexec(run, path, read_meta(path, root)))


def _ais_bench_log(path: Path, root: Path, text: str, found: Collected) -> None:
    log = parse_printed_summary(text, str(path))
    found.perf.extend(perf_from_ais_bench_log(log, path, read_meta(path, root)))


def _parity(path: Path, root: Path, data: dict, found: Collected) -> None:
    found.parity.append(parity_from_compare(data, path))


def _accuracy(path: Path, root: Path, data: dict, found: Collected) -> None:
    record = accuracy_record(path, lambda: read_meta(path, root))
    summary = run_summary_path_of(path)
    row = {k: v for k, v in asdict(record).items() if k != "source"}
    identity = json.dumps({"row": row, "result": data, "run": _content_hash(summary)}, sort_keys=True)
    first = found.runs_seen.setdefault(identity, str(path))
    if first != str(path):  # the same scoring of the same run, copied
        found.duplicates.append(f"{path}: the same scoring of the same run as {first}; counted once")
        return
    found.accuracy.append(record)


def _content_hash(path: Path | None) -> str | None:
    try:
        return sha256_file(path) if path is not None else None
    except OSError:
        return None  # the row already says its run summary cannot be read


def _calib_sweep(path: Path, root: Path, data: dict, found: Collected) -> None:
    if not isinstance(data.get("rows"), list):
        raise InputError(f"{path}: not a calibration sweep of this harness (kind {CALIB_KIND}, a 'rows' list); "
                         "rerun make calib-sweep")
    found.calib_sweeps.append({"model": data.get("model", "unknown"), "rows": data["rows"], "source": str(path)})


def _out_of_memory(path: Path, root: Path, data: dict, found: Collected) -> None:
    record = OutOfMemoryRecord.from_dict(data, str(path))
    found.out_of_memory.append({"model": record.model, "target": record.target, "precision": record.precision,
                                "device": record.device, "batch_size": record.batch_size,
                                "needed_bytes": record.needed_bytes, "available_bytes": record.available_bytes,
                                "message": record.message, "source": str(path)})


JSON_KINDS = {InferSummary.KIND: "harness_summary", COMPARE_KIND: "parity", CALIB_KIND: "calib_sweep",
              OutOfMemoryRecord.KIND: "out_of_memory"}
HANDLERS = {"out_of_memory": _out_of_memory, "harness_summary": _harness_summary, "ais_bench_json": _ais_bench_json, "trtexec": _trtexec_log,
            "ais_bench_log": _ais_bench_log, "parity": _parity, "accuracy": _accuracy, "calib_sweep": _calib_sweep}


def read_meta(path: Path, root: Path) -> dict:
    """The nearest report-meta.json from the file's directory up to the input root, or {}."""
    stop = root if root.is_dir() else root.parent
    directory = path.parent
    while True:
        candidate = directory / META_FILE
        if candidate.exists():
            meta = read_json(candidate, "report metadata")
            unknown = set(meta) - META_KEYS if isinstance(meta, dict) else {"(not an object)"}
            if unknown:
                raise InputError(f"{candidate}: unknown keys {sorted(unknown)}; allowed: {sorted(META_KEYS)}")
            return meta
        if directory == stop or directory.parent == directory:
            return {}
        directory = directory.parent
