"""Decode one image and apply a recipe: the ModelZoo formula, kept in float32 like the original."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.errors import InputError

_RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
             "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}


def load_rgb(path: Path) -> Image.Image:
    """Open any supported mode (L, CMYK, P, RGBA, I;16...) and return RGB; bad files raise InputError."""
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes); remove it or rerun with --skip-bad")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns about palette transparency; handled below
            with Image.open(path) as img:
                img.load()
                if img.mode == "P" and "transparency" in img.info:
                    img = img.convert("RGBA")
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    img = Image.fromarray((np.asarray(img, dtype=np.float64) / 256.0).clip(0, 255)
                                          .astype(np.uint8))
                return img.convert("RGB")
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image PIL can read; remove it or rerun with --skip-bad") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: corrupt or truncated image ({exc}); remove it or rerun with "
                         "--skip-bad") from None


def resize_shorter(img: Image.Image, size: int, interpolation: str) -> Image.Image:
    """Shorter side to `size`, the other side truncated as int(size * long / short); upscales small images."""
    width, height = img.size
    if (width <= height and width == size) or (height <= width and height == size):
        return img
    if width < height:
        new = (size, int(size * height / width))
    else:
        new = (int(size * width / height), size)
    return img.resize(new, _RESAMPLE[interpolation])


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """Crop offsets rounded like the ModelZoo scripts; a crop larger than the image pads with black."""
    width, height = img.size
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def to_tensor(img: Image.Image, recipe: dict) -> np.ndarray:
    """float32 CHW normalised, or uint8 HWC for on-chip (AIPP) normalisation."""
    if recipe["layout"] == "HWC":
        return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    arr = np.array(img, dtype=np.float32).transpose(2, 0, 1)
    arr = arr / 255.0
    arr -= np.array(recipe["mean"], dtype=np.float32)[:, None, None]
    arr /= np.array(recipe["std"], dtype=np.float32)[:, None, None]
    return np.ascontiguousarray(arr)


def preprocess_image(path: Path, recipe: dict) -> np.ndarray:
    img = load_rgb(path)
    img = resize_shorter(img, int(recipe["resize"]), recipe["interpolation"])
    img = center_crop(img, int(recipe["input_size"]))
    return to_tensor(img, recipe)
