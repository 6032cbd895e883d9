"""A target that does no work: its 'artifact' is the ONNX, its outputs are preallocated zeros.

With the option `compute_ms` it stands in for a device of that speed: each batch is queued behind the
previous one and done `compute_ms` later, while the host thread is free, as with a GPU stream. That
measures whether the loop's reading and writing keep such a device busy, with no device at all.
With `memory_mib` it has that much device memory: a batch whose input and output buffers exceed it
fails as a GPU's would, with DeviceOutOfMemory.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.contracts import ConvertManifest, TensorSpec, numpy_dtype
from harness.errors import DeviceOutOfMemory
from harness.vocabulary import PRECISIONS
from targets.base import BatchTiming, BuildRequest, BuildResult, Session, Target
from targets.options import RUN, TargetOptions, option


@dataclass(frozen=True)
class NullOptions(TargetOptions):
    target = "null"
    compute_ms: float = option(0.0, "emulated device time per batch in milliseconds (0: none)", RUN, minimum=0)
    memory_mib: float | None = option(None, "emulated device memory in MiB: larger batches fail as out of memory",
                                      RUN, above=0)


class NullSession(Session):
    no_energy_reason = "the null target has no device, so no energy counter"

    def __init__(self, manifest: ConvertManifest, compute_ms: float = 0.0, memory_mib: float | None = None) -> None:
        super().__init__()
        self._memory_bytes = None if memory_mib is None else int(memory_mib * DeviceOutOfMemory.MIB)
        self._input = manifest.input
        self._output = manifest.output
        self._compute_s = compute_ms / 1000.0
        self._zeros: dict[int, np.ndarray] = {}
        self._queued: dict[int, tuple[float, float, int]] = {}  # handle -> device start, end, rows
        self._busy_until = 0.0

    def inputs(self) -> list[TensorSpec]:
        return [self._input]

    def outputs(self) -> list[TensorSpec]:
        return [self._output]

    def info(self) -> dict:
        info = {"engine": "null", "device_name": "none"}
        if self._compute_s:
            info["emulated_compute_ms"] = self._compute_s * 1000.0
        if self._memory_bytes is not None:
            info["emulated_memory_bytes"] = self._memory_bytes
        return info

    def _check_memory(self, batch: np.ndarray) -> None:
        if self._memory_bytes is None:
            return
        n = batch.shape[0]
        output_bytes = int(np.prod(self._output.batch_shape(n))) * numpy_dtype(self._output.dtype).itemsize
        needed = batch.nbytes + output_bytes
        if needed > self._memory_bytes:
            raise DeviceOutOfMemory(n, needed, self._memory_bytes, "null target option memory_mib")

    def _submit_impl(self, handle: int, batch: np.ndarray) -> None:
        self._check_memory(batch)
        start = time.perf_counter()
        n = batch.shape[0]
        if n not in self._zeros:
            self._zeros[n] = np.zeros(self._output.batch_shape(n), numpy_dtype(self._output.dtype))
        if self._compute_s:
            start = max(start, self._busy_until)
            self._busy_until = start + self._compute_s
            self._queued[handle] = (start, self._busy_until, n)
        else:
            self._queued[handle] = (start, time.perf_counter(), n)

    def _collect_impl(self, handle: int) -> tuple[list[np.ndarray], BatchTiming]:
        start, end, n = self._queued.pop(handle)
        wait = end - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        return [self._zeros[n]], BatchTiming(compute_ms=(end - start) * 1000.0)


class NullTarget(Target):
    name = "null"
    precisions = PRECISIONS
    artifact_suffix = ".null.onnx"
    options_class = NullOptions

    def build(self, request: BuildRequest) -> BuildResult:
        artifact = Path(request.out_dir) / f"{request.model}{self.artifact_suffix}"
        shutil.copyfile(request.onnx, artifact)
        return BuildResult(artifact=artifact, info={"engine": "null"})

    def open(self, artifact: Path, manifest: ConvertManifest, device: str = "0",
             batch_hint: int | None = None) -> NullSession:
        return NullSession(manifest, self.options.compute_ms, self.options.memory_mib)
