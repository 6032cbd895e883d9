"""Per-class and averaged precision, recall and F1 of top-1 predictions.

Conventions as scikit-learn's defaults: the classes are those seen as a label or a prediction, a
ratio with a zero denominator counts as 0, macro averages every class equally and weighted averages
by each class's number of labelled images (support).
"""
from __future__ import annotations

import numpy as np


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def classification_metrics(truth, predicted, names: dict[int, str] | None = None, predicts=None) -> dict:
    """`predicts`: False for a row that predicts no class (an output holding NaN or inf): a miss for its label,
    counted for no class."""
    truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    predicts = np.ones(len(predicted), dtype=bool) if predicts is None else np.asarray(predicts, dtype=bool)
    classes = np.union1d(truth, predicted[predicts])
    true_positive = np.array([np.sum((truth == c) & (predicted == c) & predicts) for c in classes], dtype=np.float64)
    predicted_count = np.array([np.sum((predicted == c) & predicts) for c in classes], dtype=np.float64)
    support = np.array([np.sum(truth == c) for c in classes], dtype=np.float64)
    precision = _ratio(true_positive, predicted_count)
    recall = _ratio(true_positive, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    weights = support / support.sum() if support.sum() else support
    per_class = {str(int(c)): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n),
                               "name": (names or {}).get(int(c))}
                 for c, p, r, f, n in zip(classes, precision, recall, f1, support)}
    return {
        "definition": "top-1; classes seen as label or prediction; 0 where a denominator is 0",
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
        "weighted": {"precision": float(weights @ precision), "recall": float(weights @ recall),
                     "f1": float(weights @ f1)},
        "per_class": per_class,
    }
