"""The preprocessed data against the model it feeds: the recipe fields that must agree, and the labels a run
carries when it was told to go on anyway or when its numbers mean less than they seem to."""
from __future__ import annotations

import math
from pathlib import Path

from harness.errors import ContractError

# A field one side lacks is not compared: a convert.json written before `crop` was recorded does not know it.
RECIPE_FIELDS = ("input_size", "resize", "interpolation", "mean", "std", "crop")
ACCEPT_FLAG = "--accept-preprocess-mismatch"


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def recipe_differences(recipe: dict, model_config: dict) -> dict:
    """{field: {"preprocessed": value, "model": value}} for each recipe field both know and disagree on."""
    return {name: {"preprocessed": recipe[name], "model": model_config[name]} for name in RECIPE_FIELDS
            if name in recipe and name in model_config and not _same(recipe[name], model_config[name])}


def check_recipe(prep_dir: Path, recipe: dict, model: str, model_config: dict, accept: bool, use: str = "") -> dict:
    """The differences, refused in one line unless accepted; {} when the recipe fits the model. `use` names
    what the data is for when it is not the data scored (calibration)."""
    differences = recipe_differences(recipe or {}, model_config or {})
    if differences and not accept:
        fields = "; ".join(f"{name} {d['preprocessed']} (model: {d['model']})" for name, d in differences.items())
        data = f"{use} data preprocessed" if use else "preprocessed"
        raise ContractError(f"{prep_dir}: {data} with {fields}; preprocess again for this model with "
                            f"{preprocess_command(model, model_config, prep_dir)}, or pass {ACCEPT_FLAG} to go on")
    return differences


def preprocess_command(model: str, model_config: dict, prep_dir: Path) -> str:
    """The command that prepares data as the model expects: an mmcls model's recipe is its config's test
    pipeline, any other model's its name's data config."""
    mmcls_config = model_config.get("mmcls_config")
    if mmcls_config:
        return f"`python -m preprocess --mmcls-config {mmcls_config} --input IMAGES --output {prep_dir}`"
    return (f"`python -m preprocess --model {model} --input IMAGES --output {prep_dir}` (or "
            f"`make preprocess MODEL={model}`)")


def is_random_weights(source: dict) -> bool:
    """convert.json `source`: weights neither from a checkpoint, a package nor a given ONNX."""
    return str((source or {}).get("weights", "")).startswith("random")


RANDOM_WEIGHTS_NOTE = "random weights: throughput only, accuracy means nothing"
