"""The harness's words, each defined once: precisions, precision labels, run modes, input forms.

Members are str enums, so they compare equal to, and are written into JSON as, the plain strings the
sidecars have always held ("fp32", "dataset", ...). Targets name the subset they take
(`Target.precisions`) from these members. Output formats and tasks are named where they are
registered.
"""
from __future__ import annotations

from enum import StrEnum


class Precision(StrEnum):
    """What convert is asked to build (`--precision`)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


PRECISIONS: tuple[Precision, ...] = tuple(Precision)


class PrecisionLabel(StrEnum):
    """What the device computed in, where it differs from the requested precision (README, "What each
    label in the report means"); the requested ones label themselves."""

    FP32_TF32 = "fp32 (TF32 matmul/conv)"  # NVIDIA, compute capability 8.0+, TF32 allowed
    INT8_ACTIVATIONS_ONLY = "int8-activations-only"  # a Q/DQ model whose weights stay float
    FP32_CUBE_FP16_IN = "fp32-cube-fp16in"  # Ascend: cube ops take fp16 inputs, write fp32
    FP32_CUBE_HIF8_IN = "fp32-cube-hif8in"
    MIXED_FP16 = "mixed-fp16"
    MIXED_BF16 = "mixed-bf16"
    MIXED_HIF8 = "mixed-hif8"


class RunMode(StrEnum):
    """An infer run over preprocessed files (outputs written, accuracy possible) or over random data."""

    DATASET = "dataset"
    PURE = "pure"


class InputForm(StrEnum):
    """What the artifact takes: float32 CHW normalised on the host, or uint8 HWC normalised on the device."""

    FLOAT32 = "float32"
    UINT8 = "uint8"


INPUT_FORM_LAYOUT: dict[InputForm, tuple[str, str]] = {  # form -> (dtype of the .bin files, layout)
    InputForm.FLOAT32: ("float32", "CHW"),
    InputForm.UINT8: ("uint8", "HWC"),
}
