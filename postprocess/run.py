"""Score outputs against labels: the ModelZoo result.json (exact format) plus a details JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.contracts import ACCURACY_DETAILS_KIND, SCHEMA_VERSION, read_run_summary
from harness.errors import InputError
from harness.files import atomic_write_text, write_json
from harness.output_formats import parse_output_name
from harness.outputs import read_outputs
from postprocess.checks import check_same_length, report_labels_outside
from postprocess.cli import PostprocessConfig
from postprocess.labels import read_class_names, read_labels
from postprocess.metrics import classification_metrics


def percent(fraction: float) -> str:
    """ModelZoo style: str(round(x * 100, 2)) + '%', so trailing zeros are dropped (80.1%)."""
    return str(round(fraction * 100, 2)) + "%"


def modelzoo_table(count: int, n_classes: int, cumulative: np.ndarray) -> dict:
    values = [{"key": "Number of images", "value": str(count)},
              {"key": "Number of classes", "value": str(n_classes)}]
    values += [{"key": f"Top{k + 1} accuracy", "value": percent(float(acc))} for k, acc in enumerate(cumulative)]
    return {"title": "Overall statistical evaluation", "value": values}


def class_offset(n_classes: int) -> int:
    """1 for 1001-class outputs, whose index 0 is the background class; else 0."""
    return 1 if n_classes == 1001 else 0


def score(outputs: dict[str, np.ndarray], labels: dict[str, int], topk: int) -> dict:
    """Top-k hits, per-class counts, confusion pairs and per-image predictions for labelled outputs."""
    stems = [s for s in sorted(outputs) if s in labels]
    if not stems:
        raise InputError("no output has a label: the result directory and the label file name "
                         "different images; check --labels")
    logits = np.stack([outputs[s].reshape(-1) for s in stems]).astype(np.float32)
    n_classes = logits.shape[1]
    offset = class_offset(n_classes)
    truth = np.array([labels[s] + offset for s in stems])
    order = np.argsort(-logits, axis=1, kind="stable")[:, :max(topk, 5)]
    rank = np.full(len(stems), -1)
    for k in range(order.shape[1] - 1, -1, -1):
        rank[order[:, k] == truth] = k
    hits = np.array([(rank == k).sum() for k in range(topk)])
    return {"stems": stems, "truth": truth - offset, "order": order - offset, "rank": rank,
            "n_classes": n_classes, "cumulative": np.cumsum(hits) / len(stems)}


def details(scored: dict, names: dict[int, str], unlabelled: list[str], missing: list[str],
            foreign: list[str]) -> dict:
    per_class: dict[int, list[int]] = {}
    confusion: dict[str, int] = {}
    images = []
    for stem, truth, order, rank in zip(scored["stems"], scored["truth"], scored["order"], scored["rank"]):
        entry = per_class.setdefault(int(truth), [0, 0])
        entry[0] += 1
        entry[1] += int(rank == 0)
        if rank != 0:
            key = f"{int(truth)}->{int(order[0])}"
            confusion[key] = confusion.get(key, 0) + 1
        images.append({"stem": stem, "label": int(truth), "label_name": names.get(int(truth)),
                       "top5": [{"class": int(c), "name": names.get(int(c))} for c in order[:5]],
                       "correct_top1": bool(rank == 0), "rank": int(rank)})
    return {
        "kind": ACCURACY_DETAILS_KIND, "schema_version": SCHEMA_VERSION,
        "per_class_top1": {str(c): {"images": n, "correct": ok, "accuracy": ok / n, "name": names.get(c)}
                           for c, (n, ok) in sorted(per_class.items())},
        "precision_recall_f1": classification_metrics(scored["truth"], scored["order"][:, 0], names),
        "confusions": dict(sorted(confusion.items(), key=lambda kv: (-kv[1], kv[0]))),
        "images": images,
        "outputs_without_label": unlabelled, "labels_without_output": missing, "not_results": foreign,
    }


def run_labels(result_dir: Path) -> list[str]:
    """The labels infer gave the run (random weights, preprocess mismatch, calibration overlap)."""
    summary = read_run_summary(result_dir)
    return summary.run_labels if summary is not None else []


def run(config: PostprocessConfig) -> dict:
    outputs = read_outputs(config.result)
    check_same_length(outputs, config.result)
    labels = read_labels(config.labels)
    names = read_class_names(config.classes)
    unlabelled = sorted(s for s in outputs if s not in labels)
    missing = sorted(s for s in labels if s not in outputs)
    foreign = sorted(p.name for p in config.result.iterdir()
                     if p.is_file() and parse_output_name(p.name) is None and not p.name.endswith(".json"))
    scored = score(outputs, labels, config.topk)
    report_labels_outside(labels, scored["stems"], scored["n_classes"], config.labels)
    table = modelzoo_table(len(scored["stems"]), scored["n_classes"], scored["cumulative"])
    labels = run_labels(config.result)
    if labels:  # only labelled runs carry the extra key; others stay byte-identical to ModelZoo's
        table["labels"] = labels
    out = config.output or config.result / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(table))  # one line, as the ModelZoo script's json.dump writes it
    detail_path = config.details or out.with_name(out.stem + "_details.json")
    detail = details(scored, names, unlabelled, missing, foreign)
    write_json(detail_path, detail)
    for what, items in (("outputs without a label (not counted)", unlabelled),
                        ("labels without an output", missing), ("files that are not results", foreign)):
        if items:
            print(f"postprocess: warning: {len(items)} {what}, e.g. {items[0]} (see {detail_path.name})")
    tops = ", ".join(f"{v['key']} {v['value']}" for v in table["value"][2:])
    print(f"postprocess: {len(scored['stems'])} images: {tops} -> {out}")
    for label in labels:
        print(f"postprocess: warning: {label}")
    macro, weighted = (detail["precision_recall_f1"][k] for k in ("macro", "weighted"))
    print(f"postprocess: top-1 precision / recall / F1: macro {macro['precision']:.4f} / {macro['recall']:.4f} / "
          f"{macro['f1']:.4f}, weighted {weighted['precision']:.4f} / {weighted['recall']:.4f} / "
          f"{weighted['f1']:.4f} (per class in {detail_path.name})")
    return table
