"""ONNX Runtime CPU target: all cores, full graph optimizations, an optimized-model cache."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.contracts import ConvertManifest, TensorSpec
from harness.deps import require
from harness.errors import InputError, TargetError
from harness.files import atomic_output, copy_atomic
from harness.onnx_meta import ort_tensor_spec
from harness.perf import usable_cores
from harness.vocabulary import Precision
from targets.base import BatchTiming, BuildRequest, BuildResult, SyncSession, Target
from targets.options import RUN, TargetOptions, option

def _ort():
    return require("onnxruntime")


def optimized_cache_path(artifact: Path) -> Path:
    """ORT's offline-optimized graph is specific to the ORT version and this CPU; the name says so."""
    return artifact.with_name(f"{artifact.stem}.ort{_ort().__version__}.opt.onnx")


@dataclass(frozen=True)
class CpuOptions(TargetOptions):
    target = "cpu"
    threads: int | None = option(None, "ONNX Runtime's intra-op threads (default: every usable core)", RUN,
                                 minimum=1)


X64_QUANT_PRECISION = "session.x64quantprecision"


def session_options(threads: int | None = None, optimized_out: Path | None = None):
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or usable_cores()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    # Without AVX-512 VNNI / AVX-VNNI, ORT's int8 kernels multiply u8 x s8 pairs with saturating 16-bit adds
    # (pmaddubsw): quantized models then give wrong numbers (measured: 38 % off on an AVX2-only EPYC).
    # Precision mode takes the exact path there; CPUs with VNNI are unaffected.
    opts.add_session_config_entry(X64_QUANT_PRECISION, "1")
    if optimized_out is not None:
        opts.optimized_model_filepath = str(optimized_out)
    return opts


def _load_session(path: Path, threads: int | None, optimized_out: Path | None = None):
    try:
        return _ort().InferenceSession(str(path), sess_options=session_options(threads, optimized_out),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for bad models
        raise TargetError(f"{path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0]}); "
                          "rerun convert") from None


def rebuild_cache(artifact: Path, cache: Path, threads: int | None):
    """A session on the artifact that also writes a fresh optimized-model cache (atomically), for a
    cache that exists but does not load: convert would call it up to date, so it is mended here."""
    with atomic_output(cache, suffix=".onnx") as tmp:  # ORT picks the format by suffix
        return _load_session(artifact, threads, optimized_out=tmp)


class CpuSession(SyncSession):
    def __init__(self, artifact: Path, threads: int | None = None) -> None:
        super().__init__()
        cache = optimized_cache_path(artifact)
        use_cache = cache.exists() and cache.stat().st_mtime >= artifact.stat().st_mtime
        try:
            self._sess = _load_session(cache if use_cache else artifact, threads)
        except TargetError:
            if not use_cache:
                raise
            self._sess = rebuild_cache(artifact, cache, threads)
            use_cache = False
            print(f"[WARN] {cache}: the optimized-model cache did not load (damaged?); rebuilt it from "
                  f"{artifact.name}", flush=True)
        self._inputs = [ort_tensor_spec(i) for i in self._sess.get_inputs()]
        self._outputs = [ort_tensor_spec(o) for o in self._sess.get_outputs()]
        self._output_names = [o.name for o in self._outputs]
        self._threads = threads or usable_cores()
        self._from_cache = use_cache

    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    def info(self) -> dict:
        from harness.perf import cpu_model

        return {"engine": "onnxruntime", "provider": "CPUExecutionProvider",
                "onnxruntime": _ort().__version__, "threads": self._threads,
                "optimized_cache": self._from_cache, "device_name": cpu_model()}

    def _infer(self, batch: np.ndarray) -> tuple[list[np.ndarray], BatchTiming]:
        start = time.perf_counter()
        outputs = self._sess.run(self._output_names, {self._inputs[0].name: batch})
        compute = (time.perf_counter() - start) * 1000.0
        return outputs, BatchTiming(compute_ms=compute)


def refuse_more_threads_than_cpus(threads: int | None) -> None:
    """ONNX Runtime makes every thread asked for: beyond the machine's CPUs they only take turns on them, and a
    mistyped count (threads=100000) would stall the run making them."""
    cpus = os.cpu_count() or 1
    if threads is not None and threads > cpus:
        raise InputError(f"cpu target option threads={threads}: this machine has {cpus} logical CPUs ({usable_cores()} "
                         f"usable by this process); give at most {cpus}, or leave the option out for every usable core")


class CpuTarget(Target):
    name = "cpu"
    precisions = (Precision.FP32, Precision.INT8)
    artifact_suffix = ".cpu.onnx"
    options_class = CpuOptions

    def check_precision(self, precision: str) -> None:
        if precision == Precision.FP16:
            raise TargetError("target 'cpu' does not run fp16: ONNX Runtime's CPU kernels run an fp16 model slower "
                              "than fp32 (measured: bench/precision_cpu.py, docs/precision.md); use fp32 or int8 "
                              "here, fp16 on the nvidia target")
        super().check_precision(precision)

    def build(self, request: BuildRequest) -> BuildResult:
        ort = _ort()
        self.check_precision(request.precision)
        artifact = Path(request.out_dir) / f"{request.model}.{request.precision}{self.artifact_suffix}"
        copy_atomic(request.onnx, artifact)
        cache = optimized_cache_path(artifact)
        # Creating a session with optimized_model_filepath writes the optimized graph once, at convert time.
        ort.InferenceSession(str(artifact), sess_options=session_options(optimized_out=cache),
                             providers=["CPUExecutionProvider"])
        return BuildResult(artifact=artifact, info={"engine": "onnxruntime", "optimized_cache": cache.name})

    def open(self, artifact: Path, manifest: ConvertManifest, device: str = "0",
             batch_hint: int | None = None) -> CpuSession:
        from targets.cpu.rapl import cpu_energy_meter

        refuse_more_threads_than_cpus(self.options.threads)
        session = CpuSession(Path(artifact), threads=self.options.threads)
        session.use_energy_meter(cpu_energy_meter)
        return session

    def idle_state(self, device: str):
        from harness.idle import cpu_idle_state

        return cpu_idle_state()

    def versions(self) -> dict:
        return {"onnxruntime": _ort().__version__}
