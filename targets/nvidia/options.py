"""Options of the nvidia target (declared as targets/options.py describes), its engine choice and precision label."""
from __future__ import annotations

from dataclasses import dataclass

from harness.vocabulary import Precision, PrecisionLabel
from targets.nvidia.precompiled import DEFAULT_SAVED_GRAPH, SAVED_FORMS
from targets.nvidia.variants import DEFAULT_VARIANT, VARIANTS
from targets.options import BUILD, RUN, TargetOptions, option

ENGINES = ("tensorrt", "torch")


@dataclass(frozen=True)
class NvidiaOptions(TargetOptions):
    target = "nvidia"
    engine: str | None = option(None, "which engine builds the artifact (default: tensorrt when it imports, "
                                      "else torch)", BUILD, choices=ENGINES)
    workspace_mib: int = option(4096, "TensorRT builder workspace pool limit", BUILD, minimum=1)
    opt_batch: int | None = option(None, "batch size a dynamic TensorRT profile is tuned for (default: the "
                                         "largest)", BUILD, minimum=1)
    allow_other_gpu: bool = option(False, "run a plan built on another GPU model of the same compute capability",
                                   RUN)
    cuda_graphs: bool = option(True, "one CUDA graph per batch size; 0 launches plainly", RUN)
    variant: str | None = option(None, f"torch engine: how the program runs (default: {DEFAULT_VARIANT})", RUN,
                                 choices=tuple(VARIANTS))
    in_flight: int = option(3, "batches a session keeps in flight (sets of pinned host + device buffers)", RUN,
                            minimum=1)
    cudnn_benchmark: bool | None = option(None, "torch engine: cuDNN times its algorithms at each new shape (costs "
                                                "seconds at the first call of every process; default: the variant's)",
                                          RUN)
    precompile: bool = option(True, "torch engine: save inductor's output per batch size in the compile cache and "
                                    "load it in later processes (0: torch.compile traces in every process)", RUN)
    saved_graph: str = option(DEFAULT_SAVED_GRAPH, "torch engine: the form of the saved graphs: aoti (an "
                                                   "AOTInductor package, loaded by torch's C++ loader without "
                                                   "importing inductor: warm starts of 2.0-3.1 s against 4.3-5.9 s "
                                                   "on the H200, compute within 1 %, a first compile up to twice "
                                                   "as long; refused with one line where it does not load or agree) "
                                                   "or inductor (standalone_compile's artifact, loaded through "
                                                   "inductor); docs/nvidia.md", RUN,
                              choices=SAVED_FORMS)
    hash_aside: bool = option(True, "torch engine, saved_graph=inductor: hash torch's and Triton's sources, "
                                    "which inductor checks before it loads a saved graph, on side threads while "
                                    "inductor imports (0: on the main thread when inductor asks)", RUN)
    tf32: bool = option(True, "torch engine: TF32 matmul/conv for fp32 (0: strict fp32, labelled so)", RUN)
    warm_aside: bool = option(False, "torch engine, saved_graph=inductor, warm compile cache: build cuDNN's "
                                     "convolution plans in a second thread while the saved graph loads, and prepare "
                                     "the batch size there (0.4-1.5 s sooner to the first batch, but 1.5-2.4 % "
                                     "slower compute on every batch on an H200: those plans run slower than the "
                                     "first call's own, docs/nvidia.md)", RUN)


TF32_LABEL = PrecisionLabel.FP32_TF32


def effective_precision(precision: str, tf32: bool, compute_capability: tuple[int, int] | None) -> str:
    """What fp32 computes in: TF32 where it is allowed and the GPU has it (compute capability 8.0 and up)."""
    if precision == Precision.FP32 and tf32 and compute_capability is not None and tuple(compute_capability) >= (8, 0):
        return TF32_LABEL
    return precision


def tensorrt_version() -> str | None:
    """The installed TensorRT's version, or None when `import tensorrt` fails."""
    try:
        import tensorrt
        return str(tensorrt.__version__)
    except Exception:  # a broken install (missing libnvinfer) raises OSError, not ImportError; the type
        return None    # stubs alone (tensorrt-stubs) import as an empty namespace package: AttributeError


def choose_engine(requested: str | None) -> str:
    if requested:
        return requested
    return "tensorrt" if tensorrt_version() is not None else "torch"
