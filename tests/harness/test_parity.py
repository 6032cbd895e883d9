"""The parity figures against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.parity import max_abs_error, relative_error, row_cosine, row_errors, row_top1_agrees


def test_row_errors_by_hand():
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    b = np.array([[1.0, 2.5, 4.0], [0.0, 0.0, 0.0]])
    errors = row_errors(a, b)
    assert errors["max_abs_err"].tolist() == [1.0, 1.0]
    assert errors["mean_abs_err"].tolist() == pytest.approx([0.5, 1 / 3])
    assert errors["max_rel_err"][0] == 0.25  # 1 / max|b| = 1 / 4
    assert math.isinf(errors["max_rel_err"][1])  # a reference of zeros and an output that is not


def test_equal_zero_outputs_have_no_error_and_full_cosine():
    zeros = np.zeros((1, 4))
    assert row_errors(zeros, zeros)["max_rel_err"].tolist() == [0.0]
    assert row_cosine(zeros, zeros).tolist() == [1.0]
    assert row_cosine(zeros, np.ones((1, 4))).tolist() == [0.0]


def test_cosine_by_hand():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    b = np.array([[2.0, 0.0], [1.0, 0.0], [-3.0, 0.0]])
    assert row_cosine(a, b) == pytest.approx([1.0, 1 / math.sqrt(2), -1.0])


def test_top1_agreement_per_row():
    a = np.array([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3]])
    b = np.array([[0.0, 2.0, 1.0], [0.1, 0.8, 0.1]])
    assert row_top1_agrees(a, b).tolist() == [True, False]


def test_whole_array_figures_use_one_scale_for_all_samples():
    result = np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32)
    reference = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    assert max_abs_error(result, reference) == 0.5
    assert relative_error(result, reference) == 0.5 / 4.0
