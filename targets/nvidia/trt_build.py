"""TensorRT engine build: ONNX parser, one optimization profile, workspace limit, timing cache.

Works with TensorRT 10 and 11 (name-based tensors, build_serialized_network). Which flags and network
type to use comes from plan.precision_plan; this module only carries it out. The annotations name
TensorRT's own classes, so CI checks every call against the TensorRT API (docs/nvidia.md); tensorrt
itself is imported only inside the functions that run it.
"""
from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from harness.contracts import TensorSpec
from harness.errors import MissingDependencyError, TargetError
from harness.files import atomic_write_bytes
from targets.nvidia.plan import BatchProfile, PrecisionPlan, tensorrt_major

if TYPE_CHECKING:
    import tensorrt as trt

TENSORRT_HINT = ("pip install tensorrt (NVIDIA's index: pip install --extra-index-url https://pypi.nvidia.com "
                 "tensorrt), or use engine=torch")
LOG_TAIL_LINES = 40


def import_tensorrt() -> ModuleType:
    try:
        import tensorrt
        tensorrt.__version__
    except Exception as exc:  # ImportError; OSError when libnvinfer is missing; AttributeError for stubs alone
        raise MissingDependencyError("tensorrt", TENSORRT_HINT, why=type(exc).__name__) from None
    return tensorrt


def capturing_logger(lines: list[str]) -> trt.ILogger:
    """A TensorRT logger that keeps INFO and more severe messages, for BuildResult.info and errors."""
    import tensorrt as trt

    class CapturingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            if int(severity) <= int(trt.ILogger.Severity.INFO):
                lines.append(f"[{severity.name}] {msg}")

    return CapturingLogger()


def network_flags(plan: PrecisionPlan) -> int:
    """STRONGLY_TYPED is an opt-in on 10.x; on 11.x every network is strongly typed and the flag is ignored."""
    import tensorrt as trt

    if plan.strongly_typed and tensorrt_major(trt.__version__) == 10:
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return 0


def _parse(builder: trt.Builder, logger: trt.ILogger, onnx_path: Path,
           plan: PrecisionPlan) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    import tensorrt as trt

    network = builder.create_network(network_flags(plan))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise TargetError(f"{onnx_path}: the TensorRT ONNX parser failed: {(errors or ['no detail'])[0]}")
    if network.num_inputs != 1:
        raise TargetError(f"{onnx_path}: {network.num_inputs} inputs; the harness feeds one image tensor")
    return network, parser


def _profile(builder: trt.Builder, network: trt.INetworkDefinition, profile: BatchProfile,
             sample_shape: tuple[int, ...]) -> tuple[str, trt.IOptimizationProfile]:
    import tensorrt as trt

    tensor = network.get_input(0)
    fixed_batch = tensor.shape[0]
    if fixed_batch != -1 and not (profile.static and profile.min == fixed_batch):
        raise TargetError(f"the ONNX input {tensor.name!r} has a fixed batch of {fixed_batch}; export it with a "
                          f"dynamic batch axis or build BS={fixed_batch}")
    optimization = builder.create_optimization_profile()
    low, opt, high = (trt.Dims(list(shape)) for shape in profile.shapes(sample_shape))
    optimization.set_shape(tensor.name, low, opt, high)
    return tensor.name, optimization


def build_engine(onnx_path: Path, artifact: Path, cache_path: Path, plan: PrecisionPlan, profile: BatchProfile,
                 input_spec: TensorSpec, workspace_mib: int) -> dict:
    import_tensorrt()  # one line naming the missing package, not an ImportError
    import tensorrt as trt

    lines: list[str] = []
    logger = capturing_logger(lines)
    builder = trt.Builder(logger)
    network, _parser = _parse(builder, logger, onnx_path, plan)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    input_name, optimization = _profile(builder, network, profile, input_spec.sample_shape)
    config.add_optimization_profile(optimization)
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.exists() else b"")
    config.set_timing_cache(cache, ignore_mismatch=True)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        errors = [line for line in lines if line.startswith(("[ERROR]", "[INTERNAL_ERROR]"))] or lines[-1:]
        raise TargetError(f"TensorRT could not build {onnx_path.name}: {(errors or ['no log'])[-1]}")
    atomic_write_bytes(artifact, memoryview(serialized))
    atomic_write_bytes(cache_path, memoryview(config.get_timing_cache().serialize()))
    return {"engine": "tensorrt", "tensorrt": trt.__version__, "build_s": round(time.perf_counter() - started, 1),
            "input_name": input_name, "strongly_typed": plan.strongly_typed,
            "builder_flags": list(plan.builder_flags), "precision_note": plan.note,
            "workspace_mib": int(workspace_mib), "timing_cache": cache_path.name,
            "build_log_tail": lines[-LOG_TAIL_LINES:]}
