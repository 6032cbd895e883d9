"""The one top-k scorer: postprocess, the parity report, the side-by-side check and the calibration sweep
all rank classes with `top_k`.

Ties: equal scores keep the lower class index first (a stable sort of the negated scores), so a run
scores the same on every machine.
"""
from __future__ import annotations

import numpy as np

from harness.errors import InputError
from tasks.classification.contract import class_offset


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Class indices of the k highest scores of each row, highest first; ties keep the lower index first."""
    values = np.asarray(scores)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)  # negating unsigned integers would wrap
    return np.argsort(-values, axis=-1, kind="stable")[..., :k]


def rank_of(order: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Position of each row's true class in `order` (0 = top-1), -1 where it is not among them."""
    matches = np.asarray(order) == np.asarray(truth).reshape(-1, 1)
    return np.where(matches.any(axis=1), matches.argmax(axis=1), -1)


def top_k_accuracy(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among their k highest scores."""
    return float((rank_of(top_k(scores, k), truth) >= 0).mean())


def score(outputs: dict[str, np.ndarray], labels: dict[str, int], topk: int) -> dict:
    """Top-k hits, ranks and per-image top classes of the labelled outputs (class indices without the
    background class of a 1001-class output)."""
    stems = [s for s in sorted(outputs) if s in labels]
    if not stems:
        raise InputError("no output has a label: the result directory and the label file name "
                         "different images; check --labels")
    logits = np.stack([outputs[s].reshape(-1) for s in stems]).astype(np.float32)
    n_classes = logits.shape[1]
    offset = class_offset(n_classes)
    truth = np.array([labels[s] + offset for s in stems])
    order = top_k(logits, max(topk, 5))
    rank = rank_of(order, truth)
    hits = np.array([(rank == k).sum() for k in range(topk)])
    return {"stems": stems, "truth": truth - offset, "order": order - offset, "rank": rank,
            "n_classes": n_classes, "cumulative": np.cumsum(hits) / len(stems)}
