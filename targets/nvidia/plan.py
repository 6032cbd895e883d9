"""Pure decisions for the NVIDIA target: batch profiles, precision plans per TensorRT version, file names.

Nothing here imports tensorrt or torch, so every rule is tested on machines without a GPU.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import ContractError, TargetError
from harness.vocabulary import Precision

AUTOCAST_HINT = ("python -m modelopt.onnx.autocast --onnx_path model.onnx --output_path model.fp16.onnx "
                 "--low_precision_type fp16 --keep_io_types")
QUANTIZE_HINT = ("python -m modelopt.onnx.quantization --onnx_path model.onnx --quantize_mode int8 "
                 "--calibration_data calib.npy --output_path model.int8.onnx")


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an engine takes: one (static) or the range min..max tuned for `opt`."""

    min: int
    opt: int
    max: int

    @property
    def static(self) -> bool:
        return self.min == self.max

    @property
    def tag(self) -> str:
        return f"bs{self.min}" if self.static else f"bs{self.min}-{self.max}"

    def shapes(self, sample_shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) input shapes for an optimization profile."""
        return tuple((batch, *sample_shape) for batch in (self.min, self.opt, self.max))

    def check(self, batch: int) -> None:
        if not self.min <= batch <= self.max:
            takes = f"only batch size {self.min}" if self.static else f"batch sizes {self.min}..{self.max}"
            raise ContractError(f"batch size {batch} given, the engine takes {takes}; "
                                "convert with a matching BS or BATCHES")

    def to_dict(self) -> dict:
        return {"min": self.min, "opt": self.opt, "max": self.max}

    @classmethod
    def from_dict(cls, data: dict) -> "BatchProfile":
        return cls(int(data["min"]), int(data["opt"]), int(data["max"]))


def batch_profile(batch_sizes: list[int], dynamic: bool, opt: int | None = None) -> BatchProfile:
    """Static: exactly one batch size. Dynamic: min..max of the sizes, tuned for `opt` (default max).

    A dynamic request with one size N means "any batch up to N", the usual reading of a max batch.
    """
    sizes = sorted({int(b) for b in batch_sizes})
    if not sizes or sizes[0] < 1:
        raise TargetError(f"batch sizes {batch_sizes} are not positive integers; pass BS=N or BATCHES=\"1 8 64\"")
    if not dynamic:
        if len(sizes) > 1:
            raise TargetError(f"a static engine takes one batch size, {sizes} given; build one engine per "
                              "size or ask for a dynamic batch range")
        return BatchProfile(sizes[0], sizes[0], sizes[0])
    low = sizes[0] if len(sizes) > 1 else 1
    high = sizes[-1]
    tuned = high if opt is None else int(opt)
    if not low <= tuned <= high:
        raise TargetError(f"opt_batch={tuned} lies outside the batch range {low}..{high}")
    return BatchProfile(low, tuned, high)


@dataclass(frozen=True)
class OnnxFacts:
    """What the precision plan needs to know about an ONNX file."""

    has_qdq: bool
    has_fp16: bool


@dataclass(frozen=True)
class PrecisionPlan:
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    note: str


def tensorrt_major(version: str) -> int:
    match = re.match(r"(\d+)\.", version)
    if not match:
        raise TargetError(f"cannot read the TensorRT version {version!r}")
    return int(match.group(1))


def precision_plan(trt_version: str, precision: str, facts: OnnxFacts) -> PrecisionPlan:
    """How to get `precision` out of this ONNX with this TensorRT, or one line saying why it cannot.

    10.x: weak typing with builder flags still works (deprecated in 10.12). 11.x: the precision flags
    are gone, networks are always strongly typed, so the precision must already be in the ONNX.
    INT8 comes only from Q/DQ nodes (implicit calibration: deprecated in 10.1, removed in 11).
    """
    major = tensorrt_major(trt_version)
    if major < 10:
        raise TargetError(f"TensorRT {trt_version} is too old; the nvidia target needs TensorRT 10 or 11 "
                          "(name-based I/O, build_serialized_network)")
    if precision == Precision.INT8:
        if not facts.has_qdq:
            raise TargetError(f"int8 with TensorRT {trt_version} needs an ONNX with Q/DQ nodes (calibrators "
                              f"are deprecated since 10.1 and removed in 11); make one with: {QUANTIZE_HINT}")
        return PrecisionPlan(True, (), "explicit quantization: Q/DQ ONNX built strongly typed")
    if facts.has_qdq:
        raise TargetError(f"the ONNX holds Q/DQ nodes, which is an int8 model; convert with PRECISION=int8 "
                          f"or give the {precision} ONNX")
    if precision == Precision.FP16:
        if facts.has_fp16:
            return PrecisionPlan(True, (), "fp16 ONNX built strongly typed")
        if major == 10:
            return PrecisionPlan(False, ("FP16",), "FP16 builder flag on a weakly typed network "
                                 "(deprecated since TensorRT 10.12)")
        raise TargetError(f"TensorRT {trt_version} has no FP16 builder flag: fp16 needs an ONNX with fp16 "
                          f"tensors, built strongly typed; make one with: {AUTOCAST_HINT}")
    if precision == Precision.FP32:
        if facts.has_fp16:
            raise TargetError("the ONNX holds fp16 tensors; convert with PRECISION=fp16 or give the fp32 ONNX")
        return PrecisionPlan(major >= 11, (), "fp32 network, TF32 allowed (builder default)")
    raise TargetError(f"precision {precision!r} is not one of fp32, fp16, int8")


def gpu_tag(compute_capability: str) -> str:
    """'9.0' -> 'sm90': engines are specific to the GPU architecture they were built on."""
    return "sm" + compute_capability.replace(".", "")


def engine_filename(model: str, precision: str, profile: BatchProfile, trt_version: str,
                    compute_capability: str) -> str:
    """The name says what the plan is tied to: precision, batch profile, TensorRT version and GPU."""
    return f"{model}.{precision}.{profile.tag}.trt{trt_version}.{gpu_tag(compute_capability)}.plan"


def timing_cache_filename(model: str, trt_version: str, compute_capability: str) -> str:
    """One timing cache per model, TensorRT version and GPU architecture, beside the engines."""
    return f"{model}.trt{trt_version}.{gpu_tag(compute_capability)}.timing.cache"


def torch_artifact_filename(model: str, precision: str, profile: BatchProfile) -> str:
    return f"{model}.{precision}.{profile.tag}.pt2"


def meta_filename(artifact_name: str) -> str:
    """The small JSON beside each artifact: what built it, and for which GPU."""
    return f"{artifact_name}.json"


# TensorRT DataType names -> torch dtype attribute names (the runtime maps engine I/O through this).
TRT_DTYPE_NAMES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "UINT8": "uint8",
                   "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


def trt_dtype_name(trt_name: str) -> str:
    try:
        return TRT_DTYPE_NAMES[trt_name]
    except KeyError:
        raise TargetError(f"engine tensor type {trt_name} has no host equivalent in the harness") from None
