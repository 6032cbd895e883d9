"""The values of a run summary the report reads, checked before any is shown: a summary.json whose field has the
wrong type, or whose throughput, timing, memory or energy figure is not a finite number >= 0, is skipped with one
line naming the file and the field. The sidecar reader checks the declared top-level types; the nested values the
report shows as numbers are checked here, and the containers again, so that no reader below meets a null."""
from __future__ import annotations

import math
from typing import Any

from harness.contracts import InferSummary, field_error
from harness.errors import ContractError

CONTAINERS = {"timings": dict, "throughput": dict, "engine": dict, "extra": dict, "energy": dict,
              "compute_ms": list, "outputs": list, "files": list}
STRINGS = ("model", "target", "device", "precision", "mode", "outfmt", "device_name")
# nested containers that may be absent or null, but nothing else
NESTED_CONTAINERS = {"timings.compute": dict, "extra.memory": dict, "extra.labels": list,
                     "extra.host_in_compute": dict, "extra.device_idle": dict, "engine.versions": dict}
AMOUNTS = ("throughput.compute_only", "throughput.end_to_end", "throughput.wall_s", "throughput.loop_start_skew_s",
           "extra.memory.host_peak_rss_mib", "extra.memory.device_peak_mib", "extra.host_peak_rss_mib",
           "engine.peak_device_memory_mib", "engine.device_peak_mib", "extra.host_in_compute.share_of_compute",
           "energy.seconds", "energy.joules", "energy.average_watts", "energy.peak_watts", "energy.joules_per_image",
           "energy.images_per_second_per_watt")
ALL_AMOUNTS_IN = ("timings.compute",)  # every value of these dicts is a figure (count, mean, p99, cv, ...)
MISSING = object()


def check_summary_values(summary: InferSummary, source: str) -> InferSummary:
    """The summary as read, or a ContractError naming the file and the first field the report cannot show."""
    for name, kind in CONTAINERS.items():
        _check_type(source, name, getattr(summary, name), kind)
    for name in STRINGS:
        _check_type(source, name, getattr(summary, name), str)
    for name in ("batch_size", "num_inputs"):
        value = getattr(summary, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "batch_size" else 0):
            raise _field_error(source, name, value, "a whole number >= 1" if name == "batch_size" else
                               "a whole number >= 0")
    for path, kind in NESTED_CONTAINERS.items():
        value = _lookup(summary, path)
        if value is not MISSING and value is not None:
            _check_type(source, path, value, kind)
    for path in AMOUNTS:
        _check_amount(source, path, _lookup(summary, path))
    for path in ALL_AMOUNTS_IN:
        for key, value in (_lookup(summary, path) or {}).items():
            _check_amount(source, f"{path}.{key}", value)
    for index, value in enumerate(summary.compute_ms):
        _check_amount(source, f"compute_ms[{index}]", value, optional=False)
    return summary


def _lookup(summary: InferSummary, path: str) -> Any:
    """The value at a dotted path (`throughput.compute_only`); MISSING where a key or container is not there."""
    head, *keys = path.split(".")
    value = getattr(summary, head)
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def _check_type(source: str, field: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind):
        raise _field_error(source, field, value, {dict: "an object", list: "a list", str: "a string"}[kind])


def _check_amount(source: str, field: str, value: Any, optional: bool = True) -> None:
    """A figure the report shows: a finite number >= 0 (never a bool, a string, NaN or inf), or absent or null
    where `optional`."""
    if optional and (value is MISSING or value is None):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _field_error(source, field, value, "a finite number >= 0")


def _field_error(source: str, field: str, value: Any, expected: str) -> ContractError:
    return field_error(source, InferSummary.KIND, field, value, expected)
