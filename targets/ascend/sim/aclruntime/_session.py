"""`aclruntime.InferenceSession` of the simulation (PyInferenceSession.cpp, ModelInferenceProcessor.cpp).

Timing follows the real bindings: 2025 records (start, end) as float32 ms since the session was created,
from the wall clock (gettimeofday), so per-execution durations coarsen as a session ages; 2023 records
float32 durations. `advance_clock(seconds)` (or ASCEND_SIM_CLOCK_JUMP=<executions>:<seconds>) moves the
simulated wall clock forward, which ages every open session at once as real time would.
ASCEND_SIM_EXEC_MS=<ms> makes each execution last at least that long (a busy wait around the model).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from aclruntime._checks import om_path_problem
from aclruntime._pipeline import run_pipeline
from aclruntime._tensor import (BaseTensor, DataType, MemoryType, Tensor, session_options, sumary, tensor_desc,
                                timed_copy)
from ascend_sim.execute import SimModel
from ascend_sim.om import read_om

API = os.environ.get("ASCEND_SIM_API", "2025")
if API not in ("2023", "2024", "2025"):
    raise ImportError(f"ASCEND_SIM_API={API!r}: the simulation has the 2023, 2024 and 2025 generations")
TIMESTAMPS = API != "2023"  # (start, end) pairs since session creation: ait benchmark from 2023-10 on
DEVICE_ID_MAX = 255
_state = {"clock_jump_us": 0, "executions": 0, "finalized": False}
_true_exec_ms: list[float] = []


def true_exec_ms() -> list[float]:
    """Simulation only: every execution's duration in this process, in order, from the same wall-clock reads
    as its timestamps but without the float32 rounding: what a perfect reading would give."""
    return list(_true_exec_ms)


def advance_clock(seconds: float) -> None:
    """Simulation only: the wall clock jumps forward, as if `seconds` had passed."""
    _state["clock_jump_us"] += int(seconds * 1e6)


def _now_us() -> int:
    return time.time_ns() // 1000 + _state["clock_jump_us"]


def _after_execution() -> None:
    _state["executions"] += 1
    count, _, seconds = os.environ.get("ASCEND_SIM_CLOCK_JUMP", "").partition(":")
    if count and _state["executions"] == int(count):
        advance_clock(float(seconds))


def _busy_wait_until(start: float) -> None:
    floor_ms = float(os.environ.get("ASCEND_SIM_EXEC_MS", "0") or 0)
    while (time.perf_counter() - start) * 1000.0 < floor_ms:
        pass


def _device_count() -> int:
    return int(os.environ.get("ASCEND_SIM_DEVICES", "1"))


class InferenceSession:
    def __init__(self, model_path: str, device_id: int, options: session_options) -> None:
        if options is None:
            raise RuntimeError("session options is null")
        if API == "2025":
            if not 0 < int(options.loop) <= 100000:
                raise RuntimeError("loop num out of range. Please check.")
            if not 1 <= int(options.log_level) <= 4:
                raise RuntimeError("log level out of range. Please check.")
            if om_path_problem(model_path) is not None:
                raise RuntimeError("please check model path")
            if not 0 <= int(device_id) <= DEVICE_ID_MAX:
                raise RuntimeError("device id is out of range")
        if _state["finalized"]:
            raise RuntimeError("acl is finalized in this process (aclInit cannot run again)")
        if not 0 <= int(device_id) < _device_count():
            raise RuntimeError(f"acl set device {device_id} failed, ret 107001 (invalid device id)")
        try:
            header, onnx_bytes = read_om(Path(model_path))
            model = SimModel(header, onnx_bytes)
        except Exception as exc:  # a damaged OM fails aclmdlLoadFromFile, whatever part of it is damaged
            raise RuntimeError(f"load model from file failed: {model_path} ({exc})") from None
        self._header, self._options, self._device = header, options, int(device_id)
        self._model = model
        self._gears = header.get("gears")
        self._max_batch = max(self._gears) if self._gears else header["input"]["shape"][0]
        self._current = None if self._gears else self._max_batch
        self._summary = sumary()
        self._zero_us = _now_us()
        self._released = False

    # ---- description ---------------------------------------------------------------------------
    def _desc(self, spec: dict, is_input: bool) -> tensor_desc:
        sample = int(np.prod(spec["shape"][1:])) * np.dtype(spec["dtype"]).itemsize
        desc = tensor_desc()
        desc.name, desc.datatype = spec["name"], DataType[spec["dtype"]]
        desc.format = 1 if spec.get("format") == "NHWC" else 0
        # outputs of a dynamic-batch OM report the largest gear's dims (aclmdlGetOutputDims)
        desc.shape = list(spec["shape"]) if is_input else [self._max_batch, *spec["shape"][1:]]
        desc.size = sample * self._max_batch
        current = self._current if (is_input and self._current is not None) else self._max_batch
        desc.realsize = sample * current
        return desc

    def get_inputs(self) -> list:
        return [self._desc(self._header["input"], True)]

    def get_outputs(self) -> list:
        return [self._desc(o, False) for o in self._header["outputs"]]

    def options(self) -> session_options:
        return self._options

    def __str__(self) -> str:
        lines = ["<Model>", f"device:\t{self._device}", f"path:\t{self._header.get('atc_args', {}).get('output')}"]
        for i, d in enumerate(self.get_inputs()):
            lines.append(f"input:\n  #{i}    {d.name}  {tuple(d.shape)}  {d.datatype.name}  {d.size}  {d.realsize}")
        return "\n".join(lines)

    __repr__ = __str__

    # ---- settings ------------------------------------------------------------------------------
    def set_context(self) -> None:
        if self._released:
            raise RuntimeError("set context failed: the session's context is destroyed")

    def set_staticbatch(self) -> None:
        if not self._gears:
            self._current = self._max_batch

    def set_dynamic_batchsize(self, batch: int) -> None:
        if not 1 <= int(batch) <= 4096:
            raise RuntimeError("batchsize is out of range")
        if not self._gears or int(batch) not in self._gears:
            raise RuntimeError(f"set_dynamic_batchsize {batch} failed: not one of the model's gears "
                               f"{self._gears or 'none (static model)'}")
        self._current = int(batch)

    def get_max_dym_batchsize(self) -> int:
        return self._max_batch if self._gears else -1

    def _not_dynamic(self, *args) -> None:
        raise RuntimeError("the model has no dynamic hw/dims/shape (simulation: dynamic batch only)")

    set_dynamic_hw = set_dynamic_dims = set_dynamic_shape = _not_dynamic

    def set_custom_outsize(self, sizes) -> None:
        self._custom_outsize = list(sizes)

    def get_dym_aipp_input_exist(self) -> int:
        return 0  # the harness writes static AIPP only

    def check_dym_aipp_input_exist(self) -> None:
        raise RuntimeError("the model has no dynamic AIPP input")

    def set_dym_aipp_info_set(self) -> int:
        raise RuntimeError("the model has no dynamic AIPP input")

    # ---- running -------------------------------------------------------------------------------
    def create_tensor_from_fileslist(self, desc: tensor_desc, files: list) -> Tensor:
        data = b"".join(Path(f).read_bytes() for f in files)[:desc.realsize]
        data += bytes(desc.realsize - len(data))
        tensor = Tensor(np.frombuffer(data, dtype=np.uint8))
        tensor.to_device(self._device)
        return tensor

    def _input_bytes(self, feeds) -> bytes:
        feeds = list(feeds.values()) if isinstance(feeds, dict) else list(feeds)
        data = self.checked_input([feed.raw_bytes() for feed in feeds])
        on_device = isinstance(feeds[0], Tensor) and feeds[0].type == MemoryType.memory_device
        return data if on_device else timed_copy(data, "H2D")

    def checked_input(self, datas: list) -> bytes:
        """CheckInVectorAndFillBaseTensor: as many feeds as inputs, each exactly its realsize."""
        inputs = self.get_inputs()
        if len(datas) != len(inputs):
            raise RuntimeError(f"feeds num:{len(datas)} not equal to inputs num:{len(inputs)}")
        if self._current is None:
            raise RuntimeError("dynamic batch model: set_dynamic_batchsize must be called before run")
        if len(datas[0]) != inputs[0].realsize:
            raise RuntimeError(f"check i:0 name:{inputs[0].name} in size:{len(datas[0])} "
                               f"needsize:{inputs[0].realsize} not match")
        return datas[0]

    def _execute(self, data: bytes) -> list[np.ndarray]:
        start_us, start = _now_us(), time.perf_counter()
        outputs = self._model.run(data, self._current)
        _busy_wait_until(start)
        end_us = _now_us()
        _true_exec_ms.append((end_us - start_us) / 1000.0)  # the same clock reads, kept in full precision
        if not TIMESTAMPS:
            self._summary.exec_time_list.append(float(np.float32((end_us - start_us) / 1000.0)))
        else:
            self._summary.exec_time_list.append((float(np.float32((start_us - self._zero_us) / 1000.0)),
                                                 float(np.float32((end_us - self._zero_us) / 1000.0))))
        _after_execution()
        return outputs

    def run(self, output_names: list, feeds) -> list:
        self._check_output_names(output_names)
        return self.infer_on_device(output_names, self._input_bytes(feeds))

    def _check_output_names(self, output_names: list) -> None:
        if self._released:
            raise RuntimeError("session resources are freed")
        known = [o["name"] for o in self._header["outputs"]]
        if any(name not in known for name in output_names):
            raise RuntimeError(f"output names {output_names} not in model outputs {known}")

    def infer_on_device(self, output_names: list, data: bytes) -> list:
        """Input bytes already on the device -> `loop` executions -> the named outputs, on the device."""
        for _ in range(int(self._options.loop)):
            outputs = self._execute(data)
        by_name = dict(zip([o["name"] for o in self._header["outputs"]], outputs))
        return [Tensor.on_device(by_name[name], self._device) for name in output_names]

    def sumary(self) -> sumary:
        return self._summary

    def reset_sumaryinfo(self) -> int:
        self._summary.exec_time_list = []
        return 0

    if TIMESTAMPS:  # these came together (ait benchmark 2023-09/10); the path checks only later
        def run_pipeline(self, *args) -> list:
            """InferPipelineBaseTensor, the overload InferSession.infer_pipeline calls (_pipeline.py)."""
            return run_pipeline(self, *args)

        def free_resource(self) -> int:
            self._released = True
            return 0

        @staticmethod
        def finalize() -> int:
            _state["finalized"] = True
            return 0
    else:
        def finalize(self) -> int:
            self._released = True
            _state["finalized"] = True
            return 0


def model(model_path: str, device_id: int = 0, options: session_options | None = None) -> InferenceSession:
    return InferenceSession(model_path, device_id, options if options is not None else session_options())


__all__ = ["BaseTensor", "InferenceSession", "advance_clock", "model", "true_exec_ms"]
