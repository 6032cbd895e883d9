"""Score a result directory with its model's task: result.json (the task's record; for classification the
exact ModelZoo format) plus a details JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from harness.contracts import INFER_RECORD_NAME, InferSummary, infer_in_progress, run_summary_file
from harness.errors import BusyError, InputError
from harness.files import atomic_write_text, sha256_file, write_json
from harness.locks import held_by
from harness.output_formats import parse_output_name
from harness.outputs import read_outputs
from postprocess.cli import PostprocessConfig
from tasks import ScoringRequest, Task, task_for_model


def run_labels(summary: InferSummary | None) -> list[str]:
    """The labels infer gave the run (random weights, preprocess mismatch, calibration overlap)."""
    return summary.run_labels if summary is not None else []


def run_task(summary: InferSummary | None) -> Task:
    """The task of the run's model (the registry names it); classification when the run has no summary."""
    return task_for_model(summary.model if summary is not None else None)


def refuse_unfinished(directory: Path) -> None:
    """Outputs of a run still writing, or of one that stopped before its end, are not a result."""
    holder = held_by(directory)
    if holder is not None:
        raise BusyError(f"{directory}: a run ({holder}) is still writing this directory; wait for it to finish, "
                        "then postprocess")
    if infer_in_progress(directory):
        raise InputError(f"{directory}: its infer run has not finished ({INFER_RECORD_NAME} is there); "
                         "rerun the same infer command to finish it, then postprocess")


def check_writable(path: Path, flag: str) -> Path:
    """`path` as a file to write: one line when a directory is there, or a file where a directory must be."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; pass a file path (e.g. {path / 'result.json'}) with {flag}")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise InputError(f"{blocker}: a file, not a directory, so {path} cannot be written; choose another {flag}")
    return path


def write_file(path: Path, flag: str, write: Callable[[Path], None]) -> None:
    """Make the directories of `path` and `write` it (a full disk is its own one line, harness/files.py)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot be written ({exc.strerror}); choose another {flag}") from None


def run(config: PostprocessConfig) -> dict:
    refuse_unfinished(config.result)
    out = check_writable(config.output or config.result / "result.json", "--output")
    details_flag = "--details" if config.details else "--output"
    detail_path = check_writable(config.details or out.with_name(out.stem + "_details.json"), details_flag)
    summary_path = run_summary_file(config.result)
    summary = InferSummary.read_file(summary_path) if summary_path is not None else None
    task = run_task(summary)
    outputs = {name: read_outputs(config.result, index) for index, name in enumerate(task.outputs.names)}
    foreign = sorted(p.name for p in config.result.iterdir()
                     if p.is_file() and parse_output_name(p.name) is None and not p.name.endswith(".json"))
    record = task.evaluate(outputs, ScoringRequest(config.result, config.labels, config.classes, config.topk,
                                                   foreign))
    table = record.result
    if summary_path is not None:  # which run these figures are of: the report shows them only beside that run
        record.details["run_summary"] = {"file": summary_path.name, "sha256": sha256_file(summary_path)}
    labels = run_labels(summary) + record.labels
    if labels:  # only labelled runs carry the extra key; others stay byte-identical to ModelZoo's
        table["labels"] = labels
    # one line, as the ModelZoo script's json.dump writes it
    write_file(out, "--output", lambda path: atomic_write_text(path, json.dumps(table)))
    write_file(detail_path, details_flag, lambda path: write_json(path, record.details))
    for what, items in [*record.unmatched, ("files that are not results", foreign)]:
        if items:
            print(f"postprocess: warning: {len(items)} {what}, e.g. {items[0]} (see {detail_path.name})")
    print(f"postprocess: {record.count} images: {record.headline} -> {out}")
    for label in labels:
        print(f"postprocess: warning: {label}")
    for line in record.closing:
        print(f"postprocess: {line.format(details=detail_path.name)}")
    return table
