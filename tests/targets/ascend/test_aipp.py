"""AIPP configs against the ModelZoo ResNet50 aipp_resnet50.aippconfig (ref-ascend.md section 9)."""
from __future__ import annotations

import re

import pytest

from harness.errors import ContractError
from targets.ascend import aipp

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
MODELZOO_RESNET50 = {"src_image_size_w": 256, "src_image_size_h": 256, "crop": "true", "load_start_pos_h": 16,
                     "load_start_pos_w": 16, "crop_size_w": 224, "crop_size_h": 224, "min_chn_0": 123.675,
                     "min_chn_1": 116.28, "min_chn_2": 103.53, "var_reci_chn_0": 0.0171247538316637,
                     "var_reci_chn_1": 0.0175070028011204, "var_reci_chn_2": 0.0174291938997821}


def _manifest(shape, recipe, dtype="uint8", layout="HWC"):
    return {"shape": shape, "dtype": dtype, "layout": layout, "recipe": recipe}


def _parse(text: str) -> dict:
    assert text.startswith("aipp_op {") and text.rstrip().endswith("}")
    return dict(re.findall(r"^\s+(\w+)\s*:\s*(\S+)$", text, re.MULTILINE))


def test_resnet50_modelzoo_config():
    parsed = _parse(aipp.render_aipp(aipp.plan_aipp(_manifest([256, 256, 3], IMAGENET), (3, 224, 224))))
    assert parsed["aipp_mode"] == "static" and parsed["input_format"] == "RGB888_U8"
    for key, value in MODELZOO_RESNET50.items():
        if isinstance(value, float):
            assert float(parsed[key]) == pytest.approx(value, rel=1e-12), key
        else:
            assert parsed[key] == str(value), key


def test_efficientnet_mean_std_half_without_crop():
    plan = aipp.plan_aipp(_manifest([224, 224, 3], {"mean": [0.5] * 3, "std": [0.5] * 3}), (3, 224, 224))
    parsed = _parse(aipp.render_aipp(plan))
    assert "crop" not in parsed
    assert [float(parsed[f"min_chn_{i}"]) for i in range(3)] == [127.5] * 3
    assert [float(parsed[f"var_reci_chn_{i}"]) for i in range(3)] == pytest.approx([1 / 127.5] * 3, rel=1e-15)


def test_mean_std_in_pixel_units_are_taken_as_they_are():
    plan = aipp.plan_aipp(_manifest([256, 256, 3], {"mean": [123.675, 116.28, 103.53],
                                                     "std": [58.395, 57.12, 57.375]}), (3, 224, 224))
    assert plan.min_chn == [123.675, 116.28, 103.53]
    assert plan.var_reci_chn[0] == pytest.approx(MODELZOO_RESNET50["var_reci_chn_0"], rel=1e-12)


def test_odd_margins_round_like_the_modelzoo_center_crop():
    plan = aipp.plan_aipp(_manifest([259, 257, 3], IMAGENET), (3, 224, 224))
    assert (plan.crop_top, plan.crop_left) == (int(round(35 / 2.0)), int(round(33 / 2.0)))


def test_only_uint8_manifests_want_aipp():
    assert aipp.wants_aipp(_manifest([224, 224, 3], IMAGENET))
    assert not aipp.wants_aipp(_manifest([3, 224, 224], IMAGENET, dtype="float32", layout="CHW"))
    assert not aipp.wants_aipp(None)


@pytest.mark.parametrize("manifest, chw, message", [
    (_manifest([3, 224, 224], IMAGENET, layout="CHW"), (3, 224, 224), "uint8 HWC"),
    (_manifest([200, 200, 3], IMAGENET), (3, 224, 224), "smaller than the network input"),
    (_manifest([224, 224, 3], {"mean": [0.5] * 3}), (3, 224, 224), "no usable mean/std"),
    (_manifest([224, 224, 3], {"mean": [0.5] * 3, "std": [0.5, 0.0, 0.5]}), (3, 224, 224), "positive"),
    (_manifest([224, 224, 3], IMAGENET), (1, 224, 224), "network input has 1"),
])
def test_bad_inputs_are_one_clear_line(manifest, chw, message):
    with pytest.raises(ContractError, match=message) as info:
        aipp.plan_aipp(manifest, chw)
    assert "\n" not in str(info.value)
