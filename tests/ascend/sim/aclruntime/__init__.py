"""Simulated `aclruntime` (tests only), following ref-ascend.md section 4.

ASCEND_SIM_API=2023 (default 2025) selects the generation at import time:
2023: exec_time_list of ms floats, finalize() an instance method, no free_resource();
2025: exec_time_list of (start_ms, end_ms) pairs, static finalize(), free_resource(),
      get_max_dym_batchsize(), constructor checks of loop and log_level.
ASCEND_SIM_DEVICES (default 1) is the number of NPUs.
"""
from __future__ import annotations

import ctypes
import enum
import os
import time
from pathlib import Path

import numpy as np

from ascend_sim.execute import SimModel
from ascend_sim.om import read_om

# Read by the harness so that reports keep simulated timings apart from measured ones.
SIMULATED = True

API = os.environ.get("ASCEND_SIM_API", "2025")
if API not in ("2023", "2025"):
    raise ImportError(f"ASCEND_SIM_API={API!r}: the simulation has the 2023 and 2025 generations")
_DEVICES = int(os.environ.get("ASCEND_SIM_DEVICES", "1"))
_finalized = False


class dtype(enum.IntEnum):  # noqa: N801 - the real module's name
    float32 = 0
    float16 = 1
    int8 = 2
    int32 = 3
    uint8 = 4
    int16 = 6
    uint16 = 7
    uint32 = 8
    int64 = 9
    uint64 = 10
    double = 11
    bool = 12


class MemoryType(enum.IntEnum):
    memory_host = 0
    memory_device = 1


class session_options:  # noqa: N801
    def __init__(self) -> None:
        self.loop = 1
        self.log_level = 2
        self.acl_json_path = ""


class tensor_desc:  # noqa: N801
    def __init__(self, name: str, datatype: dtype, fmt: int, shape: list, size: int, realsize: int) -> None:
        self.name, self.datatype, self.format = name, datatype, fmt
        self.shape, self.size, self.realsize = list(shape), size, realsize


class MemorySummary:
    """Process-wide H2D/D2H lists in ms, as the real singleton."""

    _h2d: list = []
    _d2h: list = []

    @property
    def H2D_time_list(self) -> list:  # noqa: N802
        return list(MemorySummary._h2d)

    @property
    def D2H_time_list(self) -> list:  # noqa: N802
        return list(MemorySummary._d2h)

    def reset(self) -> None:
        MemorySummary._h2d.clear()
        MemorySummary._d2h.clear()


def _timed_copy(data: bytes, into: list) -> bytes:
    start = time.perf_counter()
    copied = bytes(bytearray(data))
    into.append((time.perf_counter() - start) * 1000.0)
    return copied


