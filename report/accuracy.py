"""Accuracy rows: a ModelZoo result.json with the infer run it scored, or the reason its figures are not shown.

A result.json counts for the run whose summary sits beside its directory (or inside it) only when it scored that
run (its details file names the summary's content hash; an older postprocess wrote none) and as many outputs as
the run wrote. Otherwise it scored an earlier run (infer ran again into the same directory, with another model) or
a run still writing its outputs, and the row says so instead of showing its numbers. File times are not compared:
a copy (cp -r, a fleet's store) does not keep their order. A result.json without a run summary (from elsewhere)
is shown with its report-meta.json.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from harness.contracts import ACCURACY_DETAILS_KIND, InferSummary, checked_schema_version
from harness.errors import HarnessError
from harness.files import read_json, sha256_file
from report.records import AccuracyRecord, read_modelzoo_result, run_labels, summary_from_dict
from tasks.classification.record import ScoreSummary

NOT_SHOWN = "accuracy not shown"


def accuracy_record(path: Path, read_meta: Callable[[], dict]) -> AccuracyRecord:
    """The row of one result.json; `read_meta` gives its report-meta.json where it has no run summary."""
    values = read_modelzoo_result(path)
    details = _details_of(path)
    summary_path, summary, problem = _run_of(path)
    if summary is not None:
        problem = why_not_this_run(path, values, details, summary_path, summary)
    row = _run_columns(summary) if summary is not None else _meta_columns(path, read_meta)
    # result.json adds the scoring's own labels (top-k columns that hold every class) to the run's
    shown = [row["labels"]] if row.get("labels") else []
    shown += [label for label in values.get("labels") or [] if not any(label in part for part in shown)]
    row["labels"] = "; ".join(filter(None, [problem, *shown]))
    if problem:
        return AccuracyRecord(**row, images=None, top1=None, top5=None, source=str(path))
    return AccuracyRecord(**row, images=values["images"], top1=values["top1"], top5=values["top5"], source=str(path),
                          **_f1_scores(details))


def why_not_this_run(path: Path, values: dict, details: dict | None, summary_path: Path,
                     summary: InferSummary) -> str | None:
    """Why a result.json's figures are not the accuracy of the run in `summary_path`; None when they are."""
    scored_run = (details or {}).get("run_summary")
    if isinstance(scored_run, dict) and scored_run.get("sha256") != sha256_file(summary_path):
        return (f"{NOT_SHOWN}: {path.name} scored another run than the one {summary_path.name} describes (infer "
                "ran again into the directory since); rerun postprocess")
    scored = _outputs_scored(values, details)
    written = summary.num_inputs + _resumed_after(summary)
    if scored != written:
        return (f"{NOT_SHOWN}: {path.name} scored {scored if scored is not None else 'an unknown number of'} "
                f"outputs, the run summary {summary_path.name} says the run wrote {written}; rerun "
                "postprocess")
    return None


def _resumed_after(summary: InferSummary) -> int:
    """Inputs an interrupted part of the run wrote before this summary's process resumed it."""
    done = summary.extra.get("resumed_after")
    return done if isinstance(done, int) and not isinstance(done, bool) and done > 0 else 0


def _outputs_scored(values: dict, details: dict | None) -> int | None:
    """How many outputs postprocess read: the scored images plus the outputs it found no label for (both in the
    details file); without a details file, the images result.json counts."""
    if details is not None:
        images, unlabelled = details.get("images"), details.get("outputs_without_label")
        if isinstance(images, list) and isinstance(unlabelled, list):
            return len(images) + len(unlabelled)
    return values["images"]


def _run_columns(summary: InferSummary) -> dict:
    device = summary.device_name or summary.device
    if summary.simulated:
        device = f"simulated {summary.target} runtime"
    return {"model": summary.model, "target": summary.target, "device": device, "precision": summary.precision,
            "batch_size": summary.batch_size, "labels": "; ".join(run_labels(summary))}


def _meta_columns(path: Path, read_meta: Callable[[], dict]) -> dict:
    meta = read_meta()
    return {"model": meta.get("model", path.parent.name), "target": meta.get("target", "unknown"),
            "device": meta.get("device", "unknown"), "precision": meta.get("precision", "unknown"),
            "batch_size": meta.get("batch_size")}


def _details_of(result_json: Path) -> dict | None:
    """The details JSON postprocess wrote beside result.json; None for an older postprocess or a result.json
    from elsewhere. A details file of a newer schema is refused."""
    path = result_json.with_name(result_json.stem + "_details.json")
    try:
        details = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(details, dict):
        return None
    checked_schema_version(details, str(path), ACCURACY_DETAILS_KIND)
    return details


def _f1_scores(details: dict | None) -> dict:
    """Macro/weighted precision, recall and F1 of the top-1 class from the details JSON."""
    scores = ScoreSummary.from_details(details) if details is not None else None
    return scores.to_dict() if scores is not None else {}


def run_summary_path_of(result_json: Path) -> Path | None:
    """Where the summary of the run a result.json scored would be (inside its directory or beside it); None
    where neither file is there."""
    directory = result_json.parent
    for candidate in (directory / InferSummary.FILENAME, directory.parent / f"{directory.name}_summary.json"):
        if candidate.is_file():
            return candidate
    return None


def _run_of(result_json: Path) -> tuple[Path | None, InferSummary | None, str | None]:
    """(path, summary, why it cannot be read) of the harness infer run a result.json scored: its summary inside
    its directory or beside it. An ais_bench summary there is not the harness's: as if there were none."""
    directory = result_json.parent
    for candidate in (directory / InferSummary.FILENAME, directory.parent / f"{directory.name}_summary.json"):
        if not candidate.is_file():
            continue
        try:
            data = read_json(candidate, "infer summary")
            if isinstance(data, dict) and data.get("kind") == InferSummary.KIND:
                return candidate, summary_from_dict(data, candidate), None
        except HarnessError as exc:
            return candidate, None, f"{NOT_SHOWN}: its run summary cannot be read ({exc})"
    return None, None, None
