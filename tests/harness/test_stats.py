"""The two throughput definitions, checked by hand against README "What each number means"."""
from __future__ import annotations

from harness.stats import compute_only_throughput, end_to_end_throughput, summarize_ms


def test_compute_only_is_1000_times_batch_over_mean_compute_ms():
    compute_ms = [4.0, 5.0, 6.0]  # mean 5 ms per batch of 8 images
    mean = summarize_ms(compute_ms)["mean"]
    assert compute_only_throughput(8, mean) == 1600.0  # 8 images every 5 ms


def test_end_to_end_is_images_over_host_walltime():
    assert end_to_end_throughput(250, 2.0) == 125.0
    assert end_to_end_throughput(7, 0.5) == 14.0


def test_nothing_timed_gives_zero_not_a_division_error():
    assert compute_only_throughput(8, 0.0) == 0.0
    assert end_to_end_throughput(10, 0.0) == 0.0
