"""Image modes beyond plain RGB give the tensors of torchvision's eval path on a PIL image (pil_loader's
convert("RGB"), Resize, CenterCrop, Normalize), written out here independently: palette with a transparent
index, grey with alpha, 1-bit, progressive JPEG, a 1x1 image, and EXIF orientation left unapplied."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.classification.presets import resolve_recipe
from tasks.classification.transform import preprocess_image
from tests.preprocess.test_preprocess import modelzoo_reference


def torchvision_eval(path: Path) -> np.ndarray:
    """torchvision's eval transform (Resize 256, CenterCrop 224, ImageNet mean and std), written out with PIL."""
    return np.frombuffer(modelzoo_reference(path), dtype=np.float32).reshape(3, 224, 224)


def photo() -> Image.Image:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((160, 120), Image.BICUBIC)  # smooth enough for JPEG to keep its shape


def save(kind: str, path: Path) -> None:
    rgb = photo()
    if kind == "palette_transparent.png":
        rgb.convert("P", palette=Image.ADAPTIVE).save(path, transparency=0)
    elif kind == "grey_alpha.png":
        rgb.convert("LA").save(path)
    elif kind == "bilevel.png":
        rgb.convert("1").save(path)
    elif kind == "progressive.jpg":
        rgb.save(path, progressive=True, quality=90)
    elif kind == "one_pixel.png":
        Image.new("RGB", (1, 1), (200, 10, 10)).save(path)
    elif kind == "exif_rotated.jpg":
        exif = rgb.getexif()
        exif[0x0112] = 6  # "rotate 90 CW to display"; pixels stay as stored
        rgb.save(path, exif=exif)


@pytest.mark.parametrize("kind", ["palette_transparent.png", "grey_alpha.png", "bilevel.png", "progressive.jpg",
                                  "one_pixel.png", "exif_rotated.jpg"])
def test_each_mode_gives_torchvisions_tensor(tmp_path, kind):
    path = tmp_path / kind
    save(kind, path)
    got = preprocess_image(path, resolve_recipe(None, "resnet"))
    assert got.shape == (3, 224, 224) and got.dtype == np.float32
    np.testing.assert_array_equal(got, torchvision_eval(path))
