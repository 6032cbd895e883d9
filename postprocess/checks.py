"""Checks on what postprocess reads that would otherwise surface as a numpy error or a silent miss."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from harness.errors import InputError
from harness.outputs import output_files


def check_same_length(outputs: dict[str, np.ndarray], result_dir: Path) -> None:
    """Every output must hold as many values as the others; name the first file that does not."""
    sizes = Counter(array.size for array in outputs.values())
    if len(sizes) < 2:
        return
    common = sizes.most_common(1)[0][0]
    odd = next(stem for stem, array in sorted(outputs.items()) if array.size != common)
    path = output_files(Path(result_dir))[odd]
    raise InputError(f"{path}: {outputs[odd].size} values, the other outputs hold {common}; the file is truncated "
                     "or from another run: rerun infer for this directory (delete the file first)")


def report_labels_outside(labels: dict[str, int], scored_stems: list[str], n_classes: int,
                          label_file: Path) -> list[str]:
    """Labels no class of the model can match (counted as misses): a warning naming the label file.
    A 1001-class model's class 0 is the background, so label i is its class i + 1 (as in score())."""
    offset = 1 if n_classes == 1001 else 0
    outside = [stem for stem in scored_stems if not 0 <= labels[stem] + offset < n_classes]
    if outside:
        print(f"postprocess: warning: {label_file}: {len(outside)} labels outside the model's {n_classes - offset} "
              f"classes (e.g. {outside[0]} -> {labels[outside[0]]}); they count as misses", flush=True)
    return outside
