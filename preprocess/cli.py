"""`python -m preprocess`: images -> .bin files per SPEC section 3.1."""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.cli import Parser
from harness.vocabulary import InputForm
from preprocess.decode import BYTES_PER_PIXEL_BOUND, DEFAULT_MAX_PIXELS
from tasks.classification.presets import CROP_MODES, INTERPOLATIONS, PRESETS


@dataclass
class PreprocessConfig:
    input: Path
    output: Path
    model: str | None = None
    preset: str | None = None
    mode: str = "float32"
    resize: int | None = None
    input_size: int | None = None
    interpolation: str | None = None
    crop: str | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    workers: int | None = None
    skip_bad: bool = False
    progress: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    mmcls_config: str | None = None


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers, got {text!r}") from None


def _problems(config: PreprocessConfig) -> list[str]:
    """What is wrong with the numbers given, each naming its flag; checked before anything is written."""
    problems = [f"--{flag.replace('_', '-')} must be at least 1, got {value}"
                for flag, value in (("resize", config.resize), ("input_size", config.input_size),
                                    ("workers", config.workers), ("max_pixels", config.max_pixels))
                if value is not None and value < 1]
    limit = max(config.max_pixels, DEFAULT_MAX_PIXELS)  # a small --max-pixels with upscaling is a fair choice
    for flag in ("resize", "input_size"):
        side = getattr(config, flag)
        if side is not None and side * side > limit:
            problems.append(f"--{flag.replace('_', '-')} {side} makes images of at least {side * side} pixels, above "
                            f"the limit of {limit} (--max-pixels raises it)")
    if config.mean is not None and (len(config.mean) != 3 or not all(map(math.isfinite, config.mean))):
        problems.append(f"--mean takes three finite numbers, got {_shown(config.mean)}")
    if config.std is not None and (len(config.std) != 3 or not all(math.isfinite(v) and v > 0 for v in config.std)):
        problems.append(f"--std takes three finite numbers above 0, got {_shown(config.std)}")
    return problems


def _shown(values: list[float]) -> str:
    return "'" + " ".join(f"{v:g}" for v in values) + "'"


def parse_args(argv: Sequence[str]) -> PreprocessConfig:
    p = Parser(prog="python -m preprocess", description=__doc__)
    p.add_argument("--input", "-i", required=True, type=Path, help="directory of images (searched recursively)")
    p.add_argument("--output", "-o", required=True, type=Path, help="directory for <stem>.bin + preprocess.json")
    p.add_argument("--model", help="registered model (harness/models.py) or timm architecture name: its data config "
                                   "(registry entry, or timm's pretrained config) gives the recipe")
    p.add_argument("--mmcls-config", help="mmcls config file (or built-in name) whose test pipeline (Resize, "
                                          "CenterCrop, Normalize) gives the recipe, as convert --mmcls-config "
                                          "reads it; explicit flags still win")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a preset recipe instead of the model's data config")
    p.add_argument("--mode", choices=tuple(InputForm), default=InputForm.FLOAT32,
                   help="float32 CHW normalised (default) or uint8 HWC pixels, normalised on the device (Ascend: "
                        "AIPP; cpu, nvidia: the model's first op, see docs/nvidia.md)")
    p.add_argument("--resize", type=int, help="size the shorter side (--crop says which) is scaled to before the crop")
    p.add_argument("--input-size", type=int, help="center crop size")
    p.add_argument("--interpolation", choices=INTERPOLATIONS)
    p.add_argument("--crop", choices=CROP_MODES, help="how the image meets the crop (timm's crop_mode): center "
                                                      "(shorter side to --resize), squash (both sides), border "
                                                      "(longer side, padded with the mean colour)")
    p.add_argument("--mean", type=_floats, help="three values, e.g. '0.485 0.456 0.406'")
    p.add_argument("--std", type=_floats, help="three values")
    p.add_argument("--workers", type=int, help="processes (default: all cores)")
    p.add_argument("--skip-bad", action="store_true", help="record unreadable images in the sidecar and go on")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse images whose header claims more pixels (default {DEFAULT_MAX_PIXELS}, PIL's; "
                        f"a worker needs up to about {BYTES_PER_PIXEL_BOUND} bytes per pixel to decode one)")
    config = PreprocessConfig(**vars(p.parse_args(list(argv))))
    problems = _problems(config)
    if problems:
        p.error("; ".join(problems))
    return config
