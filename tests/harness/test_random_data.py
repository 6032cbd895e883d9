"""Pure mode's random values: the spread of normalised pixels, and never a zero, for every value the generator
can give."""
from __future__ import annotations

import numpy as np

from harness.random_data import _unit_uniform, random_array


class EveryValue:
    """Stands in for the generator: fills `out` with each float32 it can return, k / 2**24 for every k."""

    def random(self, dtype, out):
        out[...] = np.arange(out.size, dtype=np.float64).reshape(out.shape) / 2 ** 24


def test_no_value_the_generator_can_give_becomes_zero_in_float32_or_float16():
    values = np.empty(2 ** 24, np.float32)
    _unit_uniform(EveryValue(), values)
    assert np.count_nonzero(values) == values.size
    assert np.count_nonzero(values.astype(np.float16)) == values.size
    assert abs(values.mean()) < 1e-6 and abs(values.var() - 1) < 1e-5  # uniform, mean 0, variance 1
    assert values.min() > -np.sqrt(3) - 1e-6 and values.max() < np.sqrt(3) + 1e-6


def test_the_same_values_in_every_run_and_dtype():
    first = random_array((2, 3, 8, 8), np.float32)
    assert np.array_equal(first, random_array((2, 3, 8, 8), np.float32))
    assert np.array_equal(random_array((2, 3, 8, 8), np.float16), first.astype(np.float16))
    pixels = random_array((2, 8, 8, 3), np.uint8)
    assert pixels.dtype == np.uint8 and pixels.max() > 200 and not np.array_equal(pixels, np.zeros_like(pixels))
