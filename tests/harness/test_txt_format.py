"""TXT outputs: the array formatter is byte-identical to ais_bench's per-value '%f ' on every kind of value."""
from __future__ import annotations

import numpy as np
import pytest

from harness.txt_format import format_txt, txt_per_input
from tests.conftest import ais_bench_txt


def assert_same_as_ais_bench(batch: np.ndarray) -> None:
    got = txt_per_input(batch)
    assert len(got) == batch.shape[0]
    for i, text in enumerate(got):
        assert text == ais_bench_txt(batch[i]), f"input {i}"


def test_random_float32_bit_patterns_of_every_magnitude():
    bits = np.random.default_rng(0).integers(0, 2**32, size=80_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values) & (np.abs(values) < 1e12)][:40_000]
    assert_same_as_ais_bench(values.reshape(40, 1000))


def test_logits_like_outputs():
    logits = (np.random.default_rng(1).standard_normal((8, 1000)) * 6).astype(np.float32)
    assert_same_as_ais_bench(logits)


def test_ties_round_half_to_even_and_signs_of_zero():
    ties = np.arange(-640, 640, dtype=np.float32) / 128  # k/128: exact ties at the seventh decimal for odd k
    edge = np.array([0.0, -0.0, -1e-9, 1e-9, 5e-7, -5e-7, 4.9999995e-7, 0.9999995, 9.9999995, 999.9999995,
                     1e-45, -1e-45, 999_999_999_999.0, -123_456.789, 1.0], dtype=np.float32)
    assert_same_as_ais_bench(ties.reshape(2, 640))
    assert_same_as_ais_bench(edge.reshape(1, -1))
    assert format_txt(np.array([-0.0, -1e-9], dtype=np.float32)) == b"-0.000000 -0.000000 \n"


def test_every_finite_float16():
    values = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    values = values[np.isfinite(values)]
    assert_same_as_ais_bench(values[:63_000].reshape(63, 1000))


@pytest.mark.parametrize("batch", [
    np.array([[np.nan, 1.0], [np.inf, -np.inf]], dtype=np.float32),  # not finite: the per-value path
    np.array([[1e13, 2.5]], dtype=np.float32),  # past 10**12
    np.arange(12, dtype=np.int64).reshape(3, 4) - 5,  # integers: '%d'
    np.random.default_rng(2).standard_normal((2, 7)),  # float64
], ids=["non-finite", "huge", "int64", "float64"])
def test_other_values_take_the_per_value_path(batch):
    assert_same_as_ais_bench(batch)


def test_outputs_with_more_dimensions_and_scalars():
    assert_same_as_ais_bench(np.random.default_rng(3).standard_normal((3, 2, 4, 5)).astype(np.float32))
    assert txt_per_input(np.array([1.5, -2.0], dtype=np.float32)) == [b"1.500000 \n", b"-2.000000 \n"]
    assert txt_per_input(np.empty((0, 10), dtype=np.float32)) == []
