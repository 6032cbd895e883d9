"""The classification accuracy record: the ModelZoo result.json table (exact format) and the details JSON."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from harness.contracts import ACCURACY_DETAILS_KIND, SCHEMA_VERSION
from tasks.classification.metrics import classification_metrics

MODELZOO_TITLE = "Overall statistical evaluation"


def percent(fraction: float) -> str:
    """ModelZoo style: str(round(x * 100, 2)) + '%', so trailing zeros are dropped (80.1%)."""
    return str(round(fraction * 100, 2)) + "%"


def modelzoo_table(count: int, n_classes: int, cumulative: np.ndarray) -> dict:
    values = [{"key": "Number of images", "value": str(count)},
              {"key": "Number of classes", "value": str(n_classes)}]
    values += [{"key": f"Top{k + 1} accuracy", "value": percent(float(acc))} for k, acc in enumerate(cumulative)]
    return {"title": MODELZOO_TITLE, "value": values}


def details(scored: dict, names: dict[int, str], unlabelled: list[str], missing: list[str],
            foreign: list[str]) -> dict:
    per_class: dict[int, list[int]] = {}
    confusion: dict[str, int] = {}
    images = []
    non_finite = set(scored.get("non_finite", ()))
    for stem, truth, order, rank in zip(scored["stems"], scored["truth"], scored["order"], scored["rank"]):
        entry = per_class.setdefault(int(truth), [0, 0])
        entry[0] += 1
        entry[1] += int(rank == 0)
        top = [] if stem in non_finite else order[:5]  # a NaN/inf output ranks nothing
        if rank != 0 and len(top):
            key = f"{int(truth)}->{int(top[0])}"
            confusion[key] = confusion.get(key, 0) + 1
        images.append({"stem": stem, "label": int(truth), "label_name": names.get(int(truth)),
                       "top5": [{"class": int(c), "name": names.get(int(c))} for c in top],
                       "correct_top1": bool(rank == 0), "rank": int(rank), "finite": stem not in non_finite})
    return {
        "kind": ACCURACY_DETAILS_KIND, "schema_version": SCHEMA_VERSION,
        "per_class_top1": {str(c): {"images": n, "correct": ok, "accuracy": ok / n, "name": names.get(c)}
                           for c, (n, ok) in sorted(per_class.items())},
        "precision_recall_f1": classification_metrics(scored["truth"], scored["order"][:, 0], names,
                                                      predicts=[stem not in non_finite for stem in scored["stems"]]),
        "confusions": dict(sorted(confusion.items(), key=lambda kv: (-kv[1], kv[0]))),
        "images": images,
        "outputs_without_label": unlabelled, "labels_without_output": missing, "not_results": foreign,
        "non_finite_outputs": sorted(non_finite), "non_finite_count": len(non_finite),
    }


def f1_line(detail: dict) -> str:
    macro, weighted = (detail["precision_recall_f1"][k] for k in ("macro", "weighted"))
    return (f"top-1 precision / recall / F1: macro {macro['precision']:.4f} / {macro['recall']:.4f} / "
            f"{macro['f1']:.4f}, weighted {weighted['precision']:.4f} / {weighted['recall']:.4f} / "
            f"{weighted['f1']:.4f} (per class in {{details}})")


@dataclass(frozen=True)
class ScoreSummary:
    """The top-1 precision, recall and F1 the report shows, read back from what `details` wrote."""

    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_f1: float

    @classmethod
    def from_details(cls, details: dict) -> "ScoreSummary | None":
        """None for details of a postprocess that wrote no scores (older runs)."""
        try:
            scores = details["precision_recall_f1"]
            return cls(macro_precision=float(scores["macro"]["precision"]), macro_recall=float(scores["macro"]["recall"]),
                       macro_f1=float(scores["macro"]["f1"]), weighted_f1=float(scores["weighted"]["f1"]))
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict:
        return asdict(self)
