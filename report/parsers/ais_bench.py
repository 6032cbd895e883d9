"""ais_bench / ais_infer results for the report, read through targets.ascend.results (text only).

Two generations of each (ref-ascend.md section 6):
- printed: `[INFO] throughput 1000*batchsize(16)/NPU_compute_time.mean(21.94): 729.26` (ais_infer,
  2022) and `... 1000*batchsize.mean(1)/NPU_compute_time.mean(0.661): 1512.86` (ais_bench, 2023 on);
- JSON: `<result dir>/sumary.json` (ais_infer 2022: stats without `count`) and
  `<output>/<dirname>_summary.json` (ais_bench: stats with `count`, `npu_compute_time_list`, `pid`).
Throughput is ais_bench's own: 1000 * batchsize / mean NPU compute ms, compute-only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ContractError, InputError
from targets.ascend import results as ascend_results

SUMMARY_MARKER = "Performance Summary"
# ais_bench's own throughput line; the harness prints "compute_time.mean(" without the NPU_ prefix
PRINTED_MARKERS = (SUMMARY_MARKER, "/NPU_compute_time.mean(")
NEW_PRINTED_FORMULA = "batchsize.mean("
OLD_GENERATION, NEW_GENERATION = "ais_infer (2022)", "ais_bench (2023+)"
MODEL_SUFFIXES = re.compile(r"(_linux_(x86_64|aarch64))?(\.om)?$", re.IGNORECASE)


@dataclass
class AisBenchRun:
    generation: str
    batch_size: int | None
    throughput: float  # img/s, compute-only
    npu_compute_ms: dict  # {min, max, mean, median, p99, count?}
    h2d_ms: dict = field(default_factory=dict)
    d2h_ms: dict = field(default_factory=dict)
    samples_ms: list[float] = field(default_factory=list)
    model_path: str | None = None


def parse_printed_summary(text: str, source: str = "ais_bench log") -> list[AisBenchRun]:
    """Every Performance Summary block in a log (one per device process for multi-device runs)."""
    try:
        parsed = ascend_results.parse_performance_log(text)
    except InputError as exc:
        raise ContractError(f"{source}: {exc}; the log is truncated or from an unknown ais_bench version") from None
    generation = NEW_GENERATION if NEW_PRINTED_FORMULA in text else OLD_GENERATION
    runs = []
    for block in parsed["runs"]:
        if "compute_ms" not in block or "throughput" not in block:
            raise ContractError(f"{source}: a Performance Summary without NPU_compute_time or throughput line; "
                                "the log is truncated or from an unknown ais_bench version")
        batch = block.get("batch_size")
        runs.append(AisBenchRun(generation=generation, batch_size=round(batch) if batch else None,
                                throughput=block["throughput"], npu_compute_ms=block["compute_ms"],
                                h2d_ms=block.get("h2d_ms", {}), d2h_ms=block.get("d2h_ms", {})))
    return runs


def parse_summary_json(data, source: str = "ais_bench summary") -> AisBenchRun:
    if not isinstance(data, dict) or "NPU_compute_time" not in data or "throughput" not in data:
        raise ContractError(f"{source}: not an ais_bench summary of a known version (no 'NPU_compute_time' and "
                            "'throughput' keys); remove it from the report input or rename it")
    try:
        parsed = ascend_results.parse_summary(data)
    except InputError as exc:
        raise ContractError(f"{source}: {exc}") from None
    compute = parsed.get("compute_ms") or {}
    if "mean" not in compute:
        raise ContractError(f"{source}: NPU_compute_time has no 'mean'; not an ais_bench summary of a known version")
    new = "count" in data["NPU_compute_time"] or "npu_compute_time_list" in data or "pid" in data
    batch = parsed.get("batch_size")
    if batch is None and compute["mean"] > 0:
        batch = round(parsed["throughput"] * compute["mean"] / 1000.0)  # ais_bench's own formula, inverted
    return AisBenchRun(
        generation=NEW_GENERATION if new else OLD_GENERATION, batch_size=batch, throughput=parsed["throughput"],
        npu_compute_ms=compute, h2d_ms=parsed.get("h2d_ms", {}), d2h_ms=parsed.get("d2h_ms", {}),
        samples_ms=parsed.get("compute_ms_list", []), model_path=_model_arg(data.get("args")))


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
    return re.sub(r"[_-]bs\d+$", "", stem) or None
