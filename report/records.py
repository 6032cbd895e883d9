"""What the report is made of: one performance record per (run, batch size), accuracy and parity rows.

Every source (the harness's summary.json, trtexec logs, ais_bench outputs, published tables) is turned
into these plain dataclasses; tables, plots, CSV and JSON read only them.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.contracts import END_TO_END_WALL_SPAN, InferSummary, checked_schema_version
from harness.errors import ContractError
from harness.energy_summary import EnergySummary
from harness.files import read_json
from report.summary_values import check_summary_values
from tasks.classification.record import MODELZOO_TITLE

MEASURED = "measured"
PUBLISHED = "published"


@dataclass
class PerfRecord:
    """Throughput and latency of one model at one batch size on one device with one software stack."""

    status: str  # measured or published
    origin: str  # harness, trtexec, ais_bench, or the publication
    model: str
    target: str
    device: str
    software: str
    precision: str
    batch_size: int | None
    img_s_compute: float | None  # compute-only: 1000 * batch / mean compute ms
    img_s_e2e: float | None = None  # end-to-end: images / host walltime
    compute_ms: dict = field(default_factory=dict)  # count/min/max/mean/median/p99/cv where known
    samples_ms: list[float] = field(default_factory=list)  # raw per-batch compute ms where known
    memory: dict = field(default_factory=dict)  # host_peak_rss_mib, device_peak_mib
    mode: str = ""  # harness: pure or dataset
    conditions: str = ""
    source: str = ""
    gpus: int = 1
    reported_img_s: float | None = None  # published rows: the figure as published, whatever its metric
    energy: EnergySummary | None = None  # measured rows: summary.json `energy` (report/energy.py)
    warning: str = ""  # what the run itself warned of (summary.json extra.warning): shown beside its numbers
    input_form: str = ""  # harness runs: what the artifact took (float32 CHW, uint8 HWC); '' where not recorded
    loop_start_skew_s: float | None = None  # runs over several devices: how far apart their timed loops began

    @property
    def ms_per_frame(self) -> float | None:
        mean = self.compute_ms.get("mean")
        return mean / self.batch_size if mean and self.batch_size else None

    def row(self) -> dict:
        """Flat dict for CSV/JSON, without the raw samples."""
        data = asdict(self)
        data.pop("samples_ms")
        data.pop("compute_ms")
        for key in ("count", "mean", "median", "min", "max", "p99", "cv"):
            data[f"compute_ms_{key}"] = self.compute_ms.get(key)
        data["ms_per_frame"] = self.ms_per_frame
        memory = data.pop("memory")
        data["host_peak_rss_mib"] = memory.get("host_peak_rss_mib")
        data["device_peak_mib"] = memory.get("device_peak_mib")
        data.pop("energy")
        for key in ("joules", "seconds", "average_watts", "peak_watts", "counter", "unavailable"):
            data[f"energy_{key}"] = getattr(self.energy, key) if self.energy is not None else None
        return data


@dataclass
class AccuracyRecord:
    model: str
    target: str
    device: str
    precision: str
    batch_size: int | None
    images: int | None
    top1: float | None
    top5: float | None
    source: str
    macro_precision: float | None = None  # top-1, from result_details.json when postprocess wrote them
    macro_recall: float | None = None
    macro_f1: float | None = None
    weighted_f1: float | None = None
    labels: str = ""  # what the figure does not mean: random weights, preprocess mismatch, calibration overlap


@dataclass
class ParityRecord:
    a: str
    b: str
    profile: str
    passed: bool
    count: int
    top1_agreement: float
    cosine_min: float
    max_rel_err: float
    source: str


def perf_from_summary(summary: InferSummary, path: Path) -> PerfRecord:
    devices = str(summary.device).split(",")
    return PerfRecord(
        status=MEASURED, origin="harness", model=summary.model, target=summary.target,
        device=_device_label(summary, devices),
        software=summary.software, precision=summary.precision, batch_size=summary.batch_size,
        img_s_compute=summary.img_s_compute or None, img_s_e2e=summary.img_s_end_to_end,  # 0: nothing timed
        compute_ms=summary.compute_stats, samples_ms=list(summary.compute_ms), memory=summary.peak_memory_mib,
        mode=summary.mode,
        conditions=", ".join(_null_target_label(summary) + run_labels(summary) + _untimed_label(summary)
                             + _combined_label(summary, devices)
                             + summary.timing_labels + summary.settings),
        source=str(path), gpus=len(devices), energy=EnergySummary.from_dict(summary.energy),
        warning=run_warning(summary), input_form=str(summary.engine.get("input_form") or ""),
        loop_start_skew_s=summary.throughput.get("loop_start_skew_s"))


def run_warning(summary: InferSummary) -> str:
    """extra.warning as infer wrote it: one line of warnings joined by '; ' ('' for none)."""
    warning = summary.extra.get("warning")
    if isinstance(warning, list):  # never written so, but a list of lines reads the same
        warning = "; ".join(str(w) for w in warning if w)
    return str(warning or "").strip()


def _null_target_label(summary: InferSummary) -> list[str]:
    """The null target runs no model (docs/null.md): its times are the harness loop's own, or the emulated device
    time it was given; never a device's."""
    if summary.engine.get("engine") != "null":
        return []
    emulated = summary.engine.get("emulated_compute_ms")
    if isinstance(emulated, (int, float)) and not isinstance(emulated, bool) and emulated > 0:
        return [f"null target: no model ran, compute time emulated at {emulated:g} ms a batch"]
    return ["null target: no model ran, the times are the harness loop's own overhead"]


