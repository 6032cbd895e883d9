"""Score a result directory with its model's task: result.json (the task's record; for classification the
exact ModelZoo format) plus a details JSON."""
from __future__ import annotations

import json

from harness.contracts import InferSummary, read_run_summary
from harness.files import atomic_write_text, write_json
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


def run(config: PostprocessConfig) -> dict:
    summary = read_run_summary(config.result)
    task = run_task(summary)
    outputs = {name: read_outputs(config.result, index) for index, name in enumerate(task.outputs.names)}
    foreign = sorted(p.name for p in config.result.iterdir()
                     if p.is_file() and parse_output_name(p.name) is None and not p.name.endswith(".json"))
    record = task.evaluate(outputs, ScoringRequest(config.result, config.labels, config.classes, config.topk,
                                                   foreign))
    table = record.result
    labels = run_labels(summary)
    if labels:  # only labelled runs carry the extra key; others stay byte-identical to ModelZoo's
        table["labels"] = labels
    out = config.output or config.result / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(table))  # one line, as the ModelZoo script's json.dump writes it
    detail_path = config.details or out.with_name(out.stem + "_details.json")
    write_json(detail_path, record.details)
    for what, items in [*record.unmatched, ("files that are not results", foreign)]:
        if items:
            print(f"postprocess: warning: {len(items)} {what}, e.g. {items[0]} (see {detail_path.name})")
    print(f"postprocess: {record.count} images: {record.headline} -> {out}")
    for label in labels:
        print(f"postprocess: warning: {label}")
    for line in record.closing:
        print(f"postprocess: {line.format(details=detail_path.name)}")
    return table
