"""Ways the torch engine can run an exported program, and the one it uses unless told otherwise.

The default was chosen by measurement on an H100 (docs/nvidia.md): the fastest variant that neither
crashed nor compiled for minutes. Inductor compiles once per batch size (about 25-30 s for
SE-ResNeXt101 there); where it cannot compile, the session runs the fallback and says so in info().
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness.errors import InputError


@dataclass(frozen=True)
class TorchVariant:
    name: str
    description: str
    fold_bn: bool = False  # BatchNorm folded into the preceding convolution (float32, at load)
    cudnn_benchmark: bool = False  # cuDNN times its algorithms per shape and keeps the fastest
    fuse_conv_relu: bool = False  # convolution + ReLU as one cuDNN call
    gemm_epilogue: bool = False  # 1x1 convolution + bias + ReLU as one GEMM with a bias+ReLU epilogue
    depthwise_taps: bool = False  # depthwise convolutions as sums of tap-weighted input slices, fused by inductor
    channels_last: bool = True  # NHWC activations: what the tensor cores want for convolutions
    inductor: dict | None = field(default=None)  # torch.compile(backend="inductor", options=...) when set

    def settings(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "description")}


# weights frozen into the graph as constants: what every inductor variant compiles with
FROZEN = {"freezing": True}

VARIANTS: dict[str, TorchVariant] = {v.name: v for v in (
    TorchVariant("plain", "the exported program as is (the plain-PyTorch baseline)"),
    TorchVariant("tuned", "BatchNorm folded into convolutions, cuDNN autotuning",
                 fold_bn=True, cudnn_benchmark=True),
    TorchVariant("tuned-nchw", "tuned, with NCHW activations instead of channels_last",
                 fold_bn=True, cudnn_benchmark=True, channels_last=False),
    TorchVariant("fused", "tuned, plus convolution+ReLU fused in cuDNN",
                 fold_bn=True, cudnn_benchmark=True, fuse_conv_relu=True),
    # cuDNN's heuristics pick the same convolution kernels as its timing did for the models measured
    # (docs/nvidia.md), and timing costs seconds in every process at its first call
    TorchVariant("inductor", "inductor kernels, BatchNorm folded; compiled once per batch size and kept",
                 fold_bn=True, inductor=dict(FROZEN)),
    # at bs1 the harness is bound by its kernels' time, and inductor's bias + ReLU after each convolution is
    # the largest part of it that is not a GEMM or a convolution (docs/nvidia.md, "Where bs1 goes")
    TorchVariant("inductor-gemm", "inductor, with each 1x1 convolution + bias + ReLU as one GEMM that adds the bias "
                                  "and applies the ReLU in its epilogue", fold_bn=True, gemm_epilogue=True,
                 inductor=dict(FROZEN)),
    # cuDNN's depthwise convolutions: plans compiled at run time in every process (most of a warm start's first
    # call for EfficientNet-Lite0) and about a third of its GPU time at bs64. On an H200 the taps beat cuDNN for
    # EfficientNet-Lite0 at bs 1, 64 and 256 and lost for MobileNetV3-Large, whose SE blocks read the taps twice
    # (docs/nvidia.md); so it stays a variant to pick per model, not the default
    TorchVariant("inductor-dw", "inductor, with depthwise convolutions as sums of input slices times each tap's "
                                "weights, fused by inductor instead of calling cuDNN (measured faster for "
                                "EfficientNet-Lite0; measure it on your model)", fold_bn=True, depthwise_taps=True,
                 inductor=dict(FROZEN)),
    # as `inductor`, plus Triton templates timed against cuBLAS/cuDNN for every GEMM and convolution (1x1
    # convolutions become GEMMs, so bias and activation fuse into their epilogue); the session captures its
    # own CUDA graph, so inductor's is off
    TorchVariant("max-autotune", "inductor with max-autotune kernel search, BatchNorm folded; compiles for minutes",
                 fold_bn=True, inductor={**FROZEN, "max_autotune": True, "triton.cudagraphs": False}),
)}

DEFAULT_VARIANT = "inductor"
FALLBACK_VARIANT = "fused"  # when the default cannot compile here (no Triton, an op inductor rejects)


def resolve_variant(name: str | None) -> TorchVariant:
    key = name or DEFAULT_VARIANT
    try:
        return VARIANTS[key]
    except KeyError:
        raise InputError(f"unknown torch engine variant {key!r}; choose one of {', '.join(VARIANTS)}") from None
