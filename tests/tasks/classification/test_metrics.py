"""Precision, recall and F1: worked out by hand on small confusion matrices, then through postprocess and report."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.classification.metrics import classification_metrics
from tests.conftest import run_cli
from tests.postprocess.test_postprocess import scores, write_txt

# truth 0 0 0 1 1 2, predicted 0 0 1 1 2 2. By hand:
#   class 0: TP 2, predicted 2, labelled 3 -> P 1,   R 2/3, F1 2*(2/3)/(5/3) = 0.8
#   class 1: TP 1, predicted 2, labelled 2 -> P 1/2, R 1/2, F1 1/2
#   class 2: TP 1, predicted 2, labelled 1 -> P 1/2, R 1,   F1 2*(1/2)/(3/2) = 2/3
TRUTH, PREDICTED = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]
BY_HAND = {"0": (1.0, 2 / 3, 0.8, 3), "1": (0.5, 0.5, 0.5, 2), "2": (0.5, 1.0, 2 / 3, 1)}
MACRO = (2 / 3, (2 / 3 + 0.5 + 1) / 3, (0.8 + 0.5 + 2 / 3) / 3)
WEIGHTED = ((3 * 1 + 2 * 0.5 + 1 * 0.5) / 6, (3 * 2 / 3 + 2 * 0.5 + 1) / 6, (3 * 0.8 + 2 * 0.5 + 2 / 3) / 6)


def test_per_class_macro_and_weighted_scores_match_the_hand_computation():
    metrics = classification_metrics(TRUTH, PREDICTED)
    got = {c: (v["precision"], v["recall"], v["f1"], v["support"]) for c, v in metrics["per_class"].items()}
    assert sorted(got) == sorted(BY_HAND)
    for name, expected in BY_HAND.items():
        assert got[name] == pytest.approx(expected), name
    assert [metrics["macro"][k] for k in ("precision", "recall", "f1")] == pytest.approx(MACRO)
    assert [metrics["weighted"][k] for k in ("precision", "recall", "f1")] == pytest.approx(WEIGHTED)


def test_a_class_only_predicted_counts_zero_in_the_macro_mean_and_nothing_in_the_weighted_one():
    metrics = classification_metrics([0, 0], [0, 3])  # class 0: P 1, R 1/2, F1 2/3; class 3: all 0, support 0
    assert metrics["per_class"]["3"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "name": None}
    assert metrics["macro"]["f1"] == pytest.approx(1 / 3)
    assert metrics["weighted"]["f1"] == pytest.approx(2 / 3)


def test_postprocess_writes_them_and_the_report_shows_a_line(tmp_path):
    res = tmp_path / "res"
    for i, (truth, predicted) in enumerate(zip(TRUTH, PREDICTED)):
        write_txt(res, f"img{i}", scores([predicted]))
    (tmp_path / "labels.txt").write_text("".join(f"img{i}.JPEG {t}\n" for i, t in enumerate(TRUTH)))
    proc = run_cli("-m", "postprocess", "--result", str(res), "--labels", str(tmp_path / "labels.txt"))
    assert proc.returncode == 0, proc.stderr
    assert f"macro {MACRO[0]:.4f} / {MACRO[1]:.4f} / {MACRO[2]:.4f}" in proc.stdout
    scores_json = json.loads((res / "result_details.json").read_text())["precision_recall_f1"]
    assert scores_json["weighted"]["f1"] == pytest.approx(WEIGHTED[2])
    report = tmp_path / "report"
    proc = run_cli("-m", "report", "--input", str(res), "--output", str(report))
    assert proc.returncode == 0, proc.stderr
    text = (report / "report.md").read_text()
    assert f"F1 {MACRO[2] * 100:.2f} %; weighted F1 {WEIGHTED[2] * 100:.2f} %" in text


def test_the_report_reads_the_scores_back_through_the_record_that_writes_them():
    from tasks.classification.record import ScoreSummary, details

    scored = {"stems": ["a", "b", "c"], "truth": np.array([0, 1, 1]), "rank": np.array([0, 1, 0]),
              "order": np.array([[0, 1], [0, 1], [1, 0]])}
    read = ScoreSummary.from_details(details(scored, {}, [], [], []))
    assert read == ScoreSummary(macro_precision=0.75, macro_recall=0.75, macro_f1=pytest.approx(2 / 3),
                                weighted_f1=pytest.approx(2 / 3))
    assert ScoreSummary.from_details({"per_class_top1": {}}) is None  # a postprocess that wrote no scores
