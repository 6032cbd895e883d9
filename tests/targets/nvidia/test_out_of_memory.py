"""The torch engine turns CUDA out-of-memory into DeviceOutOfMemory (batch, free memory), which a sweep records."""
from __future__ import annotations

from types import SimpleNamespace

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
