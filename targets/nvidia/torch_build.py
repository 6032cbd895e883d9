"""Build step of the torch engine: the PyTorch model exported with torch.export and saved beside the ONNX.

The program is saved in float32 with its BatchNorms intact; precision, layout and graph rewrites are
applied when it is opened (torch_runtime.py), so one artifact serves every variant.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from harness.errors import TargetError
from harness.files import atomic_output
from harness.vocabulary import Precision
from targets.base import BuildRequest
from targets.nvidia.compat import write_meta
from targets.nvidia.device import import_torch
from targets.nvidia.plan import BatchProfile


def example_batch(profile: BatchProfile) -> int:
    """Trace with 2 when the range allows: a traced 1 lets export specialise on it."""
    return profile.min if profile.static else min(max(2, profile.min), profile.max)


def export_model(request: BuildRequest, profile: BatchProfile):
    torch = import_torch()
    from convert.export import example_input

    if request.load_model is None:
        raise TargetError("the torch engine builds from the PyTorch model, and this build request has no "
                          "model loader; run it through convert, or use engine=tensorrt")
    model = request.load_model()
    model.eval()
    example = example_input((example_batch(profile), *request.input.sample_shape), request.input.dtype)
    dynamic = None if profile.static else ({0: torch.export.Dim("batch", min=profile.min, max=profile.max)},)
    try:
        with torch.no_grad():
            return torch.export.export(model, (example,), dynamic_shapes=dynamic)
    except Exception as exc:  # export raises many types; the first line names the construct it cannot trace
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TargetError(f"torch.export cannot export {request.model} ({first}); use engine=tensorrt") from None


def build_torch_artifact(request: BuildRequest, profile: BatchProfile, artifact: Path) -> dict:
    torch = import_torch()
    if request.precision not in (Precision.FP32, Precision.FP16):
        raise TargetError(f"the torch engine runs fp32 and fp16, not {request.precision}; int8 needs "
                          "engine=tensorrt with a Q/DQ ONNX")
    started = time.perf_counter()
    program = export_model(request, profile)
    with atomic_output(artifact, suffix=".pt2") as tmp:  # torch.export.save wants the .pt2 suffix
        torch.export.save(program, str(tmp))
    export_s = round(time.perf_counter() - started, 2)
    write_meta(artifact, {"engine": "torch", "torch": torch.__version__, "model": request.model,
                          "precision": request.precision, "batch_profile": profile.to_dict(),
                          "input": dataclasses.asdict(request.input),
                          "output": dataclasses.asdict(request.output)})
    return {"engine": "torch", "torch": torch.__version__, "export_s": export_s, "format": "torch.export"}
