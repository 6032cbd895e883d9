"""The one top-k scorer: postprocess, the parity report, the side-by-side check and the calibration sweep
all rank classes with `top_k`.

Ties: equal scores keep the lower class index first (a stable sort of the negated scores), so a run
scores the same on every machine.
"""
from __future__ import annotations

import numpy as np

from harness.errors import InputError
from tasks.classification.contract import class_offset, label_in_classes

NO_CLASS = -1  # a column index that no ranking holds


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


def finite_rows(scores: np.ndarray) -> np.ndarray:
    """True for each row without NaN or an infinity. The ranking of any other row means nothing (NaN sorts last,
    so an all-NaN row ranks class 0 first): it is a miss at every k."""
    values = np.asarray(scores)
    if not np.issubdtype(values.dtype, np.floating):
        return np.ones(values.shape[:-1], dtype=bool)
    return np.isfinite(values).all(axis=-1)


def scored_ranks(scores: np.ndarray, truth: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(the k highest classes of each row, the rank of its true class among them): -1 where it is not among
    them or the row is not finite."""
    order = top_k(scores, k)
    return order, np.where(finite_rows(scores), rank_of(order, truth), -1)


def top_k_accuracy(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among their k highest scores (rows with NaN or inf miss)."""
    return float((scored_ranks(scores, truth, k)[1] >= 0).mean())


def score(outputs: dict[str, np.ndarray], labels: dict[str, int], topk: int) -> dict:
    """Top-k hits, ranks and per-image top classes of the labelled outputs (class indices without the
    background class of a 1001-class output); `non_finite` names the outputs holding NaN or an infinity, each a
    miss at every k."""
    stems = [s for s in sorted(outputs) if s in labels]
    if not stems:
        raise InputError("no output has a label: the result directory and the label file name "
                         "different images; check --labels")
    logits = np.stack([outputs[s].reshape(-1) for s in stems])
    # at least float32, never narrower than the outputs: float64 or int64 scores cast to float32 could tie
    # (or swap) classes the model told apart
    logits = logits.astype(np.result_type(logits.dtype, np.float32), copy=False)
    n_classes = logits.shape[1]
    offset = class_offset(n_classes)
    truth = np.array([labels[s] for s in stems])
    # the output column of each label; a label no class can match (negative, past the last class) matches no
    # column, so it never meets the background class of a 1001-class output
    columns = np.array([t + offset if label_in_classes(t, n_classes) else NO_CLASS for t in truth])
    order, rank = scored_ranks(logits, columns, max(topk, 5))
    hits = np.array([(rank == k).sum() for k in range(topk)])
    return {"stems": stems, "truth": truth, "order": order - offset, "rank": rank,
            "n_classes": n_classes, "cumulative": np.cumsum(hits) / len(stems),
            "non_finite": [stem for stem, finite in zip(stems, finite_rows(logits)) if not finite]}
