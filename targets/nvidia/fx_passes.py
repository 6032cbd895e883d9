"""Graph rewrites on the module of a torch.export program (aten ops, weights as get_attr nodes).

fold_conv_bn: an inference BatchNorm after a convolution becomes the convolution's weight and bias,
computed once in float32, which removes one full read and write of every such activation.
fuse_conv_relu: convolution + ReLU as one cuDNN call (cudnn_convolution_relu, CUDA only).
fuse_conv_add_relu: convolution + a tensor of its shape (a residual block's shortcut) + ReLU as one cuDNN call
(cudnn_convolution_add_relu, CUDA only).
conv1x1_relu_as_gemm: a 1x1 convolution with bias + ReLU as one GEMM whose epilogue adds the bias and applies the
ReLU (aten._addmm_activation, cuBLASLt on CUDA), on the NHWC view of its input.
depthwise_as_taps: a depthwise convolution as a sum of strided input slices times per-channel weights, which
inductor fuses into a kernel of its own instead of calling cuDNN.
pooled_conv_as_reduction: a 1x1 convolution over a 1x1 image (an SE block's two layers) as a product summed by
inductor, fused with the activation after it, instead of a cuBLAS GEMM, for batches up to a limit.
"""
from __future__ import annotations

import operator
from typing import Any, Iterator

