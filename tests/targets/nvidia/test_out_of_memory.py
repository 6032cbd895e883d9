"""The torch engine turns CUDA out-of-memory into DeviceOutOfMemory (batch, free memory), which a sweep records."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness.errors import DeviceOutOfMemory
from targets.nvidia.torch_runtime import out_of_memory_as_error

FREE, TOTAL = 3 << 30, 140 << 30


def fake_torch_with_free_memory():
    """torch's own OutOfMemoryError class, and a mem_get_info that answers as a GPU would."""
    calls = []

    def mem_get_info(device):
        calls.append(device)
        return FREE, TOTAL

    cuda = SimpleNamespace(OutOfMemoryError=torch.cuda.OutOfMemoryError, mem_get_info=mem_get_info)
    return SimpleNamespace(cuda=cuda), calls


def test_cuda_out_of_memory_becomes_the_harness_error_with_the_free_memory():
    fake, calls = fake_torch_with_free_memory()
    device = SimpleNamespace(type="cuda", index=0)
    with pytest.raises(DeviceOutOfMemory) as caught:
        with out_of_memory_as_error(fake, device, 512):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nmore")
    error = caught.value
    assert (error.batch, error.needed_bytes, error.available_bytes) == (512, None, FREE)
    assert calls == [device]
    assert str(error).startswith("batch 512 does not fit in device memory (available 3,072.0 MiB); torch: CUDA out")
    assert error.exit_code == 8 and "\n" not in str(error)


def test_other_errors_pass_through():
    fake, _ = fake_torch_with_free_memory()
    with pytest.raises(RuntimeError, match="not memory"):
        with out_of_memory_as_error(fake, SimpleNamespace(type="cuda"), 8):
            raise RuntimeError("not memory")


@pytest.mark.parametrize("precompile", [True, False])
def test_out_of_memory_inside_a_compiled_module_is_no_compile_failure(tmp_path, monkeypatch, precompile):
    """A compiled module that runs out of memory: the batch is reported, no fallback variant is tried."""
    from targets.nvidia.precompiled import PrecompiledGraphs
    from targets.nvidia.torch_runtime import TorchRunner
    from targets.nvidia.variants import resolve_variant
    from tests.targets.nvidia.test_torch_engine import build

    def run(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 300.00 GiB.")

    monkeypatch.setattr(TorchRunner, "_compiled", lambda self, module: run)
    monkeypatch.setattr(PrecompiledGraphs, "callable_for", lambda self, batch, example: run)
    _, result, _, _ = build(tmp_path, batches=(2,), dynamic=False)
    runner = TorchRunner(result.artifact, torch.device("cpu"), "fp32", resolve_variant("inductor"), (3, 8, 8),
                         precompile=precompile)
    with pytest.raises(DeviceOutOfMemory, match="batch 2 does not fit"):
        runner.forward(torch.zeros(2, 3, 8, 8))
    runner.close()
    info = runner.info()
    assert "fallback" not in info and "note" not in info["compile_path"]


class WideConv(torch.nn.Module):
    """One convolution to 1024 channels: 16 MiB of fp32 output per 64x64 image, an easy batch to overflow."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1024, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))[:, :10]


@pytest.mark.nvidia
@pytest.mark.parametrize("variant", ["plain", "inductor"])
def test_a_batch_larger_than_the_gpu_is_reported_with_the_free_memory(tmp_path, cuda, variant):
    from harness.contracts import ConvertManifest, TensorSpec
    from targets import get_target
    from targets.base import BuildRequest

    free, _ = torch.cuda.mem_get_info(cuda)
    per_image = 1024 * 64 * 64 * 4
    batch = int(2 * free // per_image)  # the first convolution's output alone is twice the free memory
    spec_in, spec_out = TensorSpec("image", [-1, 3, 64, 64]), TensorSpec("class", [-1, 10])
    target = get_target("nvidia", engine="torch", variant=variant)
    request = BuildRequest(onnx=tmp_path / "wide.sim.onnx", out_dir=tmp_path, model="wide", precision="fp32",
                           batch_sizes=[batch], dynamic_batch=False, input=spec_in, output=spec_out,
                           load_model=lambda: WideConv().eval())
    result = target.build(request)
    manifest = ConvertManifest(model="wide", target="nvidia", precision="fp32", artifact=result.artifact.name,
                               onnx="wide.sim.onnx", sim_onnx="wide.sim.onnx", input=spec_in, output=spec_out,
                               batch_sizes=[batch], dynamic_batch=False, opset=17)
    with pytest.raises(DeviceOutOfMemory) as caught:
        with target.open(result.artifact, manifest, "0") as session:
            session.warmup(session.allocate_host((batch, 3, 64, 64), np.float32), 1)
    error = caught.value
    assert error.batch == batch and 0 < error.available_bytes <= torch.cuda.get_device_properties(cuda).total_memory
    assert "\n" not in str(error) and f"batch {batch} does not fit in device memory" in str(error)


def test_a_long_torch_message_is_cut_after_a_whole_sentence():
    fake, _ = fake_torch_with_free_memory()
    message = ("CUDA out of memory. Tried to allocate 98.00 GiB. GPU 0 has a total capacity of 139.80 GiB of which "
               "7.07 GiB is free. Including non-PyTorch memory, this process has 132.44 GiB memory in use. Of the "
               "allocated memory 131.9 GiB is allocated by PyTorch, and 12 MiB is reserved but unallocated.")
    with pytest.raises(DeviceOutOfMemory) as caught:
        with out_of_memory_as_error(fake, SimpleNamespace(type="cuda", index=0), 65536):
            raise torch.cuda.OutOfMemoryError(message)
    assert str(caught.value).endswith("this process has 132.44 GiB memory in use.; use a smaller --batchsize")
