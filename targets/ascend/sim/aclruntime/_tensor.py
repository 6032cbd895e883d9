"""Tensors, enums and the process-wide transfer summary of the simulated aclruntime (PyTensor.cpp)."""
from __future__ import annotations

import ctypes
import enum
import time

import numpy as np


class DataType(enum.IntEnum):
    """`aclruntime.dtype` (TensorBase.h numbering, = ACL aclDataType)."""

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
    """`aclruntime.type`."""

    memory_host = 0
    memory_device = 1
    memory_dvpp = 2


NUMPY_TO_DTYPE = {"float32": DataType.float32, "float16": DataType.float16, "int8": DataType.int8,
                  "int32": DataType.int32, "uint8": DataType.uint8, "int16": DataType.int16,
                  "uint16": DataType.uint16, "uint32": DataType.uint32, "int64": DataType.int64,
                  "uint64": DataType.uint64, "float64": DataType.double, "bool": DataType.bool}


class MemorySummary:
    """A singleton (pybind `nodelete` holder): every MemorySummary() is the same object."""

    _instance: MemorySummary | None = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
            cls._instance.H2D_time_list = []
            cls._instance.D2H_time_list = []
        return cls._instance

    def reset(self) -> None:
        self.H2D_time_list = []
        self.D2H_time_list = []


def timed_copy(data: bytes, direction: str) -> bytes:
    """A host<->device copy, its ms appended to the summary as MemoryHelper.cpp does."""
    start = time.perf_counter()
    copied = bytes(bytearray(data))
    summary = MemorySummary()
    getattr(summary, f"{direction}_time_list").append((time.perf_counter() - start) * 1000.0)
    return copied


class Tensor:
    """`aclruntime.Tensor(numpy_array)`; readable through the buffer protocol only on the host."""

    def __init__(self, array) -> None:
        array = np.ascontiguousarray(array)
        self._array = array.copy()
        self._type = MemoryType.memory_host
        self._device = -1

    @property
    def shape(self) -> list:
        return list(self._array.shape)

    @property
    def dtype(self) -> DataType:
        return NUMPY_TO_DTYPE.get(str(self._array.dtype), DataType.uint8)

    @property
    def type(self) -> MemoryType:  # noqa: A003 - the real property name
        return self._type

    @property
    def device(self) -> int:
        return self._device

    def to_device(self, device_id: int) -> None:
        if self._type == MemoryType.memory_host:
            timed_copy(self._array.tobytes(), "H2D")
        self._type, self._device = MemoryType.memory_device, int(device_id)

    def to_host(self) -> None:
        if self._type == MemoryType.memory_device:
            timed_copy(self._array.tobytes(), "D2H")
        self._type, self._device = MemoryType.memory_host, -1

    def __array__(self, dtype=None, copy=None):
        if self._type != MemoryType.memory_host:
            raise RuntimeError("tensor is in npu. can't convert to numpy array")
        return self._array if dtype is None else self._array.astype(dtype)

    def __str__(self) -> str:
        return f"<Tensor>\nshape:\t{tuple(self.shape)}\ndtype:\t{self.dtype.name}\ndevice:\t{self._device}"

    __repr__ = __str__

    def raw_bytes(self) -> bytes:
        return self._array.tobytes()

    @classmethod
    def on_device(cls, array: np.ndarray, device_id: int) -> Tensor:
        tensor = cls(array)
        tensor._type, tensor._device = MemoryType.memory_device, device_id
        return tensor


class BaseTensor:
    """`aclruntime.BaseTensor(buf: int64, size: int64)`: a host pointer the session copies from."""

    def __init__(self, buf: int, size: int) -> None:
        self.buf, self.size = int(buf), int(size)

    def raw_bytes(self) -> bytes:
        return ctypes.string_at(self.buf, self.size)


class tensor_desc:  # noqa: N801 - the real class name
    """`aclruntime.tensor_desc()`: filled field by field, as pybind's def_readwrite members."""

    def __init__(self) -> None:
        self.name, self.datatype, self.format = "", DataType.float32, 0
        self.shape: list = []
        self.realsize = self.size = 0


class sumary:  # noqa: N801 - the real class name (sic)
    def __init__(self) -> None:
        self.exec_time_list: list = []


class session_options:  # noqa: N801
    def __init__(self) -> None:
        self.loop = 1
        self.log_level = 2
        self.acl_json_path = ""
