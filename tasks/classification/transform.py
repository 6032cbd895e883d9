"""The classification transform: resize, center crop, normalise (the ModelZoo formula, kept in float32 like the
original). The resize and crop follow timm's eval crop modes: `center` (shorter side, then crop: torchvision's
Resize + CenterCrop), `squash` (both sides, aspect ratio not kept) and `border` (longer side, then pad with the
mean colour and crop)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from harness.errors import InputError
from preprocess.decode import DEFAULT_MAX_PIXELS, load_rgb

_RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
             "lanczos": Image.LANCZOS, "box": Image.BOX, "hamming": Image.HAMMING}


class UnfitImage(ValueError):
    """An image the recipe cannot make a tensor of (the message says why, preprocess_image names the file)."""


def resize_shorter(img: Image.Image, size: int, interpolation: str,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Shorter side to `size`, the other side truncated as int(size * long / short); upscales small images.
    The resized image is held whole before the crop, so a thin image (a 2x30000 strip: 256x3840000 pixels,
    about 4 GB) is refused under the pixel limit of an image (at least PIL's: a small --max-pixels still lets
    small images be upscaled)."""
    width, height = img.size
    if (width <= height and width == size) or (height <= width and height == size):
        return img
    if width < height:
        new = (size, int(size * height / width))
    else:
        new = (int(size * width / height), size)
    if new[0] * new[1] > max_pixels:
        raise UnfitImage(f"{width}x{height} is too thin for the center crop mode: its shorter side resized to "
                         f"{size} makes {new[0]}x{new[1]} = {new[0] * new[1]} pixels, above the limit of "
                         f"{max_pixels} (--max-pixels raises it)")
    return img.resize(new, _RESAMPLE[interpolation])


def resize_squash(img: Image.Image, size: int, interpolation: str) -> Image.Image:
    """Both sides to `size`, the aspect ratio not kept (timm's crop_mode 'squash')."""
    if img.size == (size, size):
        return img
    return img.resize((size, size), _RESAMPLE[interpolation])


def resize_longer(img: Image.Image, size: int, interpolation: str) -> Image.Image:
    """Longer side to `size`, the other rounded to keep the aspect ratio (timm's ResizeKeepRatio, longest=1)."""
    width, height = img.size
    ratio = max(width, height) / size
    new = (round(width / ratio), round(height / ratio))
    if min(new) < 1:
        raise UnfitImage(f"{width}x{height} is too thin for the border crop mode (its shorter side would be "
                         f"{min(new)} pixels at {size})")
    return img if new == img.size else img.resize(new, _RESAMPLE[interpolation])


def border_fill(recipe: dict) -> tuple[int, int, int]:
    """The pixel a 'border' crop pads with: the mean colour, as timm rounds it."""
    red, green, blue = (round(255 * float(v)) for v in recipe["mean"])
    return red, green, blue


def center_crop(img: Image.Image, size: int, fill: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Crop offsets rounded like the ModelZoo scripts; a crop larger than the image first pads it with `fill`,
    a half more on the right and bottom, as torchvision's CenterCrop and timm's CenterCropOrPad do."""
    width, height = img.size
    if size > width or size > height:
        left, top = max(size - width, 0) // 2, max(size - height, 0) // 2
        padded = Image.new("RGB", (max(size, width), max(size, height)), fill)
        padded.paste(img, (left, top))
        img, (width, height) = padded, padded.size
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


def resize_and_crop(img: Image.Image, recipe: dict, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The recipe's crop mode: resize by `resize`, then a center crop of `input_size`."""
    resize, size, interpolation = int(recipe["resize"]), int(recipe["input_size"]), recipe["interpolation"]
    crop = recipe.get("crop", "center")  # preprocess.json of an older harness: center was the only mode
    if crop == "squash":
        return center_crop(resize_squash(img, resize, interpolation), size)
    if crop == "border":
        return center_crop(resize_longer(img, resize, interpolation), size, border_fill(recipe))
    return center_crop(resize_shorter(img, resize, interpolation, max(max_pixels, DEFAULT_MAX_PIXELS)), size)


def preprocess_image(path: Path, recipe: dict, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    try:
        return to_tensor(resize_and_crop(load_rgb(path, max_pixels), recipe, max_pixels), recipe)
    except UnfitImage as exc:
        raise InputError(f"{path}: {exc}; remove it or rerun with --skip-bad") from None
