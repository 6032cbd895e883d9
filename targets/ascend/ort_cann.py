"""A second way to run on an Ascend NPU: the ONNX itself in ONNX Runtime's CANN execution provider.

No atc and no OM: ONNX Runtime compiles the graph through CANN when the session is created
(`pip install onnxruntime-cann`, which replaces the `onnxruntime` package, plus a sourced CANN).
Compute times are host wall times of `session.run`: ONNX Runtime exposes no device timer.
Only the provider options every onnxruntime-cann version accepts are passed: unknown keys make
session creation fail, and the precision key was renamed between versions (precision_mode ->
precision_mode_v2). So this engine runs at the provider's default precision, force_fp16, and takes
only PRECISION=fp16; fp32 on an NPU goes through the OM engine.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.contracts import TensorSpec
from harness.errors import MissingDependencyError, TargetError
from harness.onnx_meta import ort_tensor_spec
from harness.vocabulary import Precision
from targets.base import BatchTiming, SyncSession

PROVIDER = "CANNExecutionProvider"
HOW_TO_INSTALL = ("pip install onnxruntime-cann (it replaces onnxruntime) and "
                  "`source /usr/local/Ascend/ascend-toolkit/set_env.sh`")
def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("onnxruntime-cann", HOW_TO_INSTALL) from None
    return onnxruntime


PRECISIONS = (Precision.FP16,)


def provider_options(device_id: int) -> dict:
    """device_id, arena_extend_strategy and enable_cann_graph: keys every version parses."""
    return {"device_id": str(device_id), "arena_extend_strategy": "kNextPowerOfTwo",
            "enable_cann_graph": "True"}


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise TargetError(f"engine=ort-cann runs at the CANN provider's default precision (force_fp16) and "
                          f"cannot build {precision!r}; use --precision fp16, or the default OM engine")


class OrtCannSession(SyncSession):
    def __init__(self, onnx_path: Path, device_id: int) -> None:
        super().__init__()
        ort = _ort()
        if PROVIDER not in ort.get_available_providers():
            raise MissingDependencyError("onnxruntime-cann", HOW_TO_INSTALL,
                                         why=f"this onnxruntime {ort.__version__} has no {PROVIDER}")
        options = provider_options(device_id)
        try:
            self._sess = ort.InferenceSession(str(onnx_path), providers=[(PROVIDER, options)])
        except Exception as exc:  # ORT raises its own exception types
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TargetError(f"{onnx_path}: {PROVIDER} cannot load it ({first}); check the CANN setup "
                              "(set_env.sh sourced, driver installed)") from None
        if PROVIDER not in self._sess.get_providers():
            raise TargetError(f"{onnx_path}: ONNX Runtime did not enable {PROVIDER}; check the CANN setup")
        self._inputs = [ort_tensor_spec(i) for i in self._sess.get_inputs()]
        self._outputs = [ort_tensor_spec(o) for o in self._sess.get_outputs()]
        self._output_names = [o.name for o in self._outputs]
        self._info = {"engine": "ort-cann", "provider": PROVIDER, "onnxruntime": ort.__version__,
                      "provider_options": options, "device_id": device_id, "precision_mode": "force_fp16",
                      "compute_timing": "host wall time of session.run"}

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def info(self) -> dict:
        return dict(self._info)

    def _infer(self, batch: np.ndarray) -> tuple[list[np.ndarray], BatchTiming]:
        start = time.perf_counter()
        outputs = self._sess.run(self._output_names, {self._inputs[0].name: batch})
        return outputs, BatchTiming(compute_ms=(time.perf_counter() - start) * 1000.0)
