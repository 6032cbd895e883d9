"""Options of the nvidia target (given as `key=value` strings on the command line) and the engine choice."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from harness.errors import InputError
from harness.vocabulary import Precision, PrecisionLabel

ENGINES = ("tensorrt", "torch")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class NvidiaOptions:
    engine: str | None = None  # tensorrt | torch; None: tensorrt when it imports, else torch
    workspace_mib: int = 4096  # TensorRT builder workspace pool limit
    opt_batch: int | None = None  # the batch size a dynamic profile is tuned for (default: its max)
    allow_other_gpu: bool = False  # run a plan built on another GPU model of the same architecture
    cuda_graphs: bool = True  # capture one CUDA graph per batch size (falls back to plain launches)
    variant: str | None = None  # torch engine variant (targets/nvidia/variants.py); None: the default
    in_flight: int = 3  # batches a session keeps in flight (pinned host and device buffer sets)
    tf32: bool = True  # torch engine: TF32 matmul/conv for fp32 (tf32=0: strict fp32)

    @classmethod
    def parse(cls, options: dict[str, Any]) -> "NvidiaOptions":
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in options.items():
            if key not in known:
                raise InputError(f"unknown nvidia target option {key!r}; known: {', '.join(sorted(known))}")
            values[key] = _coerce(key, raw, cls.__dataclass_fields__[key].default)
        parsed = cls(**values)
        if parsed.engine is not None and parsed.engine not in ENGINES:
            raise InputError(f"engine={parsed.engine!r}: choose one of {', '.join(ENGINES)}")
        if parsed.in_flight < 1:
            raise InputError("in_flight must be at least 1")
        return parsed


def _coerce(key: str, raw: Any, default: Any) -> Any:
    if raw is None or not isinstance(raw, str):
        return raw
    text = raw.strip()
    if isinstance(default, bool):
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise InputError(f"{key}={raw!r}: expected 1/0 or true/false")
    if isinstance(default, int) or key == "opt_batch":
        if text.lower() in ("", "none"):
            return None
        try:
            return int(text)
        except ValueError:
            raise InputError(f"{key}={raw!r}: expected an integer") from None
    return text or None


TF32_LABEL = PrecisionLabel.FP32_TF32


def effective_precision(precision: str, tf32: bool, compute_capability: tuple[int, int] | None) -> str:
    """What fp32 computes in: TF32 where it is allowed and the GPU has it (compute capability 8.0 and up)."""
    if precision == Precision.FP32 and tf32 and compute_capability is not None and tuple(compute_capability) >= (8, 0):
        return TF32_LABEL
    return precision


def tensorrt_version() -> str | None:
    """The installed TensorRT's version, or None when `import tensorrt` fails."""
    try:
        import tensorrt
        return str(tensorrt.__version__)
    except Exception:  # a broken install (missing libnvinfer) raises OSError, not ImportError; the type
        return None    # stubs alone (tensorrt-stubs) import as an empty namespace package: AttributeError


def choose_engine(requested: str | None) -> str:
    if requested:
        return requested
    return "tensorrt" if tensorrt_version() is not None else "torch"
