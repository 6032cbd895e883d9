"""Markdown tables of the report: accuracy, per-target performance, vendor comparison, parity, references."""
from __future__ import annotations

from collections import defaultdict

from report import energy
from report.common import fmt, fmt_sig
from report.records import MEASURED, AccuracyRecord, ParityRecord, PerfRecord
from report.series import Comparison, Series


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def accuracy_table(records: list[AccuracyRecord]) -> str:
    rows = [[r.model, r.target, r.device, r.precision, fmt(r.batch_size), fmt(r.images), fmt(r.top1, 2),
             fmt(r.top5, 2), r.labels, r.source]
            for r in sorted(records, key=lambda r: (r.model, r.target, r.precision, r.batch_size or 0))]
    return md_table(["model", "target", "device", "precision", "batch", "images", "top-1 %", "top-5 %", "labels",
                     "source"], rows)


def f1_lines(records: list[AccuracyRecord]) -> list[str]:
    """One line per scored run with top-1 precision, recall and F1 (from postprocess's details JSON)."""
    return [f"- {r.model} on {r.target} ({r.precision}, batch {fmt(r.batch_size)}): top-1 macro precision "
            f"{r.macro_precision * 100:.2f} %, recall {r.macro_recall * 100:.2f} %, F1 {r.macro_f1 * 100:.2f} %; "
            f"weighted F1 {r.weighted_f1 * 100:.2f} %"
            for r in sorted(records, key=lambda r: (r.model, r.target, r.precision, r.batch_size or 0))
            if r.macro_f1 is not None]


def _mib(value) -> str:
    return f"{value / (1 << 20):,.1f} MiB" if isinstance(value, (int, float)) else "unknown"


def out_of_memory_lines(rows: list[dict]) -> list[str]:
    """One line per sweep row whose batch did not fit in device memory."""
    return [f"- {r['model']} on {r['target']} (device {r['device']}), {r['precision']}, batch {r['batch_size']}: "
            f"**out of memory** (needed {_mib(r['needed_bytes'])}, available {_mib(r['available_bytes'])}); "
            f"{r['source']}"
            for r in sorted(rows, key=lambda r: (str(r["model"]), str(r["target"]), r["batch_size"] or 0))]


def idle_lines(checks: list[dict]) -> list[str]:
    """How many runs found their device idle before timing; each run that did not, with why."""
    counts = {state: sum(1 for c in checks if c["idle"] is state) for state in (True, False, None)}
    lines = [f"Device idle before the timed run: {counts[True]} of {len(checks)} runs idle, {counts[False]} not "
             f"idle, {counts[None]} not checked (how: summary.json extra.device_idle)."]
    lines += [f"- not idle: {c['run']}: {'; '.join(c['busy'])} ({c['method']}); {c['source']}"
              for c in checks if c["idle"] is False]
    return lines


def target_groups(records: list[PerfRecord]) -> dict[tuple, list[PerfRecord]]:
    """Measured records grouped by (model, target, device, precision, software), sorted by batch size."""
    groups: dict[tuple, list[PerfRecord]] = defaultdict(list)
    for r in records:
        if r.status == MEASURED:
            groups[(r.model, r.target, r.device, r.precision, r.software)].append(r)
    return {k: sorted(v, key=lambda r: (r.batch_size or 0, r.mode)) for k, v in sorted(groups.items())}


