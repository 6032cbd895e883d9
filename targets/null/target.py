"""A target that does no work: its 'artifact' is the ONNX, its outputs are preallocated zeros."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from harness.contracts import ConvertManifest, TensorSpec, numpy_dtype
from targets.base import BatchTiming, BuildRequest, BuildResult, SyncSession, Target


class NullSession(SyncSession):
    def __init__(self, manifest: ConvertManifest) -> None:
        super().__init__()
        self._input = manifest.input
        self._output = manifest.output
        self._zeros: dict[int, np.ndarray] = {}

    def inputs(self) -> list[TensorSpec]:
        return [self._input]

    def outputs(self) -> list[TensorSpec]:
        return [self._output]

    def info(self) -> dict:
        return {"engine": "null", "device_name": "none"}

    def _infer(self, batch: np.ndarray) -> tuple[list[np.ndarray], BatchTiming]:
        start = time.perf_counter()
        n = batch.shape[0]
        if n not in self._zeros:
            self._zeros[n] = np.zeros(self._output.batch_shape(n), numpy_dtype(self._output.dtype))
        out = self._zeros[n]
        return [out], BatchTiming(compute_ms=(time.perf_counter() - start) * 1000.0)


class NullTarget(Target):
    name = "null"
    precisions = ("fp32", "fp16", "int8")
    artifact_suffix = ".null.onnx"

    def build(self, request: BuildRequest) -> BuildResult:
        artifact = Path(request.out_dir) / f"{request.model}{self.artifact_suffix}"
        shutil.copyfile(request.onnx, artifact)
        return BuildResult(artifact=artifact, info={"engine": "null"})

    def open(self, artifact: Path, manifest: ConvertManifest, device: str = "0") -> NullSession:
        return NullSession(manifest)
