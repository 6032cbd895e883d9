"""The summary's figures against independent computations: the median's confidence interval, the labels of
compute-only figures that count padding or did not become stable, and a p99 of few batches."""
from __future__ import annotations

import math
from math import comb

import numpy as np
import pytest

from harness.contracts import InferSummary
from harness.stats import median_ci95_halfwidth, summarize_ms


def coverage(n: int, k: int) -> float:
    """P(x_(k) < median < x_(n-1-k)), 0-based order statistics of n draws: B ~ Binomial(n, 1/2) in [k+1, n-1-k]."""
    return sum(comb(n, b) for b in range(k + 1, n - k)) / 2 ** n


def rank_used(values: list[float]) -> int:
    """Which order statistic median_ci95_halfwidth took, read back from its half-width on 0, 1, ..., n-1."""
    n = len(values)
    half = median_ci95_halfwidth(values) * float(np.median(values))
    return round((n - 1 - 2 * half) / 2)


@pytest.mark.parametrize("n", [6, 7, 10, 25, 50, 51, 100, 257, 1000])
def test_the_median_interval_covers_95_percent_and_is_the_narrowest_that_does(n):
    values = [float(v) for v in range(1, n + 1)]
    k = rank_used(values)
    assert coverage(n, k) >= 0.95
    assert k == (n - 1) // 2 or coverage(n, k + 1) < 0.95


def test_the_median_interval_of_100_is_the_textbook_pair():
    # 95% interval of the median of 100 draws: the 40th and the 61st values (1-based; Conover's table)
    values = [float(v) for v in range(1, 101)]  # x_(r) = r
    assert median_ci95_halfwidth(values) == pytest.approx((61 - 40) / 2 / 50.5)


def test_too_few_values_have_no_interval():
    assert median_ci95_halfwidth([1.0, 2.0, 3.0, 4.0, 5.0]) == math.inf
    assert median_ci95_halfwidth([]) == math.inf


def summary(**fields) -> InferSummary:
    compute = fields.pop("compute_ms", [2.0] * 120)
    base = dict(target="null", device="0", artifact="a", model="m", precision="fp32", batch_size=4,
                mode="dataset", outfmt="BIN", num_inputs=10, num_batches=3, padded_slots=0, compute_ms=compute,
                timings={"compute": summarize_ms(compute)}, throughput={"compute_only": 2000.0, "end_to_end": 1.0})
    return InferSummary(**{**base, **fields})


def test_padded_rows_label_the_compute_only_figure():
    padded = summary(padded_slots=2)  # 10 inputs in 3 batches of 4: 2 of 12 rows padding
    assert "compute-only counts padded rows (16.7% of the rows run)" in padded.timing_labels
    whole = summary(num_inputs=12, padded_slots=0)
    assert whole.timing_labels == []
    trace = summary(num_inputs=799, num_batches=200, padded_slots=1)  # 1 of 800 rows: not worth a label
    assert trace.timing_labels == []


def test_repeated_inputs_label_the_end_to_end_figure():
    assert summary(extra={"runs_per_input": 3}).timing_labels == [
        "end-to-end over 3 runs of each input (each read and written once)"]
    assert summary(extra={"runs_per_input": 1}).timing_labels == []


def test_a_median_that_did_not_become_stable_is_labelled():
    unstable = summary(extra={"median_ci95": {"asked": 0.01, "reached": 0.034, "batches": 40, "stable": False}})
    assert unstable.timing_labels == ["median not stable: 95% CI +-3.4%, --stable_ci asked +-1%"]
    stable = summary(extra={"median_ci95": {"asked": 0.01, "reached": 0.004, "batches": 40, "stable": True}})
    assert stable.timing_labels == []
    damaged = summary(extra={"median_ci95": {"stable": False, "asked": "x"}})
    assert damaged.timing_labels == ["median not stable: 95% CI unknown, --stable_ci asked unknown"]


def test_a_p99_of_few_batches_says_so():
    assert summary(compute_ms=[1.0] * 9).percentile_label == "p99 of 9 batches: between the two slowest"
    assert summary(compute_ms=[1.0] * 100).percentile_label == "p99 of 100 batches: between the two slowest"
    assert summary(compute_ms=[1.0] * 101).percentile_label == ""  # p99 is the 100th of 101: a batch of its own
