"""The one top-k scorer against orders worked out by hand, ties included (the lower class index first)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tasks.classification.scoring import rank_of, score, top_k, top_k_accuracy
from tests.conftest import ROOT

SCORES = np.array([[0.1, 0.5, 0.5, 0.2],   # tie between 1 and 2: 1 first
                   [3.0, 3.0, 3.0, 3.0],   # all equal: index order
                   [-1.0, 0.0, -1.0, 2.0],  # tie between 0 and 2 for third place: 0
                   [0.0, -0.0, 1.0, 0.5]], dtype=np.float32)  # -0.0 == 0.0: a tie, 0 first
BY_HAND_TOP3 = [[1, 2, 3], [0, 1, 2], [3, 1, 0], [2, 3, 0]]


def test_top_k_matches_the_orders_worked_out_by_hand():
    assert top_k(SCORES, 3).tolist() == BY_HAND_TOP3
    assert top_k(SCORES, 1).tolist() == [[1], [0], [3], [2]]
    assert top_k(SCORES.astype(np.float16), 3).tolist() == BY_HAND_TOP3
    assert top_k(SCORES.astype(np.float64), 3).tolist() == BY_HAND_TOP3


def test_top_k_of_unsigned_integers_does_not_wrap():
    assert top_k(np.array([[0, 255, 7, 7]], dtype=np.uint8), 4).tolist() == [[1, 2, 3, 0]]


def test_top_k_longer_than_the_classes_gives_every_class():
    assert top_k(np.array([[0.2, 0.9]]), 5).tolist() == [[1, 0]]


def test_rank_of_and_accuracy_by_hand():
    order = np.array(BY_HAND_TOP3)
    assert rank_of(order, np.array([2, 3, 0, 2])).tolist() == [1, -1, 2, 0]
    assert top_k_accuracy(SCORES, np.array([1, 0, 3, 2]), 1) == 1.0
    assert top_k_accuracy(SCORES, np.array([2, 0, 3, 0]), 1) == 0.5  # class 2 loses its tie with 1; 0 with 2
    assert top_k_accuracy(SCORES, np.array([2, 3, 0, 0]), 3) == 0.75  # row 1: class 3 is fourth


def test_score_by_hand_with_the_background_class_of_1001_outputs():
    a, b = np.zeros(1001, np.float32), np.zeros(1001, np.float32)
    a[[5, 9]] = [2.0, 1.0]   # label 4 is class 5 of a 1001-way output: top-1
    b[[7, 3]] = [1.0, 1.0]   # tie: class 3 first, so labels 2, 6 are at ranks 0 and 1
    scored = score({"a": a, "b": b, "c": a}, {"a": 4, "b": 6}, topk=2)
    assert scored["stems"] == ["a", "b"]  # c has no label
    assert scored["n_classes"] == 1001
    assert scored["truth"].tolist() == [4, 6]
    assert scored["order"][:, :2].tolist() == [[4, 8], [2, 6]]
    assert scored["rank"].tolist() == [0, 1]
    assert scored["cumulative"].tolist() == [0.5, 1.0]


def test_score_without_a_labelled_output_is_one_clear_error():
    from harness.errors import InputError

    with pytest.raises(InputError, match="no output has a label"):
        score({"a": np.zeros(3)}, {"b": 1}, topk=1)


def test_no_other_module_ranks_classes_itself():
    """Every top-k goes through tasks/classification/scoring.py: no other product module calls argsort."""
    scorer = ROOT / "tasks" / "classification" / "scoring.py"
    callers = []
    for package in ("harness", "preprocess", "convert", "infer", "postprocess", "report", "targets", "tasks"):
        for path in (ROOT / package).rglob("*.py"):
            if path == scorer or "sim" in path.relative_to(ROOT).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Attribute) and node.attr == "argsort":
                    callers.append(str(Path(path).relative_to(ROOT)))
    assert callers == []
