"""PyTorch -> ONNX with a dynamic batch axis, and the check of ONNX Runtime against PyTorch."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from convert.onnx_tools import atomic_output, check_verification, random_batch, run_onnxruntime, verification_record
from harness.contracts import TensorSpec
from harness.errors import ContractError

INPUT_NAME = "image"
OUTPUT_NAME = "class"
BATCH_AXIS = "batch"


def export_onnx(module: torch.nn.Module, input_size: tuple[int, int, int], path: Path, opset: int) -> None:
    """TorchScript-based export (dynamo=False): the graph ONNX-only tools (atc, onnxsim) expect."""
    dummy = torch.randn(1, *input_size)
    dynamic_axes = {INPUT_NAME: {0: BATCH_AXIS}, OUTPUT_NAME: {0: BATCH_AXIS}}
    with atomic_output(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        # Tracer and deprecation warnings are noise here: the result is checked numerically below.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (dummy,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False)
        except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ContractError(f"ONNX export at opset {opset} failed ({first}); try another --opset") from None


def torch_outputs(module: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(batch)).numpy()


def verify_against_torch(module: torch.nn.Module, onnx_path: Path, spec: TensorSpec, batch: int = 2) -> dict:
    """Run both on the same random batch (batch > 1 exercises the dynamic axis); fail beyond tolerance."""
    inputs = random_batch(spec, batch)
    record = verification_record(run_onnxruntime(onnx_path, inputs), torch_outputs(module, inputs),
                                 f"PyTorch {torch.__version__}", inputs.shape)
    check_verification(record, onnx_path)
    return record
