"""The preprocessing recipe of an mmcls 0.25 config's test pipeline (Resize, CenterCrop, Normalize), so that the
images fed to an mmcls model are prepared as mmcls prepares them, and data of another recipe is refused."""
from __future__ import annotations

from pathlib import Path

from harness.errors import InputError

PIXEL_SCALE = 255.0  # mmcls normalises 0-255 pixels; the recipe's mean and std are on the 0-1 scale
UNSUPPORTED_ADVICE = ("change the config's test pipeline to Resize + CenterCrop, or export the model to ONNX and "
                      "convert it with --onnx, preprocessing with explicit flags")


def test_pipeline(config, path: Path) -> list[dict]:
    data = config.get("data", {})
    pipeline = (data.get("test") or data.get("val") or {}).get("pipeline") or []
    return [dict(step) for step in pipeline]


def _resize_fields(step: dict, path: Path) -> dict:
    size, side = step["size"], step.get("adaptive_side", "short")
    fields = {"interpolation": step.get("interpolation", "bilinear")}
    if isinstance(size, int):
        return {**fields, "resize": size, "crop": "squash"}
    height, width = size
    if width == -1 and side == "short":
        return {**fields, "resize": int(height), "crop": "center"}
    if width == height:
        return {**fields, "resize": int(height), "crop": "squash"}
    raise InputError(f"{path}: test pipeline Resize(size={size}, adaptive_side={side!r}) is no crop mode the harness "
                     f"applies (center: shorter side, squash: both sides to one size); {UNSUPPORTED_ADVICE}")


def _crop_size(step: dict, path: Path) -> int:
    if step.get("efficientnet_style"):
        raise InputError(f"{path}: test pipeline CenterCrop(efficientnet_style=True) crops before it resizes, which "
                         f"the harness does not apply; {UNSUPPORTED_ADVICE}")
    size = step["crop_size"]
    if isinstance(size, (list, tuple)):
        if size[0] != size[-1]:
            raise InputError(f"{path}: test pipeline CenterCrop(crop_size={size}) is not square; the harness runs "
                             "square inputs only")
        size = size[0]
    return int(size)


def _normalize_fields(step: dict, path: Path) -> dict:
    if not step.get("to_rgb", True):
        raise InputError(f"{path}: test pipeline Normalize(to_rgb=False) feeds the model BGR images (mean "
                         f"{list(step['mean'])} in that order); preprocess writes RGB, so the model would see its "
                         "channels swapped: convert a config whose Normalize has to_rgb=True, or export the model "
                         "with its first convolution's input channels reversed and pass it as --onnx")
    return {"mean": [float(v) / PIXEL_SCALE for v in step["mean"]],
            "std": [float(v) / PIXEL_SCALE for v in step["std"]]}


def mmcls_recipe_fields(config, path: Path) -> dict:
    """input_size, resize, crop, interpolation, mean and std of the config's test pipeline ({} without one), and
    `resize_backend`: mmcls resizes with cv2 unless the step says pillow, preprocess always with PIL."""
    fields: dict = {}
    for step in test_pipeline(config, path):
        kind = step.get("type")
        if kind == "Resize":
            fields.update(_resize_fields(step, path), resize_backend=step.get("backend", "cv2"))
        elif kind == "CenterCrop":
            fields["input_size"] = _crop_size(step, path)
        elif kind == "Normalize":
            fields.update(_normalize_fields(step, path))
    if "input_size" not in fields and "resize" in fields:
        if fields["crop"] == "center":
            raise InputError(f"{path}: test pipeline resizes the shorter side to {fields['resize']} and crops nothing, "
                             f"so its images are not square; the harness runs square inputs only: "
                             f"{UNSUPPORTED_ADVICE}")
        fields["input_size"] = fields["resize"]  # Resize(size=N) alone feeds the model N x N images
    return fields


def mmcls_config_recipe(path: Path) -> dict:
    """mmcls_recipe_fields of the config file at `path` (mmcv reads it)."""
    from convert.mmcls_model import load_mmcls_config

    return mmcls_recipe_fields(load_mmcls_config(Path(path)), Path(path))
