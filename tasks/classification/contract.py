"""The classification output contract: one output of N class scores per input (logits or probabilities);
N = 1001 means index 0 is a background class (TensorFlow-slim models), so label i is class i + 1.
The checks here turn a broken contract into one clear line instead of a numpy error or a silent miss."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from harness.errors import ContractError, InputError
from harness.outputs import output_files
from tasks.base import OutputContract

OUTPUTS = OutputContract(names=("logits",), meaning="one row of N class scores per input; N = 1001: index 0 is "
                                                    "the background class")
BACKGROUND_FIRST_CLASSES = 1001


def class_offset(n_classes: int) -> int:
    """1 for 1001-class outputs, whose index 0 is the background class; else 0."""
    return 1 if n_classes == BACKGROUND_FIRST_CLASSES else 0


def label_in_classes(label: int, n_classes: int) -> bool:
    """Whether a label names a class of the model: never the background class of a 1001-class output."""
    return 0 <= label < n_classes - class_offset(n_classes)


def check_one_row(outputs: dict[str, np.ndarray], result_dir: Path) -> None:
    """One input's output is one row of class scores: a file of several rows (a whole batch's outputs in one
    file, as a tool that does not split its outputs per input writes them) would be ranked as one row of
    rows x classes scores."""
    for stem, array in sorted(outputs.items()):
        sides = [side for side in np.shape(array) if side != 1]
        if len(sides) > 1:
            path = output_files(Path(result_dir))[stem]
            raise ContractError(f"{path}: scores of shape {list(np.shape(array))}, where one input's output is one "
                                "row of class scores (a batch's outputs in one file?); write one file per input "
                                "(ais_bench: --output_batchsize_axis 0) or rerun infer for this directory")


def check_ranks_classes(n_classes: int, result_dir: Path) -> None:
    """A ranking needs two classes at least: one score per input (a single-logit binary head) always ranks
    class 0 first, so its "accuracy" would be the share of label 0."""
    if n_classes - class_offset(n_classes) < 2:
        raise ContractError(f"{result_dir}: the outputs hold {n_classes} score each, so every input ranks class 0 "
                            "first and top-k accuracy would be the share of label 0; a single-logit binary head "
                            "needs a threshold, not a ranking: score it with a tool that thresholds it")


def every_class_label(n_classes: int, topk: int) -> str | None:
    """The label of a table whose deepest top-k holds every class: those accuracies are the share of labels in
    range by construction, not the model's."""
    classes = n_classes - class_offset(n_classes)
    if topk < classes:
        return None
    columns = f"Top{classes} to Top{topk} accuracy count" if topk > classes else f"Top{classes} accuracy counts"
    return f"{columns} every class (the outputs hold only {classes}): a hit for each label, whatever the model"


def check_same_length(outputs: dict[str, np.ndarray], result_dir: Path) -> None:
    """Every output must hold as many values as the others; name the first file that does not. With no size
    held by most outputs (two files, or an even split) no file is blamed: one of each size is named."""
    sizes = Counter(array.size for array in outputs.values())
    if len(sizes) < 2:
        return
    (common, most), (second, as_many) = sizes.most_common(2)
    files = output_files(Path(result_dir))
    if most == as_many:
        first = {size: next(stem for stem, array in sorted(outputs.items()) if array.size == size)
                 for size in sorted((common, second))}
        named = ", ".join(f"{files[stem]} holds {size}" for size, stem in first.items())
        raise InputError(f"{result_dir}: outputs of different lengths, none the most common ({named}); one is "
                         "truncated or from another run: rerun infer for this directory (delete the wrong files "
                         "first)")
    odd = next(stem for stem, array in sorted(outputs.items()) if array.size != common)
    path = files[odd]
    raise InputError(f"{path}: {outputs[odd].size} values, the other outputs hold {common}; the file is truncated "
                     "or from another run: rerun infer for this directory (delete the file first)")


def report_labels_outside(labels: dict[str, int], scored_stems: list[str], n_classes: int,
                          label_file: Path) -> list[str]:
    """Labels no class of the model can match (counted as misses): a warning naming the label file.
    A 1001-class model's class 0 is the background, so label i is its class i + 1 (as in score())."""
    offset = class_offset(n_classes)
    outside = [stem for stem in scored_stems if not label_in_classes(labels[stem], n_classes)]
    if outside:
        print(f"postprocess: warning: {label_file}: {len(outside)} labels outside the model's {n_classes - offset} "
              f"classes (e.g. {outside[0]} -> {labels[outside[0]]}); they count as misses", flush=True)
    return outside


def check_class_names(names: dict[int, str], n_classes: int, classes_file: Path | None, result_dir: Path) -> None:
    """The classes file names the label set; outputs of another number of classes (an ImageNet-21k or embedding
    head, a fine-tune) rank other classes than the labels index, so their accuracy would mean nothing. A file that
    names only some classes (indices with gaps) gives names, not the label set, and is not compared."""
    named = len(names)
    offset = class_offset(n_classes)
    if names and min(names) == 1 and max(names) == named and named == n_classes - offset:
        raise ContractError(f"{classes_file}: numbers its {named} classes from 1, the labels index them from 0 "
                            f"(after the background score of the outputs in {result_dir} is dropped), so every name "
                            "would be one class off; number the classes from 0")
    if not names or max(names) + 1 != named:
        return
    if offset and named == n_classes:
        raise ContractError(f"{classes_file}: names {named} classes, background included; the outputs in "
                            f"{result_dir} hold {n_classes} scores, whose index 0 (background) is dropped before "
                            f"scoring, so the labels index {named - offset} classes: remove the background line "
                            "and number the classes from 0")
    if named != n_classes - offset:
        raise ContractError(f"{classes_file}: names {named} classes, the outputs in {result_dir} hold {n_classes} "
                            "scores each, so their class indices are not those of the labels; score them with the "
                            "labels and classes file of the model's own classes, or convert a model whose head has "
                            f"{named} classes")
