"""Turn trtexec and ais_bench runs into performance records, labelled from report-meta.json when given."""
from __future__ import annotations

import re
from pathlib import Path

from harness.errors import ContractError
from harness.stats import throughput
from report.parsers.ais_bench import AisBenchRun, model_name_from_path
from report.parsers.trtexec import TrtexecRun
from report.records import MEASURED, PerfRecord

ARTIFACT_SUFFIXES = re.compile(r"([._-]sim)?\.(onnx|engine|plan|trt)$", re.IGNORECASE)


def _model_from(path_text: str | None, fallback: Path) -> str:
    name = Path(path_text).name if path_text else fallback.name.split(".")[0]
    name = ARTIFACT_SUFFIXES.sub("", name)
    return re.sub(r"[_-]bs\d+$", "", name) or fallback.stem


def perf_from_trtexec(run: TrtexecRun, path: Path, meta: dict) -> PerfRecord:
    batch = meta.get("batch_size") or run.batch_size
    if not batch:
        raise ContractError(f"{path}: the trtexec log does not show the batch size (no 'Input inference shape' "
                            "or 'Input binding' line); add \"batch_size\" to a report-meta.json beside it")
    compute = dict(run.metrics["GPU Compute Time"])
    walltime_img_s = run.throughput_qps * batch
    conditions = run.conditions()
    if not run.transfers_included:
        conditions += f"; trtexec Throughput without data transfers: {walltime_img_s:.1f} img/s"
    return PerfRecord(
        status=MEASURED, origin="trtexec", model=meta.get("model") or _model_from(run.model_path, path),
        target=meta.get("target", "nvidia"), device=meta.get("device") or run.device or "NVIDIA GPU (not in log)",
        software=meta.get("software") or f"TensorRT {run.version} (trtexec)",
        precision=meta.get("precision") or run.precision or "unknown", batch_size=int(batch),
        img_s_compute=throughput(int(batch), compute["mean"]),
        img_s_e2e=walltime_img_s if run.transfers_included else None,
        compute_ms=compute, mode="trtexec", conditions=conditions, source=str(path))


def perf_from_ais_bench(run: AisBenchRun, path: Path, meta: dict) -> PerfRecord:
    batch = meta.get("batch_size") or run.batch_size
    compute = dict(run.npu_compute_ms)
    if run.samples_ms and "count" not in compute:
        compute["count"] = len(run.samples_ms)
    model = meta.get("model") or model_name_from_path(run.model_path) or _model_from(None, path)
    transfers = []
    for label, stats in (("H2D", run.h2d_ms), ("D2H", run.d2h_ms)):
        if stats.get("mean") is not None:
            transfers.append(f"{label} mean {stats['mean']:.3f} ms (excluded)")
    return PerfRecord(
        status=MEASURED, origin="ais_bench", model=model, target=meta.get("target", "ascend"),
        device=meta.get("device") or "Ascend NPU (chip not recorded by ais_bench)",
        software=meta.get("software") or run.generation, precision=meta.get("precision") or "unknown",
        batch_size=int(batch) if batch else None, img_s_compute=run.throughput, compute_ms=compute,
        samples_ms=list(run.samples_ms), mode="ais_bench", conditions="; ".join(transfers), source=str(path))
