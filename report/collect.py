"""Find result files under the report inputs and turn each into records.

Recognised (recursively): `summary.json` (harness infer), `result.json` (ModelZoo accuracy, beside a
summary.json or alone), `*compare.json` (report.compare), `*.trtexec.log`, ais_bench `*_summary.json`
and `sumary.json`, and `*.log` files holding an ais_bench Performance Summary. External files carry no
model name, chip or precision of their own; a `report-meta.json` in their directory (or above) gives
them: {"model": ..., "device": ..., "precision": ..., "software": ..., "target": ..., "batch_size": ...}.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ContractError, InputError
from harness.files import read_json
from report.external import perf_from_ais_bench, perf_from_trtexec
from report.parsers.ais_bench import PRINTED_MARKERS, parse_printed_summary, parse_summary_json
from report.parsers.trtexec import parse_trtexec_log
from report.records import (AccuracyRecord, ParityRecord, PerfRecord, parity_from_compare, perf_from_summary,
                            read_modelzoo_result, read_summary)

META_FILE = "report-meta.json"
META_KEYS = {"model", "device", "precision", "software", "target", "batch_size"}
COMPARE_KIND = "harness.compare"


@dataclass
class Collected:
    perf: list[PerfRecord] = field(default_factory=list)
    accuracy: list[AccuracyRecord] = field(default_factory=list)
    parity: list[ParityRecord] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    simulated: list[str] = field(default_factory=list)
    calib_sweeps: list[dict] = field(default_factory=list)  # {"model", "rows", "source"}


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
    if not (found.perf or found.accuracy or found.parity or found.calib_sweeps):
        names = ", ".join(str(p) for p in inputs)
        raise InputError(f"{names}: no summary.json, result.json, compare.json, *.trtexec.log or ais_bench "
                         "summary found; pass the directories infer, bench, postprocess or compare wrote")
    return found


def _files_under(root: Path):
    if root.is_file():
        yield root
        return
    for directory, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            yield Path(directory) / name


def _collect_file(path: Path, root: Path, found: Collected) -> None:
    name = path.name
    if name == "summary.json":
        summary = read_summary(path)
        if summary.engine.get("simulated"):  # a simulated runtime: accuracy yes, timings no
            found.simulated.append(str(path))
        else:
            found.perf.append(perf_from_summary(summary, path))
    elif name == "result.json":
        found.accuracy.append(_accuracy(path, root))
    elif name == "calib_sweep.json":
        found.calib_sweeps.append(_calib_sweep(path))
    elif name.endswith("compare.json"):
        found.parity.append(_parity(path))
    elif name.endswith(".trtexec.log"):
        run = parse_trtexec_log(_read_text(path), str(path))
        found.perf.append(perf_from_trtexec(run, path, read_meta(path, root)))
    elif name == "sumary.json" or name.endswith("_summary.json"):
        run = parse_summary_json(read_json(path, "ais_bench summary"), str(path))
        found.perf.append(perf_from_ais_bench(run, path, read_meta(path, root)))
    elif name.endswith(".log"):
        text = _read_text(path)
        if not all(marker in text for marker in PRINTED_MARKERS):
            found.skipped.append(str(path))
            return
        meta = read_meta(path, root)
        found.perf.extend(perf_from_ais_bench(run, path, meta) for run in parse_printed_summary(text, str(path)))
    else:
        return
    found.sources.append(str(path))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: unreadable ({exc.strerror})") from None


def _parity(path: Path) -> ParityRecord:
    data = read_json(path, "compare result")
    if not isinstance(data, dict) or data.get("kind") != COMPARE_KIND:
        raise ContractError(f"{path}: not a report.compare result of a known format (kind "
                            f"{data.get('kind') if isinstance(data, dict) else None!r}); rerun report.compare")
    return parity_from_compare(data, path)


def _accuracy(path: Path, root: Path) -> AccuracyRecord:
    values = read_modelzoo_result(path)
    summary_path = path.with_name("summary.json")
    if summary_path.exists():
        s = read_summary(summary_path)
        device = s.engine.get("device_name") or s.device
        if s.engine.get("simulated"):
            device = f"simulated {s.target} runtime"
        labels = {"model": s.model, "target": s.target, "device": device,
                  "precision": s.precision, "batch_size": s.batch_size}
    else:
        meta = read_meta(path, root)
        labels = {"model": meta.get("model", path.parent.name), "target": meta.get("target", "unknown"),
                  "device": meta.get("device", "unknown"), "precision": meta.get("precision", "unknown"),
                  "batch_size": meta.get("batch_size")}
    return AccuracyRecord(**labels, images=values["images"], top1=values["top1"], top5=values["top5"],
                          source=str(path))


def _calib_sweep(path: Path) -> dict:
    data = read_json(path, "calibration sweep")
    if not isinstance(data, dict) or data.get("kind") != "harness.calib_sweep" or not isinstance(data.get("rows"), list):
        raise InputError(f"{path}: not a calibration sweep of this harness (kind harness.calib_sweep); "
                         "rerun make calib-sweep")
    return {"model": data.get("model", "unknown"), "rows": data["rows"], "source": str(path)}


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
