"""NVIDIA GPU target: a TensorRT engine where TensorRT is installed, a PyTorch engine otherwise.

Both run through the same session (pipeline.py): pinned host buffers, H2D / compute / D2H on their own
streams with events, one CUDA graph per batch size. Option engine=tensorrt|torch picks one explicitly.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from harness.contracts import ConvertManifest
from harness.errors import TargetError
from harness.startup import mark
from harness.vocabulary import PRECISIONS, Precision
from targets.base import BuildRequest, BuildResult, Target
from targets.nvidia import plan as plans
from targets.nvidia.compat import check_tensorrt_engine, check_torch_artifact, read_meta, write_meta
from targets.nvidia.options import NvidiaOptions, choose_engine, effective_precision, tensorrt_version

SUFFIXES = {"tensorrt": ".plan", "torch": ".pt2"}
TORCH_ENGINE_PRECISIONS = (Precision.FP32, Precision.FP16)


class NvidiaTarget(Target):
    name = "nvidia"
    opset = 17
    precisions = PRECISIONS
    options_class = NvidiaOptions
    options: NvidiaOptions

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.engine = choose_engine(self.options.engine)
        self.artifact_suffix = SUFFIXES[self.engine]
        # The torch engine casts the PyTorch program itself; an fp16 / Q/DQ ONNX is for TensorRT only.
        self.precision_in_onnx = self.engine == "tensorrt"
        if self.engine == "torch":  # it exports the module itself, not the ONNX, and casts to fp16 at most
            self.precisions = TORCH_ENGINE_PRECISIONS
            self.pytorch_model_only = ("the nvidia target's torch engine builds from a PyTorch model (a given ONNX "
                                       "or TensorFlow model needs --option engine=tensorrt, and TensorRT)")
        self._jit_cache: dict | None = None

    def _driver_jit_cache(self) -> dict:
        """Settled once, before anything starts CUDA in this process (the idle check does, in infer)."""
        from targets.nvidia.jit_cache import keep_driver_jit_cache

        if self._jit_cache is None:
            self._jit_cache = keep_driver_jit_cache()
        return self._jit_cache

    def resolved_options(self) -> NvidiaOptions:
        return dataclasses.replace(self.options, engine=self.engine)

    def check_precision(self, precision: str) -> None:
        """Asked before convert does any work, so a refusal leaves an earlier conversion as it was."""
        if self.engine == "torch" and precision in PRECISIONS and precision not in self.precisions:
            raise TargetError(f"the torch engine runs {' and '.join(self.precisions)}, not {precision}; {precision} "
                              "needs --option engine=tensorrt (TensorRT; int8 calibrated with --calib or from a Q/DQ "
                              "ONNX)")
        super().check_precision(precision)

    # ---- build ---------------------------------------------------------------------------------
    def build(self, request: BuildRequest) -> BuildResult:
        self.check_precision(request.precision)
        settings = self.build_options(request)
        profile = plans.batch_profile(request.batch_sizes, request.dynamic_batch, settings.opt_batch)
        out_dir = Path(request.out_dir)
        if self.engine == "torch":
            from targets.nvidia.torch_build import build_torch_artifact

            artifact = out_dir / plans.torch_artifact_filename(request.model, request.precision, profile)
            info = build_torch_artifact(request, profile, artifact)
        else:
            artifact, info = self._build_tensorrt(request, profile, out_dir, settings.workspace_mib)
        info["batch_profile"] = profile.to_dict()
        return BuildResult(artifact=artifact, info=info)

    def _build_tensorrt(self, request: BuildRequest, profile: plans.BatchProfile, out_dir: Path,
                        workspace_mib: int):
        from targets.nvidia.device import cuda_device, gpu_identity
        from targets.nvidia.onnx_facts import inspect_onnx
        from targets.nvidia.trt_build import build_engine, import_tensorrt

        trt_version = import_tensorrt().__version__
        plan = plans.precision_plan(trt_version, request.precision, inspect_onnx(Path(request.onnx)))
        gpu = gpu_identity(cuda_device("0").index)  # the first visible GPU; CUDA_VISIBLE_DEVICES picks another
        cc = gpu["compute_capability"]
        artifact = out_dir / plans.engine_filename(request.model, request.precision, profile, trt_version, cc)
        cache = out_dir / plans.timing_cache_filename(request.model, trt_version, cc)
        info = build_engine(Path(request.onnx), artifact, cache, plan, profile, request.input,
                            workspace_mib)
        write_meta(artifact, {"engine": "tensorrt", "tensorrt": trt_version, "model": request.model,
                              "precision": request.precision, "batch_profile": profile.to_dict(),
                              "gpu": {"name": gpu["gpu_name"], "compute_capability": cc},
                              "strongly_typed": plan.strongly_typed, "builder_flags": list(plan.builder_flags)})
        return artifact, {**info, "gpu_name": gpu["gpu_name"], "compute_capability": cc}

    # ---- open ----------------------------------------------------------------------------------
    def open(self, artifact: Path, manifest: ConvertManifest, device: str = "0", batch_hint: int | None = None):
        from targets.nvidia.device import cuda_device, gpu_identity
        from targets.nvidia.nvml import gpu_energy_meter
        from targets.nvidia.pipeline import CudaPipelineSession

        artifact = Path(artifact)
        meta = read_meta(artifact)
        engine = meta.get("engine")
        if self.options.engine and self.options.engine != engine:
            raise TargetError(f"{artifact.name} is a {engine} artifact, engine={self.options.engine} was asked "
                              f"for; convert again with engine={self.options.engine} or drop the option")
        jit_cache = self._driver_jit_cache()
        torch_device = cuda_device(device)
        mark("cuda device set")
        profile = plans.BatchProfile.from_dict(meta["batch_profile"])
        sample_shape = manifest.input.sample_shape
        if engine == "tensorrt":
            runner = self._tensorrt_runner(artifact, meta, torch_device, sample_shape, gpu_identity)
        elif engine == "torch":
            runner = self._torch_runner(artifact, meta, torch_device, manifest, sample_shape, batch_hint)
        else:
            raise TargetError(f"{artifact.name}: unknown engine {engine!r} in its description; rerun convert")
        mark("engine opened")
        try:
            session = CudaPipelineSession(runner, torch_device, manifest.input, [manifest.output], profile,
                                          cuda_graphs=self.options.cuda_graphs, in_flight=self.options.in_flight,
                                          info={"artifact": artifact.name, "precision": meta.get("precision"),
                                                "cuda_jit_cache": jit_cache, **self._tensorrt_precision(meta)})
        except BaseException:
            runner.close()
            raise
        session.use_energy_meter(functools.partial(gpu_energy_meter, torch_device.index))
        return session

    def _tensorrt_precision(self, meta: dict) -> dict:
        """TensorRT builds fp32 with TF32 allowed (its builder default): the label says so."""
        if meta.get("engine") != "tensorrt":
            return {}
        if not self.options.tf32:
            raise TargetError("tf32=0 is applied by the torch engine; a TensorRT engine computes fp32 as it was "
                              "built (TF32 allowed); use engine=torch for strict fp32")
        capability = (meta.get("gpu") or {}).get("compute_capability")
        major_minor = tuple(int(v) for v in str(capability).split(".")[:2]) if capability else None
        return {"effective_precision": effective_precision(meta.get("precision") or "", True, major_minor)}

    def _tensorrt_runner(self, artifact, meta, torch_device, sample_shape, gpu_identity):
        from targets.nvidia.trt_runtime import TrtRunner
        from targets.nvidia.trt_build import import_tensorrt

        here = {"tensorrt": import_tensorrt().__version__, **gpu_identity(torch_device.index)}
        check_tensorrt_engine(meta, here, artifact, self.options.allow_other_gpu)
        return TrtRunner(artifact, torch_device, sample_shape)

    def _torch_runner(self, artifact, meta, torch_device, manifest, sample_shape, batch_hint=None):
        from targets.nvidia.device import import_torch
        from targets.nvidia.torch_runtime import TorchRunner
        from targets.nvidia.variants import resolve_variant

        check_torch_artifact(meta, import_torch().__version__, artifact)
        precision = meta.get("precision", manifest.precision)
        recorded = (manifest.hashes.get("files", {}).get(manifest.artifact) or {}).get("sha256")
        return TorchRunner(artifact, torch_device, precision, resolve_variant(self.options.variant), sample_shape,
                           manifest.input.dtype, recorded, tf32=self.options.tf32,
                           precompile=self.options.precompile, cudnn_benchmark=self.options.cudnn_benchmark,
                           batch_hint=batch_hint, warm_aside=self.options.warm_aside,
                           cuda_graphs=self.options.cuda_graphs,  # see pipeline._prepare
                           saved_graph=self.options.saved_graph, hash_aside=self.options.hash_aside)

    # ---- identity ------------------------------------------------------------------------------
    def idle_state(self, device: str):
        from targets.nvidia.idle import gpu_idle_state

        self._driver_jit_cache()  # the idle check starts CUDA, and the driver reads the cache's place then
        return gpu_idle_state(int(device) if str(device).isdigit() else 0)

    def versions(self) -> dict:
        """Goes into convert's content hash: a new TensorRT or torch rebuilds the artifact."""
        if self.engine == "tensorrt":
            return {"engine": "tensorrt", "tensorrt": tensorrt_version() or "missing"}
        from importlib import metadata

        try:  # the package metadata, not `import torch`: an unchanged convert rerun stays under a second
            return {"engine": "torch", "torch": metadata.version("torch")}
        except metadata.PackageNotFoundError:
            return {"engine": "torch", "torch": "missing"}
