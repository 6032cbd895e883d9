"""How far an output is from a reference output, defined once for convert's checks, compare and bench.

`a` is the output under test, `b` the reference; each row is one sample's flattened output:
    max_abs_err  = max |a - b|
    mean_abs_err = mean |a - b|
    max_rel_err  = max |a - b| / max |b|   (relative to the reference's largest magnitude, so a value
                                           near zero does not blow the figure up; inf when b is all
                                           zero and a is not, 0 when both are)
    cosine       = a.b / (|a| |b|)         (1 when both are zero, 0 when only one is)
    top-1 agrees = argmax a == argmax b
All in float64 whatever the outputs' dtype.
"""
from __future__ import annotations

import numpy as np


def _rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(1, -1) if x.ndim < 2 else x.reshape(x.shape[0], -1)


def row_errors(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """max_abs_err, mean_abs_err and max_rel_err of each row (the first axis is the sample)."""
    a, b = _rows(a), _rows(b)
    diff = np.abs(a - b)
    max_abs = diff.max(axis=1)
    peak_b = np.abs(b).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        max_rel = np.where(peak_b > 0, max_abs / peak_b, np.where(max_abs > 0, np.inf, 0.0))
    return {"max_abs_err": max_abs, "mean_abs_err": diff.mean(axis=1), "max_rel_err": max_rel}


def row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `a` with the same row of `b`."""
    a, b = _rows(a), _rows(b)
    norm_a, norm_b = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = np.einsum("ij,ij->i", a, b)
    both_zero = (norm_a == 0) & (norm_b == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = np.where(norm_a * norm_b > 0, dot / (norm_a * norm_b), 0.0)
    return np.where(both_zero, 1.0, np.clip(cosine, -1.0, 1.0))


def row_top1_agrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: does the largest value of `a` sit at the same index as the largest of `b`."""
    return _rows(a).argmax(axis=1) == _rows(b).argmax(axis=1)


def relative_error(result: np.ndarray, reference: np.ndarray) -> float:
    """max_rel_err over the whole array taken as one output (one scale for all of it)."""
    return float(row_errors(np.ravel(result), np.ravel(reference))["max_rel_err"][0])


def max_abs_error(result: np.ndarray, reference: np.ndarray) -> float:
    """max_abs_err over the whole array."""
    return float(row_errors(np.ravel(result), np.ravel(reference))["max_abs_err"][0])
