"""AIPP (on-chip preprocessing) configuration for OMs fed with uint8 HWC images.

Preprocess writes resized (and cropped) RGB bytes; the AIPP step inserted by atc crops them to the
network size and normalises on the NPU: out = (pixel - min_chn) * var_reci_chn, with
min_chn = mean * 255 and var_reci_chn = 1 / (std * 255) for a recipe whose mean/std are in [0, 1]
units (the ModelZoo ResNet50 `aipp_resnet50.aippconfig` in ref-ascend.md section 9 is this rule).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import ContractError
from harness.files import atomic_write_text


@dataclass
class AippPlan:
    src_h: int
    src_w: int
    crop_top: int
    crop_left: int
    out_h: int
    out_w: int
    min_chn: list[float]
    var_reci_chn: list[float]

    @property
    def crops(self) -> bool:
        return (self.src_h, self.src_w) != (self.out_h, self.out_w)


def wants_aipp(preprocess: dict | None) -> bool:
    """AIPP is inserted exactly when the preprocess manifest says the .bin files are uint8."""
    return bool(preprocess) and preprocess.get("dtype") == "uint8"


def _pixel_units(values: list[float]) -> bool:
    # mean/std given as 123.675 / 58.395 instead of 0.485 / 0.229
    return max(abs(float(v)) for v in values) > 1.0


def plan_aipp(preprocess: dict, model_chw: tuple[int, int, int]) -> AippPlan:
    """Crop and normalisation from the preprocess manifest dict and the network's C, H, W."""
    shape, layout = list(preprocess.get("shape", [])), preprocess.get("layout")
    if layout != "HWC" or len(shape) != 3 or shape[2] != 3:
        raise ContractError(f"AIPP takes uint8 HWC images with 3 channels; the preprocess manifest says "
                            f"shape {shape} layout {layout!r}; rerun preprocess with uint8 output")
    channels, out_h, out_w = model_chw
    if channels != 3:
        raise ContractError(f"AIPP feeds 3 channels but the network input has {channels}")
    src_h, src_w = int(shape[0]), int(shape[1])
    if src_h < out_h or src_w < out_w:
        raise ContractError(f"preprocessed images are {src_h}x{src_w}, smaller than the network input "
                            f"{out_h}x{out_w}; rerun preprocess with a matching size")
    recipe = preprocess.get("recipe", {})
    try:
        mean = [float(v) for v in recipe["mean"]]
        std = [float(v) for v in recipe["std"]]
    except (KeyError, TypeError, ValueError):
        raise ContractError("the preprocess manifest's recipe has no usable mean/std for AIPP") from None
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ContractError(f"AIPP needs three means and three positive stds, got {mean} / {std}")
    scale = 1.0 if _pixel_units(mean) else 255.0
    return AippPlan(src_h=src_h, src_w=src_w,
                    crop_top=int(round((src_h - out_h) / 2.0)), crop_left=int(round((src_w - out_w) / 2.0)),
                    out_h=out_h, out_w=out_w,
                    min_chn=[m * scale for m in mean], var_reci_chn=[1.0 / (s * scale) for s in std])


def _number(value: float) -> str:
    return f"{value:.16g}"


def render_aipp(plan: AippPlan) -> str:
    """The aipp_op block in atc's text format (static mode, RGB888_U8 input)."""
    lines = ["aipp_op {", "    aipp_mode : static", "    input_format : RGB888_U8",
             f"    src_image_size_w : {plan.src_w}", f"    src_image_size_h : {plan.src_h}",
             "    csc_switch : false", "    rbuv_swap_switch : false"]
    if plan.crops:
        lines += ["    crop : true", f"    load_start_pos_h : {plan.crop_top}",
                  f"    load_start_pos_w : {plan.crop_left}", f"    crop_size_w : {plan.out_w}",
                  f"    crop_size_h : {plan.out_h}"]
    lines += [f"    min_chn_{i} : {_number(v)}" for i, v in enumerate(plan.min_chn)]
    lines += [f"    var_reci_chn_{i} : {_number(v)}" for i, v in enumerate(plan.var_reci_chn)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_aipp_config(path: Path, preprocess: dict, model_chw: tuple[int, int, int]) -> AippPlan:
    plan = plan_aipp(preprocess, model_chw)
    atomic_write_text(Path(path), render_aipp(plan))
    return plan
