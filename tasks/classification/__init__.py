"""Image classification: shorter-side resize + center crop + normalise, one logits output, top-k accuracy
in the ModelZoo result.json format. Heavy modules (PIL) are imported when a method needs them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.base import AccuracyRecord, ScoringRequest, Task
from tasks.classification.contract import OUTPUTS


class ClassificationTask(Task):
    name = "classification"
    outputs = OUTPUTS

    def resolve_recipe(self, model: str | None, preset: str | None = None, mode: str = "float32",
                       **overrides) -> dict:
        from tasks.classification.presets import resolve_recipe

        return resolve_recipe(model, preset, mode, **overrides)

    def sample_shape(self, recipe: dict) -> list[int]:
        from tasks.classification.presets import output_shape

        return output_shape(recipe)

    def transform(self, path: Path, recipe: dict, max_pixels: int) -> np.ndarray:
        from tasks.classification.transform import preprocess_image

        return preprocess_image(path, recipe, max_pixels)

    def evaluate(self, outputs: dict[str, dict[str, np.ndarray]], request: ScoringRequest) -> AccuracyRecord:
        from tasks.classification.contract import (check_class_names, check_one_row, check_ranks_classes,
                                                   check_same_length, every_class_label, report_labels_outside)
        from tasks.classification.labels import read_class_names, read_class_synsets, read_labels
        from tasks.classification.record import details, f1_line, modelzoo_table
        from tasks.classification.scoring import score

        logits = outputs[OUTPUTS.names[0]]
        check_one_row(logits, request.result_dir)
        check_same_length(logits, request.result_dir)
        labels = read_labels(request.truth, read_class_synsets(request.names))
        names = read_class_names(request.names)
        if logits:
            check_ranks_classes(next(iter(logits.values())).size, request.result_dir)
            check_class_names(names, next(iter(logits.values())).size, request.names, request.result_dir)
        unlabelled = sorted(s for s in logits if s not in labels)
        missing = sorted(s for s in labels if s not in logits)
        scored = score(logits, labels, request.topk)
        report_labels_outside(labels, scored["stems"], scored["n_classes"], request.truth)
        table = modelzoo_table(len(scored["stems"]), scored["n_classes"], scored["cumulative"])
        detail = details(scored, names, unlabelled, missing, request.not_results)
        every_class = every_class_label(scored["n_classes"], request.topk)
        headline = ", ".join(f"{v['key']} {v['value']}" for v in table["value"][2:])
        return AccuracyRecord(result=table, details=detail, count=len(scored["stems"]), headline=headline,
                              unmatched=[("outputs without a label (not counted)", unlabelled),
                                         ("labels without an output", missing),
                                         ("outputs holding NaN or infinite scores (counted as misses)",
                                          scored["non_finite"])],
                              closing=[f1_line(detail)],
                              labels=[every_class] if every_class else [])