class Tensor:
    def __init__(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        self._array = array.copy()
        self.shape = list(array.shape)
        self.dtype = dtype[str(array.dtype)] if str(array.dtype) in dtype.__members__ else dtype.uint8
        self.device = -1
        self.type = MemoryType.memory_host

    def to_device(self, device_id: int) -> None:
        if self.type == MemoryType.memory_host:
            _timed_copy(self._array.tobytes(), MemorySummary._h2d)
        self.device, self.type = device_id, MemoryType.memory_device

    def to_host(self) -> None:
        if self.type == MemoryType.memory_device:
            _timed_copy(self._array.tobytes(), MemorySummary._d2h)
        self.device, self.type = -1, MemoryType.memory_host

    def __array__(self, dtype=None, copy=None):
        if self.type == MemoryType.memory_device:
            raise RuntimeError("tensor is in npu. can't convert to numpy array")
        return self._array if dtype is None else self._array.astype(dtype)

    def _bytes(self) -> bytes:
        return self._array.tobytes()


class BaseTensor:
    """Host pointer + size; the session copies it to the device itself."""

    def __init__(self, ptr: int, size: int) -> None:
        self.buf, self.size = ptr, size

    def _bytes(self) -> bytes:
        return ctypes.string_at(self.buf, self.size)


class _Summary:
    def __init__(self, exec_time_list: list) -> None:
        self.exec_time_list = list(exec_time_list)


class InferenceSession:
    def __init__(self, model_path: str, device_id: int, options: session_options) -> None:
        if options is None:
            raise RuntimeError("session options is null")
        if API == "2025":
            if not 1 <= int(options.loop) <= 100000 or not 1 <= int(options.log_level) <= 4:
                raise RuntimeError("loop must be in [1, 100000] and log_level in [1, 4]")
        if _finalized:
            raise RuntimeError("acl is finalized in this process")
        if not 0 <= int(device_id) < _DEVICES:
            raise RuntimeError(f"device id {device_id} is out of range [0, {_DEVICES})")
        try:
            header, onnx_bytes = read_om(Path(model_path))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"load model from file failed: {model_path} ({exc})") from None
        self._header, self._options, self._device = header, options, int(device_id)
        self._model = SimModel(header, onnx_bytes)
        spec = header["input"]
        self._gears = header.get("gears")
        self._batch = max(self._gears) if self._gears else spec["shape"][0]
        self._current = None if self._gears else self._batch
        self._times: list = []
        self._zero = time.perf_counter()
        self._released = False

    # ---- description ---------------------------------------------------------------------------
    def _desc(self, spec: dict) -> tensor_desc:
        sample = int(np.prod(spec["shape"][1:])) * np.dtype(spec["dtype"]).itemsize
        batch = self._current if self._current is not None else self._batch
        return tensor_desc(spec["name"], dtype[spec["dtype"]], 1 if spec.get("format") == "NHWC" else 0,
                           spec["shape"], sample * self._batch, sample * batch)

    def get_inputs(self) -> list:
        return [self._desc(self._header["input"])]

    def get_outputs(self) -> list:
        return [self._desc(o) for o in self._header["outputs"]]

    def options(self) -> session_options:
        return self._options

    def __str__(self) -> str:
        lines = ["<Model>", f"device:\t{self._device}", "input:"]
        for i, d in enumerate(self.get_inputs()):
            lines.append(f"  #{i}    {d.name}  {tuple(d.shape)}  {d.datatype.name}  {d.size}  {d.realsize}")
        return "\n".join(lines)

    # ---- dynamic batch -------------------------------------------------------------------------
    def set_staticbatch(self) -> None:
        self._current = None if self._gears else self._batch

    def set_dynamic_batchsize(self, batch: int) -> None:
        if not self._gears:
            raise RuntimeError("set_dynamic_batchsize: the model has no dynamic batch")
        if int(batch) not in self._gears:
            raise RuntimeError(f"set_dynamic_batchsize: {batch} is not one of the gears {self._gears}")
        self._current = int(batch)

    # ---- running -------------------------------------------------------------------------------
    def _check_feeds(self, feeds) -> bytes:
        feeds = list(feeds.values()) if isinstance(feeds, dict) else list(feeds)
        inputs = self.get_inputs()
        if len(feeds) != len(inputs):
            raise RuntimeError(f"feeds num:{len(feeds)} not equal to inputs num:{len(inputs)}")
        if self._current is None:
            raise RuntimeError("dynamic batch model: call set_dynamic_batchsize before run")
        data = feeds[0]._bytes()
        if len(data) != inputs[0].realsize:
            raise RuntimeError(f"check i:0 name:{inputs[0].name} in size:{len(data)} "
                               f"needsize:{inputs[0].realsize} not match")
        return _timed_copy(data, MemorySummary._h2d) if isinstance(feeds[0], BaseTensor) else data

    def run(self, output_names: list, feeds) -> list:
        if self._released:
            raise RuntimeError("session resources are freed")
        known = [o["name"] for o in self._header["outputs"]]
        if any(name not in known for name in output_names):
            raise RuntimeError(f"output names {output_names} not in model outputs {known}")
        data = self._check_feeds(feeds)
        for _ in range(int(self._options.loop)):
            start = time.perf_counter()
            outputs = self._model.run(data, self._current)
            end = time.perf_counter()
            if API == "2023":
                self._times.append((end - start) * 1000.0)
            else:
                self._times.append(((start - self._zero) * 1000.0, (end - self._zero) * 1000.0))
        by_name = dict(zip(known, outputs))
        tensors = []
        for name in output_names:
            tensor = Tensor(by_name[name])
            tensor.device, tensor.type = self._device, MemoryType.memory_device
            tensors.append(tensor)
        return tensors

    def sumary(self) -> _Summary:
        return _Summary(self._times)

    def reset_sumaryinfo(self) -> None:
        self._times = []

    if API == "2025":
        def free_resource(self) -> None:
            self._released = True

        def get_max_dym_batchsize(self) -> int:
            return max(self._gears) if self._gears else -1

        @staticmethod
        def finalize() -> None:
            global _finalized
            _finalized = True
    else:
        def finalize(self) -> None:
            self._released = True


def model(model_path: str, device_id: int = 0, options: session_options | None = None) -> InferenceSession:
    return InferenceSession(model_path, device_id, options)
