"""A timm model's recipe must give the tensors timm's own eval transform gives: every crop mode (center,
squash, border), crops larger than the resized image (padding), and non-square input sizes refused."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import InputError
from tasks.classification.presets import resolve_recipe
from tasks.classification.transform import preprocess_image
from tests.conftest import SHARED_SAMPLE

IMAGES = sorted(SHARED_SAMPLE.glob("*.JPEG"))[:2]


def timm_eval():
    from convert.frameworks import import_timm

    import_timm()
    from timm.data import create_transform, resolve_data_config
    from timm.data.transforms_factory import transforms_imagenet_eval
    from timm.models import get_pretrained_cfg

    return create_transform, resolve_data_config, transforms_imagenet_eval, get_pretrained_cfg


def reference(transform, path: Path) -> np.ndarray:
    """timm's eval transform on the image as timm's datasets load it."""
    with Image.open(path) as img:
        return transform(img.convert("RGB")).numpy()


@pytest.mark.parametrize("arch, crop", [("resnet50.a1_in1k", "center"),
                                        ("convnext_base.fb_in22k_ft_in1k_384", "squash"),
                                        ("deepseek_vit_412m", "border")])
def test_each_timm_crop_mode_gives_timms_own_tensors(arch, crop):
    create_transform, resolve_data_config, _, get_pretrained_cfg = timm_eval()
    config = resolve_data_config(pretrained_cfg=get_pretrained_cfg(arch).to_dict())
    assert config["crop_mode"] == crop  # the case this test is about
    recipe = resolve_recipe(arch)
    assert recipe["crop"] == crop
    transform = create_transform(**config)
    for path in IMAGES:
        np.testing.assert_array_equal(preprocess_image(path, recipe), reference(transform, path))


def odd_images(tmp_path: Path) -> list[Path]:
    """A wide, a tall and a square image: with a crop 3 pixels larger than the resized shorter side, the pad
    of each side differs from what rounding the crop offset would give."""
    rng = np.random.default_rng(0)
    paths = []
    for width, height in ((81, 50), (37, 64), (45, 45)):
        path = tmp_path / f"img{width}x{height}.png"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("crop", ["center", "squash", "border"])
def test_a_crop_larger_than_the_resized_image_pads_as_timm_does(tmp_path, crop):
    _, _, transforms_imagenet_eval, _ = timm_eval()
    size, crop_pct, mean, std = 32, 1.1, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    transform = transforms_imagenet_eval(img_size=size, crop_pct=crop_pct, crop_mode=crop,
                                         interpolation="bilinear", mean=mean, std=std)
    recipe = resolve_recipe(None, input_size=size, resize=math.floor(size / crop_pct), crop=crop,
                            interpolation="bilinear", mean=list(mean), std=list(std))
    for path in [*odd_images(tmp_path), IMAGES[0]]:
        np.testing.assert_allclose(preprocess_image(path, recipe), reference(transform, path), rtol=0, atol=1e-6,
                                   err_msg=str(path))


def test_the_uint8_recipe_holds_the_pixels_the_float32_recipe_normalises():
    recipe = resolve_recipe("convnext_base.fb_in22k_ft_in1k_384")
    pixels = preprocess_image(IMAGES[0], resolve_recipe("convnext_base.fb_in22k_ft_in1k_384", mode="uint8"))
    assert pixels.dtype == np.uint8 and pixels.shape == (384, 384, 3)
    normalised = (pixels.transpose(2, 0, 1).astype(np.float32) / 255 - np.float32(recipe["mean"])[:, None, None]) \
        / np.float32(recipe["std"])[:, None, None]
    np.testing.assert_allclose(preprocess_image(IMAGES[0], recipe), normalised, rtol=0, atol=1e-6)


def test_a_non_square_timm_input_size_is_refused_unless_a_size_is_given():
    with pytest.raises(InputError, match=r"non-square input size 1024x768 .*--input-size"):
        resolve_recipe("vit_base_patch16_sapiens2")
    assert resolve_recipe("vit_base_patch16_sapiens2", input_size=768)["input_size"] == 768


def test_an_unknown_crop_mode_is_refused():
    with pytest.raises(InputError, match="unknown crop mode 'diagonal'"):
        resolve_recipe(None, crop="diagonal")


def test_a_recipe_of_an_older_harness_without_a_crop_mode_crops_the_center():
    recipe = resolve_recipe(None)
    older = {k: v for k, v in recipe.items() if k != "crop"}
    np.testing.assert_array_equal(preprocess_image(IMAGES[0], older), preprocess_image(IMAGES[0], recipe))


def test_the_crop_mode_is_part_of_the_recipe_a_model_checks():
    """Data center-cropped for a squash model is refused like any other recipe difference; a convert.json written
    before the crop mode was recorded does not know it and is not compared on it."""
    from harness.recipe_check import recipe_differences

    center = {"input_size": 384, "resize": 384, "crop": "center"}
    assert recipe_differences(center, {"input_size": 384, "resize": 384, "crop": "squash"}) == {
        "crop": {"preprocessed": "center", "model": "squash"}}
    assert recipe_differences(center, {"input_size": 384, "resize": 384}) == {}
