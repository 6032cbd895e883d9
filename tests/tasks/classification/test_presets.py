"""Where a model's data config comes from: timm's pretrained config for timm names, the registry entry for
registered models; merged as explicit args > model > preset defaults."""
from __future__ import annotations

import math

import pytest

from tasks.classification.presets import resolve_recipe


def timm_reference(arch: str) -> dict:
    """timm's own pretrained config and scale-size rule (timm.data.transforms_factory), read independently."""
    from convert.frameworks import import_timm

    import_timm()
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    size = cfg.input_size[-1]
    return {"input_size": size, "resize": math.floor(size / cfg.crop_pct), "interpolation": cfg.interpolation,
            "mean": list(cfg.mean), "std": list(cfg.std)}


@pytest.mark.parametrize("arch", ["tf_efficientnet_lite0", "inception_v3"])
def test_a_timm_name_takes_the_data_config_of_its_architecture(arch):
    recipe = resolve_recipe(arch)
    expected = timm_reference(arch)
    for key, value in expected.items():
        assert recipe[key] == (pytest.approx(value) if isinstance(value, list) else value), key
    assert arch in recipe["data_source"]


def test_tf_efficientnet_lite0_is_bicubic_crop_pct_0875_mean_std_half():
    recipe = resolve_recipe("tf_efficientnet_lite0")
    assert (recipe["input_size"], recipe["resize"], recipe["interpolation"]) == (224, 256, "bicubic")
    assert recipe["mean"] == recipe["std"] == pytest.approx([0.5, 0.5, 0.5])


@pytest.mark.parametrize("model, size, crop_pct", [("efficientnet_lite0", 224, 0.875),
                                                     ("efficientnet_lite1", 240, 0.882),
                                                     ("efficientnet_lite2", 260, 0.89)])
def test_registered_efficientnet_lite_entries_follow_their_own_crop_pct(model, size, crop_pct):
    recipe = resolve_recipe(model)
    assert recipe["input_size"] == size
    assert recipe["resize"] == math.floor(size / crop_pct)  # 256, 272, 292; not 256/224 of the crop
    assert recipe["interpolation"] == "bilinear"  # the packaged weights' reference recipe (88.2 % on lite0)
    assert recipe["mean"] == recipe["std"] == [0.5, 0.5, 0.5]
    assert recipe["data_source"] == "registry"


def test_explicit_args_win_over_the_model_and_the_model_over_the_defaults():
    recipe = resolve_recipe("tf_efficientnet_lite0", resize=300, interpolation="bilinear")
    assert (recipe["resize"], recipe["interpolation"]) == (300, "bilinear")
    assert recipe["mean"] == pytest.approx([0.5] * 3)  # from the model, not the resnet defaults
    resized = resolve_recipe("tf_efficientnet_lite0", input_size=192)
    assert resized["resize"] == math.floor(192 / 0.875)  # crop_pct still gives the resize


def test_an_explicit_preset_replaces_the_model_config():
    recipe = resolve_recipe("tf_efficientnet_lite0", preset="resnet")
    assert recipe["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert (recipe["resize"], recipe["interpolation"]) == (256, "bilinear")


def test_a_name_neither_registered_nor_known_to_timm_gets_the_defaults():
    recipe = resolve_recipe("no_such_architecture_anywhere")
    assert recipe["data_source"] == "preset resnet"
    assert recipe["mean"] == pytest.approx([0.485, 0.456, 0.406])