def target_table(records: list[PerfRecord], facts: list[energy.DeviceFacts] = ()) -> str:
    """ms/batch, ms/frame, img/s (compute-only and end-to-end), memory, energy and cost per batch size;
    below it, each row's warnings and conditions (its notes column points there), and what the energy figures
    come from (or why there are none)."""
    headers = ["batch", "mode", "ms/batch mean", "ms/batch median", "ms/batch p99", "ms/frame",
               "img/s compute-only", "img/s end-to-end", "CV %", "host peak MiB", "device peak MiB", "J/image",
               "img/J", "avg W", "cost / 1M img", "source", "notes"]
    rows: list[list] = []
    bases: list[str] = []
    notes: list[str] = []
    for r in records:
        c = r.compute_ms
        cv = c.get("cv")
        e = energy.columns(r, list(facts))
        bases += [e["energy_basis"]] if e["energy_basis"] not in bases else []
        rows.append([fmt(r.batch_size), r.mode, fmt(c.get("mean"), 3), fmt(c.get("median"), 3),
                     _p99(c), fmt(r.ms_per_frame, 3), fmt(r.img_s_compute), fmt(r.img_s_e2e),
                     fmt(cv * 100 if cv is not None else None, 2), fmt(r.memory.get("host_peak_rss_mib")),
                     fmt(r.memory.get("device_peak_mib")), fmt_sig(e["j_per_image"]), fmt(e["img_per_j"], 2),
                     fmt(e["watts"]), _cost(e), r.source, _note_cell(r, notes)])
    return (md_table(headers, rows) + "\n\n" + "".join(f"{line}\n" for line in notes)
            + "\n".join(f"Energy: {basis}" for basis in bases))


def _note_cell(record: PerfRecord, notes: list[str]) -> str:
    """The notes cell of a row ('-', '[n]' or 'warning [n]'); its note, numbered, appended to `notes`."""
    parts = ([f"**warning**: {record.warning}"] if record.warning else []) + \
        ([f"conditions: {record.conditions}"] if record.conditions else [])
    if not parts:
        return "-"
    notes.append(f"- [{len(notes) + 1}] batch {fmt(record.batch_size)}, {record.mode}: {'; '.join(parts)}")
    return f"{'warning ' if record.warning else ''}[{len(notes)}]"


class WarningMarks:
    """Footnote marks of the warned figures of a comparison: '[!n]' after a figure, one note per warned run."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self._marks: dict[tuple, str] = {}

    def mark(self, *records: PerfRecord | None) -> str:
        """' [!n]' (several joined) for the records among `records` that carry a warning; '' where none does."""
        marks = [self._mark_of(r) for r in records if r is not None and r.warning]
        return (" " + "".join(dict.fromkeys(marks))) if marks else ""

    def _mark_of(self, record: PerfRecord) -> str:
        key = (record.source, record.device, record.batch_size, record.warning)  # one log may hold several runs
        if key not in self._marks:
            self._marks[key] = f"[!{len(self._marks) + 1}]"
            self.notes.append(f"- {self._marks[key]} {record.device}, {record.precision}, batch "
                              f"{fmt(record.batch_size)} ({record.source}): **warning**: {record.warning}")
        return self._marks[key]

    def text(self) -> str:
        return ("\n\nWarnings the runs recorded with these figures:\n\n" + "\n".join(self.notes)) if self.notes else ""


def _p99(compute_ms: dict) -> str:
    """The p99, and what it is where its batches are too few for it to be more than the slowest ones."""
    from harness.summary_views import few_batches_p99_note

    note = few_batches_p99_note(compute_ms.get("count"))
    return fmt(compute_ms.get("p99"), 3) + (f" ({note})" if note else "")


def _cost(columns: dict) -> str:
    return f"{columns['cost_per_million']:,.2f} {columns['currency']}" if columns["cost_per_million"] else "-"


def comparison_table(comparison: Comparison) -> str:
    """img/s per batch size per series, side by side; the last row holds each series' best. A figure whose run
    recorded a warning carries a mark, and the warning is listed below the table."""
    marks = WarningMarks()
    headers = ["batch"] + [s.label for s in comparison.series]
    rows = [[fmt(batch)] + [_marked(s.img_s(batch), marks, s.by_batch.get(batch)) for s in comparison.series]
            for batch in comparison.batch_sizes]
    best = [_best_record(s, comparison.batch_sizes) for s in comparison.series]
    rows.append(["best"] + [_marked(r.img_s_compute if r else None, marks, r) for r in best])
    return md_table(headers, rows) + marks.text()


def _marked(value: float | None, marks: WarningMarks, *records: PerfRecord | None, digits: int = 1) -> str:
    text = fmt(value, digits)
    return text + marks.mark(*records) if text != "-" else text


def ratio_table(comparison: Comparison) -> str:
    """Each series' img/s over the baseline's at the same batch size, and best over best; a ratio of a warned
    figure (either side) carries its mark."""
    base = comparison.baseline
    others = [s for s in comparison.series if s is not base]
    if base is None or not others:
        return "No second series to compare."
    marks = WarningMarks()
    rows = [[fmt(batch)] + [_marked(comparison.ratio(s, batch), marks, s.by_batch.get(batch),
                                    base.by_batch.get(batch), digits=3) for s in others]
            for batch in comparison.batch_sizes]
    base_best, best_row = _best_record(base, comparison.batch_sizes), ["best / best"]
    for s in others:
        best = _best_record(s, comparison.batch_sizes)
        ratio = (best.img_s_compute / base_best.img_s_compute
                 if best and base_best and best.img_s_compute and base_best.img_s_compute else None)
        best_row.append(_marked(ratio, marks, best, base_best, digits=3))
    rows.append(best_row)
    return md_table(["batch"] + [s.label for s in others], rows) + marks.text()


def _best_record(series: Series, batches: list[int]) -> PerfRecord | None:
    """The record of the series' highest compute-only img/s over `batches`; None where it has no figure."""
    records = [series.by_batch[b] for b in batches if b in series.by_batch and series.img_s(b)]
    return max(records, key=lambda r: r.img_s_compute or 0.0, default=None)


