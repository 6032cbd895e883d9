"""Decode one image file to RGB pixels, bounded and with clear errors: the first step of every task's transform."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.errors import InputError

# PIL's own limit (Image.MAX_IMAGE_PIXELS, about 89.5 megapixels): decoded as RGB that is about 0.33 GiB,
# and a worker holds the decoded image and its RGB copy, so at most about 8 bytes per pixel.
DEFAULT_MAX_PIXELS = 89_478_485
BYTES_PER_PIXEL_BOUND = 8


def too_large(path: Path, width: int, height: int, max_pixels: int) -> InputError:
    return InputError(f"{path}: image header says {width}x{height} = {width * height} pixels, above the limit "
                      f"of {max_pixels} (--max-pixels; a decompression bomb or a very large scan); remove it, "
                      "rerun with --skip-bad, or raise --max-pixels")


def load_rgb(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open any supported mode (L, CMYK, P, RGBA, I;16...) and return RGB; bad files raise InputError.
    The pixel count in the header is checked before anything is decoded."""
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes); remove it or rerun with --skip-bad")
    Image.MAX_IMAGE_PIXELS = None  # the check below, with the user's limit, replaces PIL's own
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns about palette transparency; handled below
            with Image.open(path) as img:
                if img.width * img.height > max_pixels:
                    raise too_large(path, img.width, img.height, max_pixels)
                img.load()
                if img.mode == "P" and "transparency" in img.info:
                    img = img.convert("RGBA")
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    img = _to_8bit(img)
                return img.convert("RGB")
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image PIL can read; remove it or rerun with --skip-bad") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: corrupt or truncated image ({exc}); remove it or rerun with "
                         "--skip-bad") from None


def _to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit grey to 8 bits as trunc(clip(v / 256, 0, 255)), in integers and in place: a float64
    copy would take 8 bytes a pixel on top of the image."""
    values = np.array(img)
    np.floor_divide(values, 256, out=values)  # equals trunc(v / 256) for v >= 0; v < 0 clips to 0 either way
    np.clip(values, 0, 255, out=values)
    return Image.fromarray(values.astype(np.uint8))
