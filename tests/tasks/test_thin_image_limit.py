"""The center crop mode resizes the shorter side first and holds that image whole: a thin strip of few pixels
would become hundreds of millions of pixels (2x30000 at 256: 256x3840000, about 4 GB in a worker), so the
resized size is held to the pixel limit too. Images of ordinary shape are untouched by it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import InputError
from preprocess.decode import DEFAULT_MAX_PIXELS
from tasks.classification.presets import resolve_recipe
from tasks.classification.transform import preprocess_image


def reference(path: Path, resize: int = 256, crop: int = 224) -> np.ndarray:
    """torchvision's eval transform on a PIL image (Resize(256), CenterCrop(224), Normalize), written out."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    image = image.resize((resize, int(resize * h / w)) if w < h else (int(resize * w / h), resize), Image.BILINEAR)
    w, h = image.size
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    pixels = np.asarray(image.crop((left, top, left + crop, top + crop)), dtype=np.float32).transpose(2, 0, 1)
    pixels = pixels / 255.0
    pixels -= np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
    pixels /= np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
    return pixels


def strip(tmp_path: Path, size: tuple[int, int]) -> Path:
    path = tmp_path / f"strip_{size[0]}x{size[1]}.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("size", [(2, 3000), (3000, 2)])
def test_a_strip_whose_resize_passes_the_pixel_limit_is_refused(tmp_path, size):
    """2x3000 at 256 would be 256x384000 = 98 304 000 pixels, above PIL's 89 478 485."""
    path = strip(tmp_path, size)
    with pytest.raises(InputError) as caught:
        preprocess_image(path, resolve_recipe(None, "resnet"))
    message = str(caught.value)
    assert message.startswith(f"{path}: {size[0]}x{size[1]} is too thin for the center crop mode"), message
    assert "98304000 pixels" in message and f"{DEFAULT_MAX_PIXELS}" in message and "--skip-bad" in message


def test_a_thin_image_under_the_limit_is_resized_as_torchvision_does(tmp_path):
    path = strip(tmp_path, (8, 2000))  # 256x64000: thin, and within the limit
    np.testing.assert_array_equal(preprocess_image(path, resolve_recipe(None, "resnet")), reference(path))


def test_a_small_pixel_limit_still_lets_small_images_be_upscaled(tmp_path):
    path = strip(tmp_path, (40, 30))  # 341x256 = 87296 resized pixels, above a --max-pixels of 10000
    np.testing.assert_array_equal(preprocess_image(path, resolve_recipe(None, "resnet"), max_pixels=10_000),
                                  reference(path))