def series_legend(comparison: Comparison) -> str:
    """Each column's full description: software, conditions and where the numbers come from."""
    lines = []
    for s in comparison.series:
        sources = sorted({r.source for r in s.by_batch.values()})
        conditions = sorted({r.conditions for r in s.by_batch.values() if r.conditions})
        where = "; ".join(sources[:3]) + (f" (+{len(sources) - 3} more)" if len(sources) > 3 else "")
        warned = sum(1 for r in s.by_batch.values() if r.warning)
        lines.append(f"- **{s.label}**: {s.software}; {s.status}"
                     + (f"; {'; '.join(conditions[:2])}" if conditions else "")
                     + (f"; **{warned} of {len(s.by_batch)} batch sizes carry a warning** (marked [!n])"
                        if warned else "") + f"; source: {where}")
    return "\n".join(lines)


def published_table(records: list[PerfRecord], facts: list[energy.DeviceFacts] = ()) -> str:
    """Published rows; board power and img/J only from the datasheet (nominal), never measured."""
    rows = []
    for r in records:
        e = energy.columns(r, list(facts))
        rows.append([r.model, r.device, r.precision, fmt(r.batch_size), fmt(r.gpus), fmt(r.reported_img_s), r.mode,
                     fmt(e["watts"]), fmt(e["img_per_j"], 2), _cost(e), r.software, r.conditions, r.source,
                     "published"])
    return md_table(["model", "device", "precision", "batch", "GPUs", "img/s", "metric", "board W (nominal)",
                     "img/J (nominal)", "cost / 1M img", "software", "conditions", "source", "status"], rows)


def parity_table(records: list[ParityRecord]) -> str:
    rows = [[r.a, r.b, r.profile, fmt(r.count), fmt(r.top1_agreement * 100, 2), fmt_sig(r.cosine_min),
             fmt_sig(r.max_rel_err), "PASS" if r.passed else "FAIL", r.source] for r in records]
    return md_table(["A (under test)", "B (reference)", "profile", "samples", "top-1 agreement %",
                     "cosine min", "max rel err", "verdict", "source"], rows)


def calib_sweep_table(sweep: dict) -> str:
    """Seed 000 Table 3: int8 top-1/top-5 per calibration count and method, with the fp32 reference."""
    lines = [f"{sweep['model']} (source: {sweep['source']}; count 0 is the fp32 reference, scored on the "
             "images that did not calibrate)", "",
             "| precision | method | calibration images | scored images | top-1 % | top-5 % |", "|---|---|---|---|---|---|"]
    for row in sweep["rows"]:
        lines.append(f"| {row['precision']} | {row['method']} | {row['count']} | {row['scored']} | "
                     f"{row['top1']:.2f} | {row['top5']:.2f} |")
    return "\n".join(lines)
