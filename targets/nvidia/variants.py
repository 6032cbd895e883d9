"""Ways the torch engine can run an exported program, and the one it uses unless told otherwise.

The default was chosen by measurement (docs/nvidia.md): the fastest variant that neither crashed nor
compiled for minutes, inductor on an H100, then with its depthwise rewrite on an H200, then with an SE block's
layers as reductions at small batches, then with each convolution's bias, residual sum and ReLU in cuDNN's epilogue.
Inductor compiles once per batch size (about 25-45 s for SE-ResNeXt101);
where it cannot compile, the session runs the fallback and says so in info().
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
    fuse_conv_add_relu: bool = False  # convolution + a residual block's shortcut + ReLU as one cuDNN call
    gemm_epilogue: bool = False  # 1x1 convolution + bias + ReLU as one GEMM with a bias+ReLU epilogue
    depthwise_taps: bool = False  # depthwise convolutions as sums of tap-weighted input slices, fused by inductor
    pooled_conv_max_batch: int = 0  # up to this batch size, 1x1 convolutions over a 1x1 image as inductor reductions
    channels_last: bool = True  # NHWC activations: what the tensor cores want for convolutions
    inductor: dict | None = field(default=None)  # torch.compile(backend="inductor", options=...) when set

    def settings(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "description")}


# weights frozen into the graph as constants: what every inductor variant compiles with
FROZEN = {"freezing": True}
# the largest batch size at which an SE block's layers ran faster as reductions than as GEMMs (docs/nvidia.md)
SE_MAX_BATCH = 32

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
    TorchVariant("inductor", "inductor kernels, BatchNorm folded, every convolution by cuDNN; compiled once per "
                             "batch size and kept",
                 fold_bn=True, inductor=dict(FROZEN)),
    # at bs1 the harness is bound by its kernels' time, and inductor's bias + ReLU after each convolution is
    # the largest part of it that is not a GEMM or a convolution (docs/nvidia.md, "Where bs1 goes")
    TorchVariant("inductor-gemm", "inductor, with each 1x1 convolution + bias + ReLU as one GEMM that adds the bias "
                                  "and applies the ReLU in its epilogue", fold_bn=True, gemm_epilogue=True,
                 inductor=dict(FROZEN)),
    # cuDNN's depthwise convolutions: plans compiled at run time in every process (most of a warm start's first
    # call for EfficientNet-Lite0), and their output read and written again for the bias and activation. Taken
    # only where a convolution alone reads that output, the taps ran faster than cuDNN on an H200 for
    # EfficientNet-Lite0 (fp16 at bs 1, 64 and 256, fp32 at 64 and 256) and MobileNetV3-Large (fp16, bs 1, 64
    # and 256); EfficientNet-B0's and ConvNeXt-Tiny's depthwise outputs have other readers, so their graphs stay as
    # `inductor` compiles them (docs/nvidia.md)
    TorchVariant("inductor-dw", "inductor, BatchNorm folded, with each depthwise convolution whose output a "
                                "convolution alone reads computed by inductor as a sum of input slices times each "
                                "tap's weights, with its bias and activation, instead of by cuDNN; compiled once "
                                "per batch size and kept", fold_bn=True, depthwise_taps=True, inductor=dict(FROZEN)),
    # cuBLAS's GEMMs for an SE block's two layers at bs1: a few microseconds each for a few thousand multiply-adds,
    # then a Triton launch for the bias and activation. As reductions they ran faster on an H200 for SE-ResNeXt101
    # at bs 1 to 32 (0.797 ms against 0.938 ms at bs1) and MobileNetV3-Large at bs1, slower at bs 64 and 256
    # (docs/nvidia.md): hence the batch limit
    TorchVariant("inductor-se", "inductor-dw, with each 1x1 convolution over a 1x1 image (an SE block's layers) "
                                "computed by inductor as a product summed over its input channels, with its bias and "
                                f"activation, instead of by a cuBLAS GEMM, at batch sizes up to {SE_MAX_BATCH}; "
                                "compiled once per batch size and kept",
                 fold_bn=True, depthwise_taps=True, pooled_conv_max_batch=SE_MAX_BATCH, inductor=dict(FROZEN)),
    # inductor takes the bias out of each convolution and adds it back, with the ReLU and a residual block's
    # shortcut, in a Triton kernel that reads the convolution's output again; in cuDNN's epilogue that read and
    # write go away. On an H200 that ran 1.10-1.19x as fast as `inductor-se` for ResNet50 (fp16 bs 1, 64, 256;
    # 1.26x fp32 bs64) and 1.06-1.18x for SE-ResNeXt101 (docs/nvidia.md)
    TorchVariant("inductor-cudnn", "inductor-se, with each convolution + bias + ReLU, and each convolution + bias + "
                                   "a residual block's shortcut + ReLU, as one cuDNN call that applies them in its "
                                   "epilogue; compiled once per batch size and kept",
                 fold_bn=True, depthwise_taps=True, pooled_conv_max_batch=SE_MAX_BATCH, fuse_conv_relu=True,
                 fuse_conv_add_relu=True, inductor=dict(FROZEN)),
    # as `inductor`, plus Triton templates timed against cuBLAS/cuDNN for every GEMM and convolution (1x1
    # convolutions become GEMMs, so bias and activation fuse into their epilogue); the session captures its
    # own CUDA graph, so inductor's is off
    TorchVariant("max-autotune", "inductor with max-autotune kernel search, BatchNorm folded; compiles for minutes",
                 fold_bn=True, inductor={**FROZEN, "max_autotune": True, "triton.cudagraphs": False}),
)}

DEFAULT_VARIANT = "inductor-cudnn"
FALLBACK_VARIANT = "fused"  # when the default cannot compile here (no Triton, an op inductor rejects)


def resolve_variant(name: str | None) -> TorchVariant:
    key = name or DEFAULT_VARIANT
    try:
        return VARIANTS[key]
    except KeyError:
        raise InputError(f"unknown torch engine variant {key!r}; choose one of {', '.join(VARIANTS)}") from None
