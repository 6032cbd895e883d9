"""PNG figures (matplotlib, Agg backend). Each says compute-only or end-to-end, and names device and software."""
from __future__ import annotations

import math
from pathlib import Path

from harness.files import atomic_output
from report.records import MEASURED, PerfRecord
from report.series import Comparison, Series

MAX_PANELS_PER_ROW = 3


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _batch_axis(ax, batches: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches)
    ax.set_xticklabels([str(b) for b in batches])
    ax.set_xlabel("batch size")
    ax.grid(True, which="major", alpha=0.3)


def throughput_plot(comparison: Comparison, path: Path) -> Path:
    """Compute-only img/s vs batch size: one line per series, published references dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for series in comparison.series:
        batches = sorted(series.by_batch)
        values = [series.img_s(b) for b in batches]
        style = "o-" if series.status == MEASURED else "s--"
        ax.plot(batches, values, style, label=series.long_label, fillstyle="full" if series.status == MEASURED
                else "none")
    warned = _mark_warned(ax, [(b, s.img_s(b), s.by_batch[b]) for s in comparison.series for b in s.by_batch])
    _batch_axis(ax, comparison.batch_sizes)
    ax.set_ylabel("images/s, compute-only")
    title = f"{comparison.model}: compute-only throughput (1000 x batch / mean compute ms)"
    ax.set_title(title + "\nsolid = measured here, dashed = published; legend: device, precision, software")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path, title, [s.long_label for s in comparison.series] + warned)


WARNED = "red x: its run recorded a warning (listed in report.md)"


def _mark_warned(ax, points: list[tuple[float, float | None, PerfRecord]]) -> list[str]:
    """A red x over each plotted figure whose run recorded a warning; what the x means and which figures carry
    one, for the image's description ([] where none does)."""
    warned = [(x, y, r) for x, y, r in points if y and r.warning]
    if not warned:
        return []
    ax.scatter([x for x, _, _ in warned], [y for _, y, _ in warned], marker="x", s=90, color="red", zorder=5,
               label=WARNED)
    return [f"{WARNED}: " + ", ".join(f"{r.device} {r.precision} batch {r.batch_size}" for _, _, r in warned)]


def end_to_end_plot(model: str, records: list[PerfRecord], path: Path) -> Path | None:
    """End-to-end img/s (host walltime, transfers included) of measured runs, where recorded."""
    lines: dict[str, dict[int, float]] = {}
    shown: dict[tuple[str, int], PerfRecord] = {}
    for r in records:
        if r.model == model and r.status == MEASURED and r.img_s_e2e and r.batch_size:
            label = f"{r.device}, {r.precision}, {r.software} ({r.mode})"
            lines.setdefault(label, {})[r.batch_size] = r.img_s_e2e
            shown[(label, r.batch_size)] = r
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for label, points in sorted(lines.items()):
        batches = sorted(points)
        ax.plot(batches, [points[b] for b in batches], "o-", label=label)
    warned = _mark_warned(ax, [(b, r.img_s_e2e, r) for (_, b), r in sorted(shown.items(), key=lambda i: i[0])])
    _batch_axis(ax, sorted({b for points in lines.values() for b in points}))
    ax.set_ylabel("images/s, end-to-end")
    title = f"{model}: end-to-end throughput (images / host walltime, transfers included)"
    ax.set_title(title + "\nlegend: device, precision, software (run mode)")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path, title, sorted(lines) + warned)


def latency_plot(comparison: Comparison, path: Path) -> Path | None:
    """Per measured series: compute ms per batch at each batch size (box: p25-p75, whiskers p1-p99)."""
    measured = [s for s in comparison.series if s.status == MEASURED]
    if not measured:
        return None
    plt = _pyplot()
    columns = min(len(measured), MAX_PANELS_PER_ROW)
    rows = math.ceil(len(measured) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False)
    for ax, series in zip(axes.flat, measured):
        _latency_panel(ax, series)
    for ax in list(axes.flat)[len(measured):]:
        ax.set_visible(False)
    title = f"{comparison.model}: compute-only latency per batch (ms)"
    fig.suptitle(title + "; boxes from every timed batch, bars (median, min to p99) where only a summary exists",
                 fontsize=9)
    return _save(fig, path, title, [s.long_label for s in measured])


def _latency_panel(ax, series: Series) -> None:
    batches = sorted(series.by_batch)
    positions = list(range(len(batches)))
    for pos, batch in zip(positions, batches):
        record = series.by_batch[batch]
        if record.samples_ms:
            ax.boxplot([record.samples_ms], positions=[pos], whis=(1, 99), showfliers=False, widths=0.6)
            continue
        stats = record.compute_ms
        median = stats.get("median", stats.get("mean"))
        if median is None:
            continue
        low, high = stats.get("min", median), stats.get("p99", stats.get("max", median))
        ax.errorbar([pos], [median], yerr=[[median - low], [high - median]], fmt="D", capsize=4, color="C0")
    ax.set_xticks(positions)
    ax.set_xticklabels([str(b) for b in batches])
    ax.set_xlabel("batch size")
    ax.set_ylabel("ms per batch (compute-only)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    ax.grid(True, which="major", axis="y", alpha=0.3)
    ax.set_title(f"{series.device}, {series.precision}\n{series.software}", fontsize=8)


def _save(fig, path: Path, title: str, series: list[str]) -> Path:
    """Write the PNG; its Title/Description text chunks repeat the metric and every device and stack."""
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, metadata={"Title": title, "Description": "; ".join(series)})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def efficiency_plot(model: str, records: list[PerfRecord], facts: list, path: Path) -> Path | None:
    """Compute-only img/s against images per joule, one line per device and software, a point per batch
    size (labelled); filled = measured energy, hollow = nominal (datasheet board power)."""
    from report.energy import energy_of

    lines: dict[tuple[str, bool], list[tuple[float, float, int]]] = {}
    for r in records:
        if r.model != model or not r.img_s_compute or not r.batch_size:
            continue
        img_per_j = energy_of(r, facts)["img_per_j"]
        if img_per_j:
            measured = r.status == MEASURED
            label = f"{r.device}, {r.precision}, {r.software}" + ("" if measured else " (nominal power)")
            lines.setdefault((label, measured), []).append((img_per_j, r.img_s_compute, r.batch_size))
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for (label, measured), points in sorted(lines.items()):
        points.sort(key=lambda p: p[2])
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-" if measured else "s--", label=label,
                fillstyle="full" if measured else "none")
        for x, y, batch in points:
            ax.annotate(f"bs{batch}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    points = [p for ps in lines.values() for p in ps]
    for axis, values in (("x", [p[0] for p in points]), ("y", [p[1] for p in points])):
        if max(values) > 20 * min(values):  # batch sizes 1 to 256 span orders of magnitude
            getattr(ax, f"set_{axis}scale")("log")
    ax.set_xlabel("images per joule (= img/s per watt)")
    ax.set_ylabel("images/s, compute-only")
    ax.grid(True, which="major", alpha=0.3)
    title = f"{model}: throughput against energy efficiency, per device and batch size"
    ax.set_title(title + "\nfilled = energy measured over the timed loop, hollow = nominal (datasheet board power)")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path, title, [label for label, _ in sorted(lines)])
