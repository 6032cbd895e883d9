"""Preprocessing presets and their resolution: explicit args > model spec > preset defaults."""
from __future__ import annotations

from harness.errors import InputError
from harness.models import resolve_model

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

PRESETS = {
    # ModelZoo Se_Resnext101_preprocess.py 'resnet': shorter side 256 (bilinear), center crop 224.
    "resnet": {"resize": 256, "input_size": 224, "interpolation": "bilinear",
               "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
    "inception": {"resize": 342, "input_size": 299, "interpolation": "bilinear",
                  "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
    "efficientnet_lite": {"resize": 256, "input_size": 224, "interpolation": "bilinear",
                          "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
}
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
# Pixels are taken as stored, as torchvision's ImageFolder and the ModelZoo scripts take them (PIL does not
# rotate on open): the EXIF Orientation tag is not applied, so accuracy matches those tools.
EXIF_ORIENTATION = "not applied (pixels as stored, like torchvision and the ModelZoo scripts)"
OUTPUT_MODES = {"float32": ("float32", "CHW"), "uint8": ("uint8", "HWC")}


def resolve_recipe(model: str | None = None, preset: str | None = None, mode: str = "float32",
                   **overrides) -> dict:
    """The one resolved recipe dict that preprocess applies and writes into its sidecar."""
    spec = resolve_model(model) if model else None
    name = preset or (spec.preset if spec else "resnet")
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    if mode not in OUTPUT_MODES:
        raise InputError(f"unknown output mode {mode!r}; choose float32 (CHW) or uint8 (HWC, for AIPP)")
    recipe = dict(PRESETS[name])
    if spec is not None:
        recipe.update(spec.data)
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    dtype, layout = OUTPUT_MODES[mode]
    recipe.update({"preset": name, "model": model, "channel_order": "RGB", "crop": "center",
                   "dtype": dtype, "layout": layout, "exif_orientation": EXIF_ORIENTATION})
    if recipe["interpolation"] not in INTERPOLATIONS:
        raise InputError(f"unknown interpolation {recipe['interpolation']!r}; choose one of "
                         f"{', '.join(INTERPOLATIONS)}")
    if len(recipe["mean"]) != 3 or len(recipe["std"]) != 3 or min(recipe["std"]) <= 0:
        raise InputError("mean and std take three values each, std > 0")
    return recipe


def output_shape(recipe: dict) -> list[int]:
    size = int(recipe["input_size"])
    return [3, size, size] if recipe["layout"] == "CHW" else [size, size, 3]