CONV_DEFAULTS = {"stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1}
CONV_ARG_NAMES = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def _aten():
    import torch

    return torch.ops.aten


def _conv_args(node) -> dict:
    """aten.conv2d arguments by name, defaults filled in."""
    named = dict(zip(CONV_ARG_NAMES, node.args))
    named.update(node.kwargs)
    named.setdefault("bias", None)
    for key, value in CONV_DEFAULTS.items():
        named.setdefault(key, value)
    return named


def _shape(node) -> Any:
    """The shape export recorded for a node's value, or None."""
    return getattr(getattr(node, "meta", {}).get("val"), "shape", None)


def _convolutions(gm) -> Iterator[tuple]:
    """(node, its arguments by name, its weight tensor or None, its input's shape or None) for each conv2d."""
    aten = _aten()
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target == aten.conv2d.default:
            args = _conv_args(node)
            yield node, args, _attr(gm, args["weight"]), _shape(args["input"])


def _attr(gm, node) -> Any:
    """The tensor behind a get_attr node, or None when the node is no constant weight."""
    if node is None or getattr(node, "op", None) != "get_attr":
        return None
    value = gm
    for part in node.target.split("."):
        value = getattr(value, part)
    return value


def _bn_parts(node) -> tuple | None:
    """(conv node, weight, bias, mean, var, eps, node to replace) for an inference BatchNorm, else None."""
    aten = _aten()
    if node.target == aten.batch_norm.default:
        source, weight, bias, mean, var, training, _momentum, eps = node.args[:8]
        return None if training else (source, weight, bias, mean, var, eps, node)
    if node.target is operator.getitem and node.args[1] == 0:
        bn = node.args[0]
        if getattr(bn, "target", None) == aten._native_batch_norm_legit_no_training.default:
            source, weight, bias, mean, var, _momentum, eps = bn.args[:7]
            return source, weight, bias, mean, var, eps, node
    return None


def fold_conv_bn(gm) -> int:
    """Fold every conv2d -> inference batch_norm pair whose conv has no other user. Returns the count."""
    import torch

    aten = _aten()
    folded = 0
    for node in list(gm.graph.nodes):
        parts = _bn_parts(node) if node.op == "call_function" else None
        if parts is None:
            continue
        conv, weight, bias, mean, var, eps, replaced = parts
        if getattr(conv, "target", None) != aten.conv2d.default or len(conv.users) != 1:
            continue
        args = _conv_args(conv)
        conv_weight, conv_bias = _attr(gm, args["weight"]), _attr(gm, args["bias"])
        stats = [_attr(gm, n) for n in (weight, bias, mean, var)]
        if conv_weight is None or stats[2] is None or stats[3] is None or (args["bias"] is not None and conv_bias is None):
            continue
        with torch.no_grad():
            new_weight, new_bias = _folded(conv_weight, conv_bias, *stats, eps)
        old_weights = [n for n in (args["weight"], args["bias"]) if n is not None]
        args["weight"], args["bias"] = _register(gm, conv, f"_bnfold{folded}", new_weight, new_bias)
        conv.args, conv.kwargs = tuple(args[name] for name in CONV_ARG_NAMES), {}
        _replace(gm, replaced, conv, *old_weights)
        folded += 1
    return _cleaned(gm, folded)


def _folded(conv_weight, conv_bias, gamma, beta, mean, var, eps):
    import torch

    dtype = conv_weight.dtype
    scale = torch.rsqrt(var.double() + eps)
    if gamma is not None:
        scale = scale * gamma.double()
    bias = conv_bias.double() if conv_bias is not None else torch.zeros_like(mean, dtype=torch.float64)
    new_bias = (bias - mean.double()) * scale
    if beta is not None:
        new_bias = new_bias + beta.double()
    new_weight = conv_weight.double() * scale.reshape(-1, *([1] * (conv_weight.dim() - 1)))
    return new_weight.to(dtype), new_bias.to(dtype)


def _register(gm, conv, prefix: str, weight, bias) -> tuple:
    gm.register_buffer(f"{prefix}_weight", weight)
    gm.register_buffer(f"{prefix}_bias", bias)
    with gm.graph.inserting_before(conv):
        return gm.graph.get_attr(f"{prefix}_weight"), gm.graph.get_attr(f"{prefix}_bias")


def _relus(gm) -> Iterator:
    """Every ReLU node of the graph, in place or not."""
    aten = _aten()
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in (aten.relu.default, aten.relu_.default):
            yield node


def _conv_relu_pairs(gm):
    """(relu node, conv2d node) for every ReLU whose input is a convolution that nothing else reads."""
    aten = _aten()
    for node in _relus(gm):
        conv = node.args[0]
        if getattr(conv, "target", None) == aten.conv2d.default and len(conv.users) == 1:
            yield node, conv


# The models measured faster with cuDNN's epilogue (ResNet50, SE-ResNeXt101) have 1x1 convolutions over at least 64
# channels. MobileNetV3-Large ran 0.56 times as fast at bs64 on an H200 with five 1x1 convolutions of 16-40 channels
# and three depthwise ones fused (docs/nvidia.md); which of them cost it was not measured, so neither kind is fused.
MIN_FUSED_POINTWISE_CHANNELS = 64


def _cudnn_epilogue_pays(gm, conv) -> bool:
    """Whether the convolution is of a kind the models measured faster as fused cuDNN calls had: not depthwise,
    and a 1x1 convolution only over at least MIN_FUSED_POINTWISE_CHANNELS input channels."""
    args = _conv_args(conv)
    weight, out = _attr(gm, args["weight"]), _shape(conv)
    if weight is None or weight.dim() != 4 or out is None or len(out) != 4:  # cuDNN's calls take batched input only
        return False
    channels_in = weight.shape[1] * args["groups"]
    depthwise = args["groups"] > 1 and weight.shape[1] == 1
    pointwise = tuple(weight.shape[2:]) == (1, 1)
    return not depthwise and (not pointwise or channels_in >= MIN_FUSED_POINTWISE_CHANNELS)


def fuse_conv_relu(gm) -> int:
    """conv2d (single user) -> relu becomes aten.cudnn_convolution_relu, for the kinds of convolution where that
    paid (_cudnn_epilogue_pays). Returns the count."""
    aten = _aten()
    fused = 0
    for node, conv in _conv_relu_pairs(gm):
        if not _cudnn_epilogue_pays(gm, conv):
            continue
        args = _conv_args(conv)
        with gm.graph.inserting_before(node):
            replacement = gm.graph.call_function(aten.cudnn_convolution_relu.default,
                                                 tuple(args[name] for name in CONV_ARG_NAMES))
        _replace(gm, node, replacement, conv)
        fused += 1
    return _cleaned(gm, fused)


def fuse_conv_add_relu(gm) -> int:
    """relu(conv2d(x) + z), where nothing else reads the convolution or the sum and z has the convolution's shape,
    becomes aten.cudnn_convolution_add_relu(x, weight, z, 1, bias): a residual block's convolution, its shortcut and
    the ReLU as one cuDNN call, which adds bias and shortcut in the convolution's epilogue instead of writing the
    convolution's output and reading it back. Only for the kinds of convolution where that paid
    (_cudnn_epilogue_pays). Returns the count."""
    aten = _aten()
    fused = 0
    for node in _relus(gm):
        found = _sum_with_a_convolution(node.args[0])
        if found is None or not _cudnn_epilogue_pays(gm, found[0]):
            continue
        conv, shortcut = found
        args = _conv_args(conv)
        with gm.graph.inserting_before(node):
            replacement = gm.graph.call_function(aten.cudnn_convolution_add_relu.default, (
                args["input"], args["weight"], shortcut, 1.0, args["bias"], args["stride"], args["padding"],
                args["dilation"], args["groups"]))
        replacement.meta["val"] = node.meta.get("val")
        _replace(gm, node, replacement, node.args[0], conv)
        fused += 1
    return _cleaned(gm, fused)


def _sum_with_a_convolution(node) -> tuple | None:
    """(convolution, the other addend) when `node`, read by one node alone, adds a tensor of the same shape to a
    convolution that nothing else reads; else None. An in-place add may only write over the convolution or over
    a fresh tensor nothing else reads, so that dropping the write changes nothing another node sees."""
    aten = _aten()
    if (getattr(node, "op", None) != "call_function" or node.target not in (aten.add.Tensor, aten.add_.Tensor)
            or len(node.users) != 1 or len(node.args) != 2 or node.kwargs.get("alpha", 1) != 1):
        return None
    first, second = node.args
    for conv, other in ((first, second), (second, first)):
        if (getattr(conv, "target", None) != aten.conv2d.default or len(conv.users) != 1
                or getattr(other, "op", None) is None or not _same_shape(other, conv)):
            continue
        if node.target == aten.add_.Tensor and first is not conv and not (len(first.users) == 1 and _fresh(first)):
            continue
        return conv, other
    return None


def _same_shape(a, b) -> bool:
    """Whether export recorded the same shape for both nodes (a symbolic batch size compared by its name)."""
    shape_a, shape_b = _shape(a), _shape(b)
    return shape_a is not None and shape_b is not None and [str(d) for d in shape_a] == [str(d) for d in shape_b]


def _fresh(node) -> bool:
    """Whether `node` makes a tensor of its own, not a view of another or another's in-place result."""
    schema = getattr(node.target, "_schema", None)
    return node.op == "call_function" and schema is not None and all(r.alias_info is None for r in schema.returns)


_FUSED_CONV_SHAPES: list = []  # the library holding the shape functions below, kept alive once registered


def register_fused_conv_shapes() -> None:
    """Shape functions for cuDNN's fused convolutions, which torch has as CUDA kernels only: torch.export and
    inductor trace a graph with tensors that hold no data. The output's layout is the one torch's CUDA kernel
    gives it (channels_last when the input or the weight is), since inductor checks it at run time."""
    import torch

    if _FUSED_CONV_SHAPES:
        return
    library = torch.library.Library("aten", "IMPL")
    for name, shape in (("cudnn_convolution_relu", _conv_relu_shape), ("cudnn_convolution_add_relu",
                                                                          _conv_add_relu_shape)):
        if not torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{name}", "Meta"):
            library.impl(name, shape, "Meta")
    _FUSED_CONV_SHAPES.append(library)


def fused_convs_by_definition_on_the_cpu() -> Any:
    """cuDNN's fused convolutions computed by their definition (convolution, add, ReLU) on the CPU, where torch has no
    kernel for them: for checking rewritten graphs on a machine without CUDA (the tests,
    bench/graph_rewrites_cpu.py). Returns the torch.library.Library holding them; destroying it removes them."""
    import torch
    import torch.nn.functional as F

    register_fused_conv_shapes()
    library = torch.library.Library("aten", "IMPL")
    library.impl("cudnn_convolution_relu", lambda x, w, b, stride, padding, dilation, groups: torch.relu(
        F.conv2d(x, w, b, stride, padding, dilation, groups)), "CPU")
    library.impl("cudnn_convolution_add_relu", lambda x, w, z, alpha, b, stride, padding, dilation, groups: torch.relu(
        F.conv2d(x, w, b, stride, padding, dilation, groups) + alpha * z), "CPU")
    return library


def _conv_relu_shape(x, weight, bias, stride, padding, dilation, groups):
    return _fused_conv_output(x, weight, stride, padding, dilation)


def _conv_add_relu_shape(x, weight, z, alpha, bias, stride, padding, dilation, groups):
    return _fused_conv_output(x, weight, stride, padding, dilation)


def _fused_conv_output(x, weight, stride, padding, dilation):
    import torch
    from torch._prims_common import suggest_memory_format

    size = [x.shape[0], weight.shape[0], *((x.shape[i + 2] + 2 * padding[i] - dilation[i] * (weight.shape[i + 2] - 1)
                                            - 1) // stride[i] + 1 for i in range(2))]
    channels_last = (torch.float64 not in (x.dtype, weight.dtype)
                     and torch.channels_last in (suggest_memory_format(x), suggest_memory_format(weight)))
    return torch.empty(size, dtype=x.dtype, device=x.device,
                       memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def conv1x1_relu_as_gemm(gm) -> int:
    """conv2d 1x1 (stride 1, no padding, one group, with bias; single user) -> relu becomes
    _addmm_activation(bias, x as [N*H*W, C], weight as [C, K]) viewed back as NCHW. Returns the count.

    Inductor takes the bias out of every convolution and adds it back, with the ReLU, in a kernel of its own;
    as a GEMM, bias and ReLU run in the GEMM's epilogue instead. The views are free when the input is
    channels_last, as the session makes it. Convolutions over a 1x1 image are left alone: cuBLASLt's epilogue
    needs more than one row, and without it the op adds a copy of the bias."""
    aten = _aten()
    rewritten = 0
    for node, conv in _conv_relu_pairs(gm):
        args = _conv_args(conv)
        weight, out = _attr(gm, args["weight"]), _shape(conv)
        if (weight is None or args["bias"] is None or out is None or len(out) != 4 or tuple(weight.shape[2:]) != (1, 1)
                or args["groups"] != 1 or any(v != 1 for v in (*args["stride"], *args["dilation"]))
                or any(args["padding"]) or not all(isinstance(d, int) for d in out[2:]) or out[2] * out[3] == 1):
            continue
        channels_out, channels_in = weight.shape[:2]
        graph = gm.graph
        with graph.inserting_before(node):
            rows = graph.call_function(aten.reshape.default, (
                graph.call_function(aten.permute.default, (args["input"], [0, 2, 3, 1])), [-1, channels_in]))
            columns = graph.call_function(aten.permute.default, (
                graph.call_function(aten.reshape.default, (args["weight"], [channels_out, channels_in])), [1, 0]))
            product = graph.call_function(aten._addmm_activation.default, (args["bias"], rows, columns),
                                          {"use_gelu": False})
            nhwc = graph.call_function(aten.reshape.default, (product, [-1, out[2], out[3], channels_out]))
            replacement = graph.call_function(aten.permute.default, (nhwc, [0, 3, 1, 2]))
        replacement.meta["val"] = node.meta.get("val")  # its shape, for a later pass that reads it
        _replace(gm, node, replacement, conv)
        rewritten += 1
    return _cleaned(gm, rewritten)


def depthwise_as_taps(gm, max_taps: int = 49) -> int:
    """conv2d with one filter per input channel (groups = channels, dilation 1, at most `max_taps` taps) whose
    output one convolution alone reads, through activations, becomes bias + the sum, over the kernel's taps, of a
    strided slice of the (padded) input times that tap's per-channel weight, over the input's NHWC view. Returns
    the count.

    cuDNN compiles a kernel at run time for each such convolution, at the first call of every process: most of a
    warm start's first call for EfficientNet-Lite0 (docs/nvidia.md). As elementwise ops over slices of the padded
    input, which is written out once, inductor fuses the taps, the bias and the activation into one kernel with no
    reduction, which writes the next convolution's input once; after cuDNN that output is written, then read and
    written again for the bias and activation.
    Channels vary fastest in that kernel, so each tap's weights are a contiguous row of a [taps, channels] table:
    read from the convolution's [channels, taps] layout, the 25 loads of a 5x5 kernel were scattered, and
    EfficientNet-Lite0's blocks ran up to 1.6 times slower on an H200. A first form, unfold + multiply + sum,
    compiled into a reduction that made the model six to seven times slower."""
    aten = _aten()
    rewritten = 0
    for conv, args, weight, size_in in _convolutions(gm):
        out = _shape(conv)
        # one input channel per group and one filter per group: as many groups as input and output channels;
        # batched input only (an unbatched conv2d reads 3-D tensors); the slices need the input's and output's size
        if (weight is None or out is None or len(out) != 4 or weight.dim() != 4 or weight.shape[1] != 1
                or args["groups"] == 1 or args["groups"] != weight.shape[0]
                or any(v != 1 for v in args["dilation"]) or weight.shape[2] * weight.shape[3] > max_taps
                or size_in is None or len(size_in) != 4
                or not all(isinstance(d, int) for d in (*out[2:], *size_in[2:]))):
            continue
        if not _feeds_only_a_matmul(conv):
            # Its output must be written out for more than one reader (an SE block's mean and its gate, a
            # LayerNorm's statistics and its normalisation), as after cuDNN, and then the taps alone are slower
            # than cuDNN's kernel: with those rewritten too, MobileNetV3-Large at bs64 on an H200 ran 0.85x as
            # fast as with cuDNN's, EfficientNet-B0 (all of its sixteen) 0.91x.
            continue
        channels, _, kernel_h, kernel_w = weight.shape
        (pad_h, pad_w), (stride_h, stride_w) = args["padding"], args["stride"]
        height, width = size_in[2] + 2 * pad_h, size_in[3] + 2 * pad_w
        name = _free_name(gm, "_dwtaps")
        gm.register_buffer(name, weight.detach().reshape(channels, kernel_h * kernel_w).t().contiguous())
        graph = gm.graph
        with graph.inserting_before(conv):
            taps = graph.get_attr(name)
            padded = graph.call_function(aten.permute.default, (args["input"], [0, 2, 3, 1]))
            if pad_h or pad_w:
                padded = graph.call_function(aten.constant_pad_nd.default,
                                             (padded, [0, 0, pad_w, pad_w, pad_h, pad_h], 0.0))
            # The padded input written once, where inductor would otherwise compute the padding and what made
            # the input (a bias and a ReLU6) again inside each tap, behind a mask: EfficientNet-Lite0's Triton
            # kernels took 1.42 ms per batch at bs64 on an H200 that way, against 0.50 ms for cuDNN's depthwise ones.
            batch = graph.call_function(aten.sym_size.int, (args["input"], 0))
            padded = _written_out(graph, padded, [batch, height, width, channels])
            result = args["bias"]
            for row in range(kernel_h):
                rows = graph.call_function(aten.slice.Tensor, (padded, 1, row, row + stride_h * (out[2] - 1) + 1,
                                                               stride_h))
                for column in range(kernel_w):
                    window = graph.call_function(aten.slice.Tensor, (
                        rows, 2, column, column + stride_w * (out[3] - 1) + 1, stride_w))
                    tap = graph.call_function(aten.select.int, (taps, 0, row * kernel_w + column))
                    term = graph.call_function(aten.mul.Tensor, (window, tap))
                    result = term if result is None else graph.call_function(aten.add.Tensor, (result, term))
            result = graph.call_function(aten.permute.default, (result, [0, 3, 1, 2]))
        result.meta["val"] = conv.meta["val"]  # its shape (not its strides), for a depthwise convolution that reads it
        _replace(gm, conv, result)
        rewritten += 1
    return _cleaned(gm, rewritten)


def pooled_conv_as_reduction(gm, max_batch: int) -> int:
    """conv2d with a 1x1 kernel and one group over a 1x1 image, no padding (an SE block's squeeze and excite
    layers, a head over pooled features), becomes a call of `pooled_conv`, which computes it, for batches of at most
    `max_batch`, as the input times the weights summed over the input channels. Returns the count.

    At bs1 each such GEMM is a cuBLAS launch of 2.2-3.4 us for a few thousand multiply-adds, followed by a Triton
    launch for its bias and activation. On an H200, SE-ResNeXt101 has 66: as reductions, with bias and activation in
    them, they took 0.20 ms off its cuBLAS time and added 0.08 ms of Triton time, of 0.92 ms of kernels at bs1
    (docs/nvidia.md).
    The batch size is known when a graph is compiled for it; above the limit the GEMM's tensor cores win, and the
    convolution stays as it was."""
    rewritten = 0
    for conv, args, weight, size_in in _convolutions(gm):
        if (weight is None or weight.dim() != 4 or tuple(weight.shape[2:]) != (1, 1) or args["groups"] != 1
                or any(args["padding"]) or size_in is None or len(size_in) != 4 or tuple(size_in[2:]) != (1, 1)
                or (args["bias"] is not None and _attr(gm, args["bias"]) is None)):
            continue
        with gm.graph.inserting_before(conv):
            replacement = gm.graph.call_function(pooled_conv, (args["input"], args["weight"], args["bias"], max_batch))
        replacement.meta["val"] = conv.meta.get("val")
        _replace(gm, conv, replacement)
        rewritten += 1
    return _cleaned(gm, rewritten)


def pooled_conv(x, weight, bias, max_batch: int):
    """conv2d of `x` [N, C, 1, 1] with a 1x1 `weight` [K, C, 1, 1]: a GEMM above `max_batch` rows, else a product
    summed over C, which inductor compiles as a reduction with what follows fused into it. The batch size is
    concrete when the graph is traced for a batch size, so the branch is decided then."""
    import torch

    batch, (channels_out, channels_in) = x.shape[0], weight.shape[:2]
    if batch > max_batch:
        return torch.ops.aten.conv2d.default(x, weight, bias)
    products = x.reshape(batch, 1, channels_in) * weight.reshape(1, channels_out, channels_in)
    summed = products.sum(2) if bias is None else products.sum(2) + bias
    return summed.reshape(batch, channels_out, 1, 1)


def _written_out(graph, node, shape: list):
    """`node` (NHWC, of `shape`) as a contiguous buffer that inductor writes once: it writes out the input of an
    as_strided, where it would otherwise compute the node again inside each kernel that reads it."""
    import torch

    aten = _aten()
    copy = graph.call_function(aten.clone.default, (node,), {"memory_format": torch.contiguous_format})
    strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1]
    return graph.call_function(aten.as_strided.default, (copy, shape, strides))


def _feeds_only_a_matmul(node) -> bool:
    """Whether `node`, through elementwise activations with one reader each, is read by one convolution or matrix
    product alone: inductor writes such an input out anyway, with the activations fused into the kernel before."""
    aten = _aten()
    activations = {aten.relu.default, aten.relu_.default, aten.hardtanh.default, aten.hardtanh_.default,
                   aten.clamp.default, aten.hardswish.default, aten.hardswish_.default, aten.silu.default,
                   aten.silu_.default, aten.gelu.default, aten.sigmoid.default}
    matmuls = {aten.conv2d.default, aten.convolution.default, aten.linear.default, aten.mm.default}
    while len(node.users) == 1:
        (user,) = node.users
        if user.op != "call_function" or not user.args or user.args[0] is not node:
            return False
        if user.target in matmuls:
            return True
        if user.target not in activations:
            return False
        node = user
    return False


def _free_name(gm, prefix: str) -> str:
    """The first `prefix<n>` that names nothing on the module yet."""
    index = 0
    while hasattr(gm, f"{prefix}{index}"):
        index += 1
    return f"{prefix}{index}"


def count_ops(gm, *targets) -> int:
    return sum(1 for n in gm.graph.nodes if n.op == "call_function" and n.target in targets)


def _replace(gm, node, replacement, *also_replaced) -> None:
    """Every use of `node` reads `replacement`; then `node`, `also_replaced` and what fed only them go."""
    node.replace_all_uses_with(replacement)
    _erase_unused(gm, node, *also_replaced)


def _cleaned(gm, rewritten: int) -> int:
    """After a pass: the unused weights dropped and the code rebuilt when it rewrote anything; its count."""
    if rewritten:
        _cleanup(gm)
    return rewritten


def _erase_unused(gm, *nodes) -> None:
    """Erase the replaced nodes, then whatever fed only them (a BN's tuple, its statistics)."""
    pending, erased = list(nodes), set()
    while pending:
        node = pending.pop(0)
        if node in erased or node.users:
            continue
        inputs = list(node.all_input_nodes)
        gm.graph.erase_node(node)
        erased.add(node)
        pending.extend(n for n in inputs if n.op in ("call_function", "get_attr"))


def _cleanup(gm) -> None:
    """Drop the weights nothing reads any more (the unfolded ones), then rebuild the code."""
    graph = gm.graph
    used = {n.target for n in graph.nodes if n.op == "get_attr"}
    for name, _ in list(gm.named_parameters()) + list(gm.named_buffers()):
        if name not in used:
            owner_path, _, attr = name.rpartition(".")
            owner = gm.get_submodule(owner_path) if owner_path else gm
            delattr(owner, attr)
    graph.lint()
    gm.recompile()
