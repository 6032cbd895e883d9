"""Turn trtexec and ais_bench runs into performance records, labelled from report-meta.json when given."""
from __future__ import annotations

import re
from pathlib import Path

from harness.errors import ContractError
from harness.stats import compute_only_throughput
from report.parsers.ais_bench import AisBenchLog, AisBenchRun, DeviceGroup, model_name_from_path
from report.parsers.trtexec import TrtexecRun
from report.records import MEASURED, PerfRecord, combined_devices

ARTIFACT_SUFFIXES = re.compile(r"([._-]sim)?\.(onnx|engine|plan|trt)$", re.IGNORECASE)
ASCEND_DEVICE = "Ascend NPU (chip not recorded by ais_bench)"
ADD_BATCH = "add {\"batch_size\": N} to a report-meta.json beside it (or in a folder above)"


def _model_from(path_text: str | None, fallback: Path) -> str:
    """The model name from an artifact path, else from the file (or, for a summary JSON, its run directory)."""
    name = Path(path_text).name if path_text else _run_name(fallback)
    name = ARTIFACT_SUFFIXES.sub("", name)
    name = re.sub(r"[_-](fp32|fp16|bf16|int8|fp8)$", "", name, flags=re.IGNORECASE)
    return re.sub(r"[_-]bs\d+$", "", name) or fallback.stem


def _run_name(path: Path) -> str:
    if path.name in ("sumary.json", "summary.json"):
        return path.parent.name
    if path.name.endswith("_summary.json"):
        return path.name[:-len("_summary.json")]
    return path.name.split(".")[0]


def perf_from_trtexec(run: TrtexecRun, path: Path, meta: dict) -> PerfRecord:
    batch = meta.get("batch_size") or run.batch_size
    if not batch:
        raise ContractError(f"{path}: the trtexec log does not show the batch size (no input binding, 'Input "
                            f"inference shape', --shapes or --batch line); {ADD_BATCH}")
    compute = dict(run.metrics["GPU Compute Time"])  # per query: one execution of the whole batch
    walltime_img_s = run.throughput_qps if run.implicit_batch else run.throughput_qps * batch
    notes = [] if meta.get("batch_size") else [run.batch_evidence]
    notes += [run.precision_evidence] if run.precision_evidence and not meta.get("precision") else []
    if not run.transfers_included:
        notes.append(f"trtexec Throughput without data transfers: {walltime_img_s:.1f} img/s")
    conditions = "; ".join(filter(None, [run.conditions()] + notes))
    return PerfRecord(
        status=MEASURED, origin="trtexec", model=meta.get("model") or _model_from(run.model_path, path),
        target=meta.get("target", "nvidia"), device=meta.get("device") or run.device or "NVIDIA GPU (not in log)",
        software=meta.get("software") or run.software,
        precision=meta.get("precision") or run.precision or "unknown", batch_size=int(batch),
        img_s_compute=compute_only_throughput(int(batch), compute["mean"]),
        img_s_e2e=walltime_img_s if run.transfers_included else None,
        compute_ms=compute, mode="trtexec", conditions=conditions, source=str(path))


def perf_from_ais_bench(run: AisBenchRun, path: Path, meta: dict) -> PerfRecord:
    batch = meta.get("batch_size") or run.batch_size
    if not batch:
        raise ContractError(f"{path}: the ais_bench output does not show the batch size (no --batchsize, no batch "
                            f"in the throughput formula or the OM name); {ADD_BATCH}")
    compute = dict(run.npu_compute_ms)
    if run.samples_ms and "count" not in compute:
        compute["count"] = len(run.samples_ms)
    img_s = run.throughput
    if meta.get("batch_size") and run.batch_size != meta["batch_size"] and compute.get("mean"):
        img_s = compute_only_throughput(int(batch), compute["mean"])  # the tool counted another batch
    model = meta.get("model") or model_name_from_path(run.model_path) or _model_from(None, path)
    notes = list(run.notes)
    for label, stats in (("H2D", run.h2d_ms), ("D2H", run.d2h_ms)):
        if stats.get("mean") is not None and stats.get("count") != 0:  # count 0: nothing timed, its mean is 0
            notes.append(f"{label} mean {stats['mean']:.3f} ms (excluded)")
    return PerfRecord(
        status=MEASURED, origin="ais_bench", model=model, target=meta.get("target", "ascend"),
        device=_ascend_device(meta, run.device), software=meta.get("software") or run.software,
        precision=meta.get("precision") or "unknown", batch_size=int(batch), img_s_compute=img_s,
        compute_ms=compute, samples_ms=list(run.samples_ms), mode="ais_bench", conditions="; ".join(notes),
        source=str(path))


def perf_from_ais_bench_log(log: AisBenchLog, path: Path, meta: dict) -> list[PerfRecord]:
    """A row per device process and, for each multi-device run, the combined throughput ais_bench printed for
    the processes its device lines name (never runs appended to the same log)."""
    records = [perf_from_ais_bench(run, path, meta) for run in log.runs]
    for group in log.device_groups:
        if group.total_throughput is not None and len(group.runs) > 1:
            records.append(_combined(group, [log.runs[i] for i in group.runs], [records[i] for i in group.runs],
                                     path, meta))
    return records


def _combined(group: DeviceGroup, runs: list[AisBenchRun], records: list[PerfRecord], path: Path,
              meta: dict) -> PerfRecord:
    total = group.total_throughput
    if any(record.img_s_compute != run.throughput for record, run in zip(records, runs)):
        total = sum(record.img_s_compute for record in records)  # a device's throughput was recomputed for its batch
    first = records[0]
    devices = ",".join(str(run.device) for run in runs)
    return PerfRecord(
        status=MEASURED, origin="ais_bench", model=first.model, target=first.target,
        device=combined_devices(meta.get("device") or "Ascend NPU", len(records)),
        software=first.software, precision=first.precision, batch_size=first.batch_size,
        img_s_compute=total, mode="ais_bench", gpus=len(records), source=str(path),
        conditions=f"devices {devices}: sum of the per-device throughputs ('summary throughput' of the "
                   "multi-device run)")


def _ascend_device(meta: dict, device_id: int | None) -> str:
    name = meta.get("device") or ASCEND_DEVICE
    return name if device_id is None else f"{name}, device {device_id}"
