"""Key mappings from each supported checkpoint layout onto timm's module names, and the fit check.

Every mapping is verified by a test that saves random weights in that layout from an independent
model, loads them through here and compares outputs (tests/convert/).
"""
from __future__ import annotations

import re
from typing import Callable

from harness.errors import ContractError

# mmcls ResNet family (ResNet, ResNeXt, SE-ResNet, SE-ResNeXt): backbone.* + head.fc.*; the SE
# layer is two ConvModules (se_layer.conv1.conv / se_layer.conv2.conv).
MMCLS_RENAMES = (
    (re.compile(r"^backbone\."), ""),
    (re.compile(r"^head\.fc\."), "fc."),
    (re.compile(r"\.se_layer\.conv([12])\.conv\."), r".se.fc\1."),
)
# Ascend ModelZoo SE_ResNeXt (Se_Resnext101_pth2onnx.py): the SE fully connected layers sit in the
# bottleneck itself as nn.Linear (fc1, fc2); timm has 1x1 convolutions under `se.`.
MODELZOO_SE = re.compile(r"^(layer\d+\.\d+)\.fc([12])\.(weight|bias)$")
OPTIONAL_SUFFIX = ".num_batches_tracked"  # a BatchNorm counter, unused in eval mode
SHOWN = 3


def map_mmcls(state: dict, model_state: dict) -> dict:
    mapped = {}
    for key, value in state.items():
        for pattern, replacement in MMCLS_RENAMES:
            key = pattern.sub(replacement, key)
        mapped[key] = value
    return mapped


def map_modelzoo(state: dict, model_state: dict) -> dict:
    mapped = {}
    for key, value in state.items():
        match = MODELZOO_SE.match(key)
        if match:
            block, index, kind = match.groups()
            key = f"{block}.se.fc{index}.{kind}"
            if kind == "weight" and value.dim() == 2:
                value = value.reshape(*value.shape, 1, 1)  # Linear (out, in) -> 1x1 conv (out, in, 1, 1)
        mapped[key] = value
    return mapped


def map_identity(state: dict, model_state: dict) -> dict:
    return dict(state)


def map_by_position(state: dict, model_state: dict) -> dict:
    """efficientnet_pytorch -> timm EfficientNet: same tensors in the same order, other names."""
    source, target = list(state.items()), list(model_state.items())
    if len(source) != len(target):
        raise ContractError(f"checkpoint has {len(source)} tensors, the model {len(target)}; an "
                            "efficientnet_pytorch checkpoint maps by position only onto the same architecture")
    mapped = {}
    for (src_key, value), (dst_key, expected) in zip(source, target):
        if tuple(value.shape) != tuple(expected.shape):
            raise ContractError(f"tensor {src_key} {tuple(value.shape)} does not fit {dst_key} "
                                f"{tuple(expected.shape)}; the checkpoint is for another architecture")
        mapped[dst_key] = value
    return mapped


MAPPINGS: dict[str, Callable[[dict, dict], dict]] = {
    "timm": map_identity,
    "torchvision": map_identity,  # ResNet family: torchvision and timm share module names
    "mmcls": map_mmcls,
    "modelzoo": map_modelzoo,
    "efficientnet_pytorch": map_by_position,
}


def _listing(items: list[str]) -> str:
    more = f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def fit_problems(state: dict, model_state: dict) -> list[str]:
    """Missing keys, unexpected keys and shape mismatches, the first few of each, as text."""
    missing = [k for k in model_state if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in model_state and not k.endswith(OPTIONAL_SUFFIX)]
    shapes = [f"{k} {tuple(v.shape)} vs model {tuple(model_state[k].shape)}" for k, v in state.items()
              if k in model_state and tuple(v.shape) != tuple(model_state[k].shape)]
    problems = []
    if shapes:
        problems.append(f"shape mismatch: {_listing(shapes)}")
    if missing:
        problems.append(f"missing: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected: {_listing(unexpected)}")
    return problems


def map_state_dict(state: dict, model_state: dict, mapping: Callable[[dict, dict], dict]) -> dict:
    """The checkpoint's tensors under the model's names; ContractError when they do not fit."""
    mapped = mapping(state, model_state)
    problems = fit_problems(mapped, model_state)
    if problems:
        raise ContractError("; ".join(problems))
    return {k: v for k, v in mapped.items() if k in model_state}
