"""PyTorch -> ONNX with a dynamic batch axis, and the check of ONNX Runtime against PyTorch."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from convert.onnx_tools import check_verification, random_batch, run_onnxruntime, verification_record
from harness.contracts import TensorSpec
from harness.errors import ContractError
from harness.files import atomic_output
from harness.vocabulary import InputForm

INPUT_NAME = "image"
OUTPUT_NAME = "class"
BATCH_AXIS = "batch"


class Uint8Normalize(torch.nn.Module):
    """uint8 [N, H, W, C] -> the wrapped model applied to float (x / 255 - mean) / std in [N, C, H, W]."""

    def __init__(self, model: torch.nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        scale = 255.0 * torch.tensor(std, dtype=torch.float32)
        self.register_buffer("offset", (255.0 * torch.tensor(mean, dtype=torch.float32)).view(1, 3, 1, 1))
        self.register_buffer("inverse_scale", (1.0 / scale).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # permute is a view: with channels_last activations (the torch engine's) it costs no copy. No
        # explicit cast: type promotion gives the buffers' dtype, which follows the engine's precision.
        return self.model((pixels.permute(0, 3, 1, 2) - self.offset) * self.inverse_scale)


def with_input_form(module: torch.nn.Module, form: dict) -> torch.nn.Module:
    if form["form"] != InputForm.UINT8:
        return module
    return Uint8Normalize(module, form["mean"], form["std"]).eval()


def example_input(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """A tracing input of the artifact's input dtype (uint8 pixels, or normal floats)."""
    if dtype == "uint8":
        return torch.randint(0, 256, shape, dtype=torch.uint8)
    return torch.randn(*shape)


def export_onnx(module: torch.nn.Module, input_size: tuple[int, int, int], path: Path, opset: int,
                dtype: str = "float32") -> None:
    """TorchScript-based export (dynamo=False): the graph ONNX-only tools (atc, onnxsim) expect."""
    dummy = example_input((1, *input_size), dtype)
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
