"""The classification transform: resize the shorter side, center crop, normalise (the ModelZoo formula,
kept in float32 like the original)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from preprocess.decode import DEFAULT_MAX_PIXELS, load_rgb

_RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
             "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}


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


def preprocess_image(path: Path, recipe: dict, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    img = load_rgb(path, max_pixels)
    img = resize_shorter(img, int(recipe["resize"]), recipe["interpolation"])
    img = center_crop(img, int(recipe["input_size"]))
    return to_tensor(img, recipe)
