"""The random input of pure mode and of a target's first call: the same values for every target and run."""
from __future__ import annotations

import numpy as np


def fill_random(data: np.ndarray, seed: int = 0) -> None:
    """Random values in place, never zeros (zeros can take faster paths in some kernels). Integers are pixel
    values; floats are uniform with mean 0 and variance 1, the spread of normalised pixels: drawing them takes a
    quarter of the time normals take (0.02 s against 0.08-0.10 s at bs64, 224 px), and a start pays it before its
    first timed batch. float32 is drawn straight into `data`: no temporary the size of the batch."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        data[...] = rng.integers(max(info.min, 0), min(info.max, 255) + 1, size=data.shape, dtype=data.dtype)
    elif data.dtype == np.float32 and data.flags.c_contiguous:
        _unit_uniform(rng, data)
    else:
        drawn = np.empty(data.shape, np.float32)
        _unit_uniform(rng, drawn)
        data[...] = drawn


def random_array(shape: tuple[int, ...], dtype: np.dtype | type, seed: int = 0) -> np.ndarray:
    data = np.empty(shape, dtype)
    fill_random(data, seed)
    return data


def _unit_uniform(rng: np.random.Generator, out: np.ndarray) -> None:
    """Uniform on (-sqrt(3), sqrt(3)), variance 1. rng.random gives k / 2**24; 2u - (1 - 2**-24) is then
    (2k + 1 - 2**24) / 2**24, exact in float32 and odd over 2**24, so never zero, and no check is needed."""
    rng.random(dtype=np.float32, out=out)
    out *= np.float32(2)
    out -= np.float32(1 - 2.0 ** -24)
    out *= np.float32(np.sqrt(3.0))
