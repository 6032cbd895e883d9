"""Simulated `aclruntime` (tests and `make ASCEND_SIM=1`), following the real pybind module in
../shared/upstream/ais_bench/<generation>/backend/python (PyInferenceSession.cpp, PyTensor.cpp).

ASCEND_SIM_API=2023|2024|2025 (default 2025) selects the generation at import time:
2023: exec_time_list of float32 ms durations, finalize() an instance method, no free_resource(), no path checks;
2024: ait benchmark (2023-10 to 2024): the 2025 bindings without the constructor checks (no model path checks);
2025: exec_time_list of float32 (start_ms, end_ms) since session creation, static finalize(), free_resource(),
      constructor checks of loop, log_level, the model path (File::CheckFileBeforeRead) and device id,
      InferenceSession.run_pipeline over BaseTensor host pointers (_pipeline.py).
ASCEND_SIM_DEVICES (default 1) is the number of NPUs. Module names follow the real module: the enums
`dtype` and `type` with their members also set as module attributes, `sumary`, `tensor_desc`, `MemorySummary`.
"""
from aclruntime._session import InferenceSession, advance_clock, model, true_exec_ms
from aclruntime._tensor import (BaseTensor, DataType, MemorySummary, MemoryType, Tensor, session_options, sumary,
                                tensor_desc)

# Read by the harness so that reports keep simulated timings apart from measured ones.
SIMULATED = True

dtype = DataType
globals()["type"] = MemoryType  # the real enum's name; set this way so the builtin stays usable above
for _enum in (DataType, MemoryType):
    for _member in _enum:
        globals()[_member.name] = _member  # RegisterEnumTypeToModule: every member is a module attribute
del _enum, _member

__all__ = ["BaseTensor", "InferenceSession", "MemorySummary", "Tensor", "advance_clock", "dtype", "model",
           "session_options", "sumary", "tensor_desc", "true_exec_ms"]
