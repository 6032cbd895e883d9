"""Preprocessing presets and their resolution: explicit args > model spec > preset defaults."""
from __future__ import annotations

import math

from harness.errors import InputError
from harness.models import resolve_model
from harness.recipe_check import RECIPE_FIELDS
from harness.vocabulary import INPUT_FORM_LAYOUT, InputForm

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
# timm's eval crop modes (transforms_imagenet_eval): center = shorter side to `resize`, center crop; squash = both
# sides to `resize`; border = longer side to `resize`, padded with the mean colour; each then crops `input_size`.
CROP_MODES = ("center", "squash", "border")
# Pixels are taken as stored, as torchvision's ImageFolder and the ModelZoo scripts take them (PIL does not
# rotate on open): the EXIF Orientation tag is not applied, so accuracy matches those tools.
EXIF_ORIENTATION = "not applied (pixels as stored, like torchvision and the ModelZoo scripts)"


def resize_for(input_size: int, crop_pct: float) -> int:
    """timm's scale size: the shorter side before a center crop that keeps crop_pct of it."""
    return int(math.floor(input_size / crop_pct))


def timm_data_config(arch: str) -> dict:
    """input_size, crop_pct, crop mode, interpolation, mean, std from timm's pretrained config (no download), or {}.
    A non-square input size is kept as [height, width]: resolve_recipe refuses it unless --input-size replaces it."""
    from convert.frameworks import import_timm

    timm = import_timm()
    if not timm.is_model(arch):
        return {}
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    if cfg is None:
        return {}
    height, width = (int(v) for v in cfg.input_size[-2:])
    config = {"input_size": width if height == width else [height, width], "crop_pct": float(cfg.crop_pct),
              "crop": cfg.crop_mode, "interpolation": cfg.interpolation, "mean": [float(v) for v in cfg.mean],
              "std": [float(v) for v in cfg.std]}
    return {k: v for k, v in config.items() if v not in (None, "")}


def model_data_config(model: str) -> tuple[dict, str]:
    """The model's own data config and where it comes from: the registry entry, or timm's pretrained
    config for a timm architecture name; ({}, "") when neither knows the model."""
    spec = resolve_model(model)
    if spec.registered:
        return dict(spec.data), "registry"
    config = timm_data_config(spec.arch)
    return (config, f"timm pretrained_cfg of {spec.arch}") if config else ({}, "")


def resolve_recipe(model: str | None = None, preset: str | None = None, mode: str = "float32",
                   **overrides) -> dict:
    """The one resolved recipe dict that preprocess applies and writes into its sidecar.

    Merged as explicit args > the model's data config > preset defaults; an explicit preset is an
    argument and replaces the model's config. A crop_pct gives the resize unless resize is explicit.
    """
    spec = resolve_model(model) if model else None
    name = preset or (spec.preset if spec else "resnet")
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    if mode not in INPUT_FORM_LAYOUT:
        raise InputError(f"unknown output mode {mode!r}; choose float32 (CHW) or uint8 (HWC, for AIPP)")
    model_config, source = model_data_config(model) if model and not preset else ({}, "")
    explicit = {k: v for k, v in overrides.items() if v is not None}
    recipe = {**PRESETS[name], **model_config, **explicit}
    _check_square(recipe, model, source)
    if "crop_pct" in recipe and "resize" not in explicit:
        recipe["resize"] = resize_for(int(recipe["input_size"]), float(recipe["crop_pct"]))
    dtype, layout = INPUT_FORM_LAYOUT[InputForm(mode)]
    recipe.update({"preset": name, "model": model, "data_source": source or f"preset {name}",
                   "channel_order": "RGB", "crop": recipe.get("crop") or "center", "dtype": dtype, "layout": layout,
                   "exif_orientation": EXIF_ORIENTATION})
    if recipe["interpolation"] not in INTERPOLATIONS:
        raise InputError(f"unknown interpolation {recipe['interpolation']!r}; choose one of "
                         f"{', '.join(INTERPOLATIONS)}")
    if recipe["crop"] not in CROP_MODES:
        raise InputError(f"unknown crop mode {recipe['crop']!r} ({recipe['data_source']}); choose one of "
                         f"{', '.join(CROP_MODES)} with --crop")
    if len(recipe["mean"]) != 3 or len(recipe["std"]) != 3 or min(recipe["std"]) <= 0:
        raise InputError("mean and std take three values each, std > 0")
    return recipe


def _check_square(recipe: dict, model: str | None, source: str) -> None:
    """A non-square input size (timm's [height, width]) is refused: the harness crops square images, and a square
    crop of either side would feed the model another size than it was trained and scored at."""
    size = recipe["input_size"]
    if isinstance(size, (list, tuple)):
        raise InputError(f"{model}: {source} gives a non-square input size {size[0]}x{size[1]} "
                         "(height x width); the harness runs square inputs only: preprocess takes --input-size (and "
                         "--resize) for a square crop the model accepts, convert a square data config (an entry in "
                         "harness/models.py) or a square ONNX (--onnx); or choose another model")


def model_recipe_fields(model: str) -> dict:
    """What preprocess gives this model with no flags: the fields a preprocessed directory must match."""
    recipe = resolve_recipe(model)
    return {k: recipe[k] for k in RECIPE_FIELDS}


def output_shape(recipe: dict) -> list[int]:
    size = int(recipe["input_size"])
    return [3, size, size] if recipe["layout"] == "CHW" else [size, size, 3]
