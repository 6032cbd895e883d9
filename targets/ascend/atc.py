"""The atc command line (ONNX -> OM), built as an argv list by pure functions.

Flags and values follow ref-ascend.md section 2 and the ModelZoo commands, e.g.
`atc --framework=5 --model=x.onnx --output=x_bs16 --input_format=NCHW
     --input_shape=image:16,3,224,224 --soc_version=Ascend310P3 --log=error`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError, TargetError
from harness.vocabulary import Precision, PrecisionLabel

ONNX_FRAMEWORK = "5"
LOG_LEVELS = ("debug", "info", "warning", "error", "null")
# What each mode really computes in (atc precision_mode / precision_mode_v2 reference, CANN 7.0 and 8.0):
# force_fp32 and cube_fp16in_fp32out are documented as equivalent: cube ops (Conv, MatMul) take fp16 inputs
# and write fp32; only must_keep_origin_dtype (v1) and origin (v2) keep an fp32 graph in fp32.
EFFECTIVE_PRECISION: dict[str, str] = {
    "force_fp16": Precision.FP16, "must_keep_origin_dtype": Precision.FP32,
    "force_fp32": PrecisionLabel.FP32_CUBE_FP16_IN, "cube_fp16in_fp32out": PrecisionLabel.FP32_CUBE_FP16_IN,
    "allow_fp32_to_fp16": PrecisionLabel.MIXED_FP16, "allow_mix_precision": PrecisionLabel.MIXED_FP16,
    "allow_mix_precision_fp16": PrecisionLabel.MIXED_FP16, "allow_mix_precision_bf16": PrecisionLabel.MIXED_BF16,
    "allow_fp32_to_bf16": PrecisionLabel.MIXED_BF16,
}
EFFECTIVE_PRECISION_V2: dict[str, str] = {
    "fp16": Precision.FP16, "origin": Precision.FP32, "cube_fp16in_fp32out": PrecisionLabel.FP32_CUBE_FP16_IN,
    "mixed_float16": PrecisionLabel.MIXED_FP16, "mixed_bfloat16": PrecisionLabel.MIXED_BF16,
    "cube_hif8": PrecisionLabel.FP32_CUBE_HIF8_IN, "mixed_hif8": PrecisionLabel.MIXED_HIF8,
}
PRECISION_MODES = tuple(EFFECTIVE_PRECISION)  # the values atc accepts, old and new spellings
PRECISION_MODES_V2 = tuple(EFFECTIVE_PRECISION_V2)
MAX_GEARS = 100
MAX_GEAR_BATCH = 2048
_OUTPUT_NAME_OK = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass
class AtcConfig:
    """Everything one atc run needs; `batch_sizes` of length > 1 means dynamic-batch gears."""

    onnx: Path
    output: Path  # path + base name, without .om (atc appends it)
    input_name: str
    sample_shape: tuple[int, ...]  # C, H, W of the ONNX input
    batch_sizes: list[int]
    soc_version: str
    precision_args: list[str]
    aipp_config: Path | None = None
    log: str = "error"


def precision_args(precision: str, supports_v2: bool, override: str | None = None) -> list[str]:
    """The precision flag for the harness precision.

    fp16 -> --precision_mode=force_fp16 (atc's inference default, spelled out so the build says it).
    fp32 -> --precision_mode_v2=origin where this atc lists --precision_mode_v2 in its help (documented
    from CANN 7.0), else --precision_mode=must_keep_origin_dtype: both keep every op in its original dtype.
    (force_fp32 would not: it feeds cube ops fp16.) `override` is a raw --precision_mode value (or
    `v2:<value>` for --precision_mode_v2); effective_precision() says what it computes in.
    """
    if override:
        if override.startswith("v2:"):
            value = override[3:]
            if not supports_v2:
                raise InputError(f"precision_mode {override!r} needs an atc with --precision_mode_v2 "
                                 "(CANN 7.0 or newer); this atc does not list it in `atc --help`")
            _check_choice(value, PRECISION_MODES_V2, "precision_mode_v2")
            return [f"--precision_mode_v2={value}"]
        _check_choice(override, PRECISION_MODES, "precision_mode")
        return [f"--precision_mode={override}"]
    if precision == Precision.FP16:
        return ["--precision_mode=force_fp16"]
    if precision == Precision.FP32:
        return ["--precision_mode_v2=origin"] if supports_v2 else ["--precision_mode=must_keep_origin_dtype"]
    raise TargetError(f"the ascend target has no atc precision mode for {precision!r}; use fp32 or fp16")


def effective_precision(flags: list[str]) -> str:
    """What an OM built with these precision flags computes in (atc's default is force_fp16)."""
    for flag in flags:
        name, _, value = flag.lstrip("-").partition("=")
        table = EFFECTIVE_PRECISION_V2 if name == "precision_mode_v2" else EFFECTIVE_PRECISION
        if name in ("precision_mode", "precision_mode_v2"):
            return table.get(value, f"unknown ({flag})")
    return Precision.FP16


def _check_choice(value: str, choices: tuple[str, ...], flag: str) -> None:
    if value not in choices:
        raise InputError(f"unknown {flag} {value!r}; choose one of {', '.join(choices)}")


def gears_for(batch_sizes: list[int], dynamic: bool) -> list[int]:
    """Batch sizes the OM takes: one static size, or the dynamic-batch gears.

    With `dynamic` and a single size B, the gears are the powers of two below B plus B itself
    (atc wants at least two gears); B = 1 stays static.
    """
    sizes = sorted({int(b) for b in batch_sizes})
    if not sizes or sizes[0] < 1:
        raise InputError(f"batch sizes must be positive integers, got {batch_sizes}")
    if dynamic and len(sizes) == 1:
        top = sizes[0]
        sizes = sorted({1 << k for k in range(top.bit_length()) if (1 << k) < top} | {top})
    if len(sizes) > MAX_GEARS or sizes[-1] > MAX_GEAR_BATCH:
        raise InputError(f"atc takes at most {MAX_GEARS} dynamic-batch gears of at most {MAX_GEAR_BATCH}, "
                         f"got {sizes}")
    return sizes


def output_base_name(model: str, precision: str, gears: list[int]) -> str:
    """`<model>_<precision>_bs16`, or `_bs1-4-8-16` for gears; only characters atc allows."""
    name = f"{model}_{precision}_bs{'-'.join(str(g) for g in gears)}"
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
    if not _OUTPUT_NAME_OK.match(name):
        raise InputError(f"cannot form an atc output name from model {model!r}")
    return name


def input_shape_arg(input_name: str, sample_shape: tuple[int, ...], gears: list[int]) -> str:
    batch = str(gears[0]) if len(gears) == 1 else "-1"
    return f"{input_name}:{','.join([batch, *(str(d) for d in sample_shape)])}"


def build_atc_argv(config: AtcConfig, atc: str = "atc") -> list[str]:
    """The atc argv for one ONNX -> OM conversion (no shell quoting: values go in as they are)."""
    if config.log not in LOG_LEVELS:
        raise InputError(f"unknown atc log level {config.log!r}; choose one of {', '.join(LOG_LEVELS)}")
    if any(d < 1 for d in config.sample_shape):
        raise InputError(f"input {config.input_name!r}: atc needs fixed C,H,W, got {config.sample_shape}")
    gears = config.batch_sizes
    argv = [atc, f"--framework={ONNX_FRAMEWORK}", f"--model={config.onnx}", f"--output={config.output}",
            "--input_format=NCHW",
            f"--input_shape={input_shape_arg(config.input_name, config.sample_shape, gears)}"]
    if len(gears) > 1:
        argv.append(f"--dynamic_batch_size={','.join(str(g) for g in gears)}")
    argv.append(f"--soc_version={config.soc_version}")
    argv.extend(config.precision_args)
    if config.aipp_config is not None:
        argv += [f"--insert_op_conf={config.aipp_config}", "--enable_small_channel=1"]
    argv.append(f"--log={config.log}")
    return argv


def om_candidates(out_dir: Path, base: str) -> list[Path]:
    """`<base>.om` or `<base>_<os>_<arch>.om` (atc may add the suffix), never `<base>6.om` of another gear."""
    pattern = re.compile(rf"^{re.escape(base)}(_linux_[A-Za-z0-9_]+)?\.om$")
    return sorted((p for p in Path(out_dir).iterdir() if pattern.match(p.name)),
                  key=lambda p: p.stat().st_mtime, reverse=True)


def error_summary(output: str, limit: int = 6) -> str:
    """atc's error lines (E<code>, ERROR, failed) joined on one line, else the last lines."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^(E[0-9A-Z]\d{4}|\[?ERROR\]?)", line) or "failed" in line]
    return " | ".join((errors or lines)[-limit:])
