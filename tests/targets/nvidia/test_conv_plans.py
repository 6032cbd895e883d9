"""Recording a graph's convolutions and running them again on empty tensors laid out the same way (CPU here)."""
from __future__ import annotations

import threading

import pytest
import torch

from targets.nvidia.conv_plans import (_empty_like_recorded, _tensor, convolutions_file, load_convolutions,
                                       record_convolutions, save_convolutions, warm_convolutions)
from targets.nvidia.device_thread import DeviceThread


def two_convolutions():
    torch.manual_seed(0)
    depthwise = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    pointwise = torch.nn.Conv2d(8, 4, 1, stride=2)
    return lambda x: pointwise(depthwise(x))


def test_records_each_distinct_convolution_once_with_its_layout():
    model = two_convolutions()
    x = torch.randn(2, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        entries = record_convolutions(torch, lambda: (model(x), model(x)))
    assert len(entries) == 2
    depthwise, pointwise = entries
    assert depthwise["groups"] == 8 and depthwise["bias"] is None and depthwise["padding"] == [1, 1]
    assert depthwise["input"] == {"shape": [2, 8, 6, 6], "stride": list(x.stride()), "offset": 0, "dtype": "float32"}
    assert pointwise["stride"] == [2, 2] and pointwise["weight"]["shape"] == [4, 8, 1, 1]
    assert pointwise["bias"]["shape"] == [4]


def test_empty_tensors_keep_the_recorded_strides_and_offset():
    base = torch.randn(5, 4, 3)
    view = base[1:, :, 1:].transpose(0, 1)
    made = _empty_like_recorded(torch, _tensor(view), torch.device("cpu"))
    assert made.shape == view.shape and made.stride() == view.stride()
    assert made.storage_offset() == view.storage_offset() and made.dtype == view.dtype


def test_saved_list_round_trips_and_a_bad_file_is_no_list(tmp_path):
    model = two_convolutions()
    with torch.no_grad():
        entries = record_convolutions(torch, lambda: model(torch.randn(1, 8, 4, 4)))
    path = convolutions_file(tmp_path, 1)
    save_convolutions(path, entries)
    assert path.name == "bs1.convolutions.json" and load_convolutions(path) == entries
    path.write_text("{truncated")
    assert load_convolutions(path) == [] and load_convolutions(tmp_path / "missing.json") == []


def test_warm_runs_what_it_can_and_counts_it():
    model = two_convolutions()
    with torch.no_grad():
        entries = record_convolutions(torch, lambda: model(torch.randn(1, 8, 4, 4)))
    wrong = {**entries[0], "groups": 3}  # 8 channels do not split into 3 groups: skipped, not raised
    assert warm_convolutions(torch, torch.device("cpu"), [entries[0], wrong, entries[1]]) == 2


def test_device_thread_runs_in_order_without_grad_and_hands_errors_back():
    thread = DeviceThread(torch, torch.device("cpu"))
    seen = []
    thread.submit(lambda: seen.append(("first", threading.current_thread().name)))
    grad = thread.call(torch.is_grad_enabled)
    seen.append(("second", None))
    assert seen[0] == ("first", "device") and grad is False and torch.is_grad_enabled()

    def broken():
        raise ValueError("on the device thread")

    with pytest.raises(ValueError, match="on the device thread"):
        thread.call(broken)
    assert thread.call(lambda: 42) == 42  # still serving after an error
    thread.close()


def test_device_thread_that_cannot_take_its_device_fails_calls_instead_of_hanging():
    class Cuda:
        @staticmethod
        def set_device(device):
            raise RuntimeError("CUDA device 7 does not exist")

    class FakeTorch:
        cuda = Cuda
        no_grad = torch.no_grad

    thread = DeviceThread(FakeTorch, torch.device("cuda", 7))
    with pytest.raises(RuntimeError, match="device 7 does not exist"):
        thread.submit(lambda: 1).result(timeout=10)
    thread.close()


def test_closing_the_device_thread_waits_for_the_running_call_and_drops_the_rest():
    thread = DeviceThread(torch, torch.device("cpu"))
    started, release = threading.Event(), threading.Event()
    ran = []

    def running():
        started.set()
        release.wait(10)
        ran.append("running")

    first = thread.submit(running)
    queued = thread.submit(lambda: ran.append("queued"))
    started.wait(10)
    threading.Timer(0.2, release.set).start()
    thread.close()
    assert first.done() and first.exception() is None and ran == ["running"]
    with pytest.raises(RuntimeError, match="closed"):
        queued.result(timeout=10)
    with pytest.raises(RuntimeError, match="closed"):
        thread.call(lambda: 1)