def _untimed_label(summary: InferSummary) -> list[str]:
    """infer writes a throughput of 0 where it timed nothing: no figure, and the row says why."""
    if summary.img_s_compute != 0:  # a figure, or none recorded (an older summary): nothing to say
        return []
    return [f"no timed batches ({summary.num_batches} batches, {len(summary.compute_ms)} compute times): "
            "no throughput"]


def combined_devices(name: str, count: int) -> str:
    """The series of a run over `count` devices of one kind: never one device's (its compute-only figure is the
    sum over them), and the same whichever devices ran it (their ids go in the conditions)."""
    return f"{name} x{count} combined"


def _device_label(summary: InferSummary, devices: list[str]) -> str:
    name = summary.device_name or f"{summary.target} device {summary.device}"
    return name if len(devices) == 1 else combined_devices(name, len(devices))


def _combined_label(summary: InferSummary, devices: list[str]) -> list[str]:
    if len(devices) == 1:
        return []
    wall = ("the walltime from the first device's timed loop start to the last one's end"
            if summary.extra.get("end_to_end_wall") == END_TO_END_WALL_SPAN else
            "the longest device's walltime (how their loops overlapped is not recorded: taken as at once)")
    skew = summary.throughput.get("loop_start_skew_s")
    started = (f"; their timed loops started within {skew * 1000:.3g} ms of each other" if skew is not None else
               "; how far apart their timed loops started is not recorded")
    if summary.extra.get("start_barrier") is False:
        started += " (no start barrier)"
    return [f"devices {','.join(devices)}: compute-only img/s is the sum over them, end-to-end all images over "
            f"{wall}{started}; ms/batch is per device"]


def run_labels(summary: InferSummary) -> list[str]:
    """The labels infer gave the run (random weights, preprocess mismatch, calibration overlap), and an older
    schema version of its summary."""
    return summary.run_labels + ([summary.schema_label] if summary.schema_label else [])


def read_summary(path: Path) -> InferSummary:
    data = read_json(path, "infer summary")
    if not isinstance(data, dict) or data.get("kind") != InferSummary.KIND:
        found = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise ContractError(f"{path}: summary.json of an unknown format (kind {found!r}, expected "
                            f"{InferSummary.KIND!r}); pass infer result directories or remove the file")
    return summary_from_dict(data, path)


def summary_from_dict(data: dict, path: Path) -> InferSummary:
    """An infer summary whose every value the report shows is of its type and, for a figure, finite and >= 0."""
    return check_summary_values(InferSummary.from_dict(data, str(path)), str(path))


def parse_percent(text: str, path: Path, key: str) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*%?\s*", str(text))
    if not match:
        raise ContractError(f"{path}: {key} is {text!r}, expected a percentage like '78.24%'")
    return float(match.group(1))


def read_modelzoo_result(path: Path) -> dict:
    """{"images", "classes", "top1", "top5"} from a ModelZoo-format result.json."""
    data = read_json(path, "accuracy result")
    if not isinstance(data, dict) or data.get("title") != MODELZOO_TITLE or not isinstance(data.get("value"), list):
        raise ContractError(f"{path}: not a ModelZoo result.json (expected title {MODELZOO_TITLE!r} and a "
                            "'value' list); rerun postprocess")
    values = {item.get("key"): item.get("value") for item in data["value"] if isinstance(item, dict)}
    out = {"images": _int_or_none(values.get("Number of images")),
           "classes": _int_or_none(values.get("Number of classes"))}
    for k in (1, 5):
        key = f"Top{k} accuracy"
        out[f"top{k}"] = parse_percent(values[key], path, key) if key in values else None
    if out["top1"] is None:
        raise ContractError(f"{path}: result.json has no 'Top1 accuracy'; rerun postprocess")
    out["labels"] = [str(label) for label in data.get("labels") or []]
    return out


def _int_or_none(text) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def parity_from_compare(data: dict, path: Path) -> ParityRecord:
    checked_schema_version(data, str(path), str(data.get("kind")))
    def label(side: dict) -> str:
        if "target" in side:
            return f"{side['model']} {side['target']} {side['precision']} bs{side['batch_size']} ({side['device']})"
        return side.get("dir", "?")

    try:
        agg = data["aggregate"]
        return ParityRecord(a=label(data["a"]), b=label(data["b"]), profile=data["profile"],
                            passed=bool(data["passed"]), count=agg["count"],
                            top1_agreement=agg["top1_agreement"], cosine_min=agg["cosine_min"],
                            max_rel_err=agg["max_rel_err"], source=str(path))
    except (KeyError, TypeError) as exc:
        raise ContractError(f"{path}: compare.json is incomplete (missing {exc}); rerun report.compare") from None
