"""Group performance records into series (one model on one device with one stack) and compare them.

A series is what one line of a plot or one column of the vendor table shows: the same model,
device, precision and software, measured or published. Per batch size it holds one record: a pure
inference run is preferred over a dataset run, then the run with more timed batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.vocabulary import InputForm, RunMode
from report.records import MEASURED, PerfRecord

MODE_PREFERENCE = {RunMode.PURE: 0, "trtexec": 0, "ais_bench": 0, "compute-only": 0, RunMode.DATASET: 1}


@dataclass
class Series:
    model: str
    device: str
    precision: str
    software: str
    status: str
    target: str
    input_form: str = ""  # '' for float32 CHW input (the default, and what runs before the field took)
    by_batch: dict[int, PerfRecord] = field(default_factory=dict)
    label_suffix: str = ""  # set when two series would otherwise share a label

    @property
    def key(self) -> tuple:
        return (self.model, self.device, self.precision, self.software, self.status, self.input_form)

    @property
    def label(self) -> str:
        return f"{self.device} {self.precision}{self._form}{self.label_suffix} [{self.status}]"

    @property
    def long_label(self) -> str:
        return f"{self.device}, {self.precision}{self._form}, {self.software} [{self.status}]"

    @property
    def _form(self) -> str:
        """A uint8 HWC input (normalised on the device) times other work than float32 CHW: said in the label."""
        return f" {self.input_form} input" if self.input_form else ""

    def img_s(self, batch: int) -> float | None:
        record = self.by_batch.get(batch)
        return record.img_s_compute if record else None


@dataclass
class Comparison:
    model: str
    batch_sizes: list[int]
    series: list[Series]
    baseline: Series | None
    baseline_note: str = ""

    def ratio(self, series: Series, batch: int) -> float | None:
        if self.baseline is None or series is self.baseline:
            return None
        mine, base = series.img_s(batch), self.baseline.img_s(batch)
        return mine / base if mine and base else None


def _better(candidate: PerfRecord, current: PerfRecord | None) -> bool:
    if current is None:
        return True
    rank = (MODE_PREFERENCE.get(candidate.mode, 2), -candidate.compute_ms.get("count", 0))
    return rank < (MODE_PREFERENCE.get(current.mode, 2), -current.compute_ms.get("count", 0))


def build_series(records: list[PerfRecord]) -> list[Series]:
    """Series with a compute-only figure per batch size, measured first, in a stable order."""
    found: dict[tuple, Series] = {}
    for record in records:
        if record.batch_size is None or record.img_s_compute is None:
            continue
        probe = Series(record.model, record.device, record.precision, record.software, record.status,
                       record.target, input_form=_non_default_form(record.input_form))
        series = found.setdefault(probe.key, probe)
        if _better(record, series.by_batch.get(record.batch_size)):
            series.by_batch[record.batch_size] = record
    measured = sorted((s for s in found.values() if s.status == MEASURED),
                      key=lambda s: (s.model, s.target, s.device, s.precision, s.software, s.input_form))
    published = [s for s in found.values() if s.status != MEASURED]
    return measured + published


def _non_default_form(form: str) -> str:
    return "" if form in ("", InputForm.FLOAT32) else form


def _disambiguate(series: list[Series]) -> None:
    """Two series with the same short label get their software appended so columns stay distinct."""
    labels = [s.label for s in series]
    for s in series:
        if labels.count(s.label) > 1:
            s.label_suffix = f" ({s.software})"


def compare_model(model: str, series: list[Series], baseline_hint: str | None) -> Comparison:
    """The vendor comparison for one model; ratios are img/s of a series over the baseline's."""
    mine = [s for s in series if s.model == model]
    _disambiguate(mine)
    batches = sorted({b for s in mine for b in s.by_batch})
    baseline, note = _pick_baseline(mine, baseline_hint)
    return Comparison(model=model, batch_sizes=batches, series=mine, baseline=baseline, baseline_note=note)


def _pick_baseline(series: list[Series], hint: str | None) -> tuple[Series | None, str]:
    if hint:
        matches = [s for s in series if hint.lower() in s.long_label.lower()]
        if matches:
            return matches[0], f"baseline chosen by --baseline {hint!r}"
    prefix = f"no series matches --baseline {hint!r}; " if hint else ""
    measured = [s for s in series if s.status == MEASURED]
    if measured:
        return measured[0], prefix + "baseline: the first measured series"
    if series:
        return series[0], prefix + "baseline: the first published series"
    return None, prefix + "no series"


def models_of(series: list[Series]) -> list[str]:
    """Models with at least one measured series first, then published-only models."""
    measured = sorted({s.model for s in series if s.status == MEASURED})
    return measured + sorted({s.model for s in series} - set(measured))
