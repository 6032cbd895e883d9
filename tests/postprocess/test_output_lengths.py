"""Outputs of different lengths: the file that differs from most is named; with no length held by most (two
files, an even split) no file is blamed, and one file of each length is named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import InputError
from tasks.classification.contract import check_same_length


def outputs(tmp_path: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    for stem, size in sizes.items():
        (tmp_path / f"{stem}_0.txt").write_text(" ".join(["0.5"] * size) + " \n")
    return {stem: np.full(size, 0.5, dtype=np.float32) for stem, size in sizes.items()}


def test_a_cut_output_among_two_blames_neither(tmp_path):
    cut_first = outputs(tmp_path, {"a": 999, "b": 1000})  # a is cut; sorted first, it set the "common" length
    with pytest.raises(InputError) as caught:
        check_same_length(cut_first, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: outputs of different lengths, none the most common"), message
    assert f"{tmp_path / 'a_0.txt'} holds 999" in message and f"{tmp_path / 'b_0.txt'} holds 1000" in message


def test_the_one_output_unlike_most_is_named(tmp_path):
    mixed = outputs(tmp_path, {"a": 1000, "b": 999, "c": 1000})
    with pytest.raises(InputError, match=r"b_0\.txt: 999 values, the other outputs hold 1000"):
        check_same_length(mixed, tmp_path)
