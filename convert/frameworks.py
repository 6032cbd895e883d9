"""Importing timm and mmcls, which import torchvision, on machines where torchvision's C ops cannot load."""
from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType

from harness.errors import MissingDependencyError

TORCHVISION_MISSING_OP = "operator torchvision::nms does not exist"
# The ops torchvision registers fake (meta) kernels for at import time, with their schemas.
FAKE_KERNEL_OPS = {
    "torchvision::nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "torchvision::qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}


def _declare_torchvision_op_schemas() -> None:
    import torch

    for name, schema in FAKE_KERNEL_OPS.items():
        namespace, op = name.split("::")
        if not hasattr(getattr(torch.ops, namespace), op):
            torch.library.define(name, schema)


def _forget_partial_torchvision() -> None:
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def import_with_torchvision(module: str) -> ModuleType:
    """Import a module that imports torchvision, tolerating a torchvision whose C ops do not load.

    PyPI's torchvision 0.28.0 wheel is a CUDA build; next to a CPU torch its `_C` library does not
    load, so the op schemas are never defined and the fake-kernel registration at import time
    raises. Declaring the two schemas lets the pure-Python part import; the harness calls no
    torchvision op. A working torchvision imports on the first try and nothing is changed.
    """
    try:
        return importlib.import_module(module)
    except RuntimeError as exc:
        if TORCHVISION_MISSING_OP not in str(exc):
            raise
    _forget_partial_torchvision()
    _declare_torchvision_op_schemas()
    return importlib.import_module(module)


def import_timm() -> ModuleType:
    try:
        return import_with_torchvision("timm")
    except ImportError as exc:
        raise MissingDependencyError("timm", "pip install -r requirements.txt", why=str(exc)) from None


def import_mmcls() -> ModuleType:
    """mmcls 0.25 with its model registry loaded (mmcls.models)."""
    try:
        with warnings.catch_warnings():
            # mmcv 1.x announces its 2.0 renaming and the missing compiled ops at every import.
            warnings.simplefilter("ignore", UserWarning)
            import_with_torchvision("mmcls.models")
            return importlib.import_module("mmcls")
    except ImportError as exc:
        raise MissingDependencyError(
            "mmcls", 'pip install "setuptools<70" && pip install --no-build-isolation mmcv==1.7.2 mmcls==0.25.0',
            why=str(exc)) from None
