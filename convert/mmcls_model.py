"""An mmcls 0.25 classifier built from its config, wrapped so that forward(image) returns logits."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from convert.frameworks import import_mmcls
from harness.errors import InputError

DEFAULT_INPUT_SIZE = 224


class MmclsLogits(nn.Module):
    """backbone -> neck -> head logits, without the softmax mmcls applies in simple_test."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.classifier.extract_feat(image)
        return self.classifier.head.simple_test(features, softmax=False, post_process=False)


def load_mmcls_config(path: Path):
    import_mmcls()
    import mmcv

    try:
        return mmcv.Config.fromfile(str(path))
    except Exception as exc:  # mmcv raises whatever the config's Python code raises
        raise InputError(f"{path}: not a usable mmcls config ({type(exc).__name__}: {exc})") from None


def build_mmcls_classifier(path: Path) -> tuple[nn.Module, int]:
    """The classifier of an mmcls config (random weights, no logits wrapper) and its input size."""
    config = load_mmcls_config(path)
    from mmcls.models import build_classifier

    if "model" not in config:
        raise InputError(f"{path}: mmcls config has no `model` settings")
    input_size = mmcls_input_size(config, path)
    try:
        return build_classifier(config.model), input_size
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise InputError(f"{path}: mmcls cannot build its model ({type(exc).__name__}: {exc})") from None


def mmcls_input_size(config, path: Path) -> int:
    """The size the test pipeline feeds the model (its crop, or a Resize to N x N alone), else 224 (the ImageNet
    models' size)."""
    from tasks.classification.mmcls_pipeline import mmcls_recipe_fields

    return int(mmcls_recipe_fields(config, path).get("input_size", DEFAULT_INPUT_SIZE))
