"""Write the report: report.md with its PNG figures, CSV of every table and report.json of every number."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict
from pathlib import Path

from harness.files import atomic_write_text, ensure_writable_dir, write_json
from report import energy, plots, tables
from report.collect import Collected
from report.common import json_safe
from report.records import PUBLISHED, PerfRecord
from report.series import Comparison, build_series, compare_model, models_of

DEFINITIONS = """\
- **compute-only** img/s = 1000 x batch / mean compute ms per batch: device time only (CUDA events or
  the runtime's own timer; ais_bench `NPU_compute_time`; trtexec `GPU Compute Time`). Huawei's
  published Ascend and T4 numbers use this definition on both sides.
- **end-to-end** img/s = images / host walltime of the whole loop, host-device transfers included
  (trtexec: `Throughput` x batch, only when its data transfers were enabled).
- ms/frame = mean ms per batch / batch size. CV = std / mean of the per-batch compute times
  (trtexec warns above 2.5%). Memory: peak host RSS and peak device memory, where the run recorded them.
- **measured** rows come from result files given to this report; **published** rows from
  report/data/published.csv, with their source and conditions.
- **J/image**, **img/J** (= img/s per watt), **avg W**: the device's own energy counter over the timed
  loop (NVML total energy, RAPL package energy, npu-smi power sampled), or why there is none. Published
  rows have no measurement: their img/J is img/s over the datasheet board power, marked nominal.
- **warning [n]** (per-target tables) and **[!n]** (comparison tables) mark a figure whose run recorded a
  warning (summary.json extra.warning: unstable compute times, a busy device, host time in compute-only, ...);
  the warning is listed under the table. **[n]** points to the row's conditions (labels, settings, how a run
  over several devices was timed and how far apart its devices' timed loops started).
- **cost / 1M img** = price per device-hour / (compute-only img/s x 3600) x 10^6, from the prices file
  (report/data/prices.csv or --prices), only where it gives a price."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "model"


def write_report(found: Collected, published: list[PerfRecord], out_dir: Path,
                 baseline: str | None = None, facts: list[energy.DeviceFacts] | None = None) -> Path:
    out_dir = ensure_writable_dir(out_dir)
    facts = energy.load_prices() if facts is None else facts
    records = found.perf + published
    series = build_series(records)
    comparisons = [compare_model(model, series, baseline) for model in models_of(series)]
    figures = _figures(comparisons, records, out_dir, facts)
    markdown = _markdown(found, published, comparisons, figures, facts)
    atomic_write_text(out_dir / "report.md", markdown)
    _write_csvs(found, records, comparisons, out_dir, facts)
    write_json(out_dir / "report.json", json_safe(_everything(found, records, comparisons, facts)))
    return out_dir / "report.md"


def _figures(comparisons: list[Comparison], records: list[PerfRecord], out_dir: Path,
             facts: list[energy.DeviceFacts]) -> dict[str, list[str]]:
    figures: dict[str, list[str]] = {}
    for comp in comparisons:
        slug = _slug(comp.model)
        made = [plots.throughput_plot(comp, out_dir / f"throughput_{slug}.png"),
                plots.end_to_end_plot(comp.model, records, out_dir / f"throughput_e2e_{slug}.png"),
                plots.latency_plot(comp, out_dir / f"latency_{slug}.png"),
                plots.efficiency_plot(comp.model, records, facts, out_dir / f"efficiency_{slug}.png")]
        figures[comp.model] = [p.name for p in made if p is not None]
    return figures


def _markdown(found: Collected, published: list[PerfRecord], comparisons: list[Comparison],
              figures: dict[str, list[str]], facts: list[energy.DeviceFacts]) -> str:
    parts = ["# Vendor comparison report", "", "## Definitions", DEFINITIONS, ""]
    parts += ["## 1. Accuracy", ""]
    parts.append(tables.accuracy_table(found.accuracy) if found.accuracy else "No result.json found.")
    f1_lines = tables.f1_lines(found.accuracy)
    if f1_lines:
        parts += ["", "Precision, recall and F1 of the top-1 class (postprocess's result_details.json):", ""] + f1_lines
    parts += ["", "## 2. Performance per target (measured)", ""]
    groups = tables.target_groups(found.perf)
    for (model, target, device, precision, software), group in groups.items():
        parts += [f"### {model} on {target}: {device}, {precision}", f"Software: {software}. "
                  "Latency columns are compute-only; see Definitions.", "", tables.target_table(group, facts), ""]
    if not groups:
        parts.append("No measured performance found.")
    if found.idle_checks:
        parts += [""] + tables.idle_lines(found.idle_checks)
    if found.out_of_memory:
        parts += ["", "Batch sizes that did not fit in device memory (no timings):", ""]
        parts += tables.out_of_memory_lines(found.out_of_memory)
    parts += ["", "## 3. Vendor comparison (compute-only img/s per batch size)", ""]
    for comp in comparisons:
        base = comp.baseline.label if comp.baseline else "none"
        parts += [f"### {comp.model}", "", "#### img/s, compute-only", "", tables.comparison_table(comp), "",
                  f"#### ratio to {base}", f"img/s of each series over the baseline's at the same batch size "
                  f"({comp.baseline_note}); the last row compares best batch sizes.", "", tables.ratio_table(comp),
                  "", tables.series_legend(comp), ""]
        parts += [f"![{name}]({name})" for name in figures.get(comp.model, [])] + [""]
    parts += ["### Published reference rows (all, with their conditions)", "",
              tables.published_table(published, facts), ""]
    if found.calib_sweeps:
        parts += ["### int8 accuracy by number of calibration images", ""]
        for sweep in found.calib_sweeps:
            parts += [tables.calib_sweep_table(sweep), ""]
    parts += ["## 4. Output parity", ""]
    parts.append(tables.parity_table(found.parity) if found.parity else "No compare.json found.")
    parts += ["", "## Sources", ""] + [f"- {s}" for s in found.sources]
    if found.device_parts:
        parts += ["", "Each device's part of a run over several devices, shown within that run's row:", ""]
        parts += [f"- {part}" for part in found.device_parts]
    if found.duplicates:
        parts += ["", "Copies of a run found more than once, each counted once:", ""]
        parts += [f"- {copy}" for copy in found.duplicates]
    if found.simulated:
        parts += ["", "Timings of runs on a simulated runtime are left out (their accuracy is kept): "
                  + ", ".join(found.simulated)]
    if found.skipped:
        parts += ["", "Skipped, with the reason:", ""] + [f"- {reason}" for reason in found.skipped]
    parts += ["", "CSV: perf.csv, comparison.csv, accuracy.csv, parity.csv; every number: report.json.", ""]
    return "\n".join(parts)


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(json_safe(rows))
    return buffer.getvalue()


def comparison_rows(comparisons: list[Comparison]) -> list[dict]:
    rows = []
    for comp in comparisons:
        for series in comp.series:
            for batch in sorted(series.by_batch):
                record = series.by_batch[batch]
                rows.append({"model": comp.model, "batch_size": batch, "series": series.long_label,
                             "status": series.status, "img_s_compute": record.img_s_compute,
                             "baseline": comp.baseline.long_label if comp.baseline else None,
                             "ratio_to_baseline": comp.ratio(series, batch), "source": record.source,
                             "warning": record.warning,
                             "baseline_warning": _baseline_warning(comp, batch)})
    return rows


def _baseline_warning(comp: Comparison, batch: int) -> str:
    """The warning of the baseline's run at `batch`: its ratios carry it too."""
    record = comp.baseline.by_batch.get(batch) if comp.baseline else None
    return record.warning if record is not None else ""


def _write_csvs(found: Collected, records: list[PerfRecord], comparisons: list[Comparison], out_dir: Path,
                facts: list[energy.DeviceFacts]) -> None:
    outputs = {"perf.csv": [r.row() | energy.columns(r, facts) for r in records],
               "comparison.csv": comparison_rows(comparisons),
               "accuracy.csv": [asdict(r) for r in found.accuracy], "parity.csv": [asdict(r) for r in found.parity]}
    for name, rows in outputs.items():
        atomic_write_text(out_dir / name, _csv_text(rows))


def _everything(found: Collected, records: list[PerfRecord], comparisons: list[Comparison],
                facts: list[energy.DeviceFacts]) -> dict:
    return {"kind": "harness.report",
            "perf": [asdict(r) | energy.columns(r, facts) for r in records],
            "accuracy": [asdict(r) for r in found.accuracy],
            "parity": [asdict(r) for r in found.parity],
            "comparison": comparison_rows(comparisons),
            "published_rows": sum(1 for r in records if r.status == PUBLISHED),
            "sources": found.sources, "skipped": found.skipped, "device_parts": found.device_parts,
            "duplicates": found.duplicates,
            "simulated": found.simulated, "calib_sweeps": found.calib_sweeps,
            "out_of_memory": found.out_of_memory, "idle_checks": found.idle_checks,
            "device_facts": [asdict(f) for f in facts]}
