"""Graph rewrites keep the function: checked against the unmodified PyTorch module."""
from __future__ import annotations

from functools import partial

import pytest
import torch

from targets.nvidia.fx_passes import (conv1x1_relu_as_gemm, count_ops, depthwise_as_taps, fold_conv_bn,
                                      fuse_conv_add_relu, fuse_conv_relu, pooled_conv_as_reduction,
                                      register_fused_conv_shapes)
from tests.targets.nvidia.conftest import relative_error, tiny_net


def exported_module(model, batch: int = 2):
    return torch.export.export(model, (torch.randn(batch, 3, 8, 8),)).module()


def test_bn_folding_removes_every_conv_bn_pair_and_keeps_outputs():
    model = tiny_net()
    module = exported_module(model)
    assert fold_conv_bn(module) == 2
    assert count_ops(module, torch.ops.aten.batch_norm.default) == 0
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert relative_error(module(x), model(x)) < 1e-5


def test_bn_folding_drops_the_unfolded_weights():
    module = exported_module(tiny_net())
    fold_conv_bn(module)
    names = {name for name, _ in list(module.named_parameters()) + list(module.named_buffers())}
    assert not any("running_mean" in n or "running_var" in n for n in names)
    assert "stem.0.weight" not in names and "_bnfold0_weight" in names


def test_conv_relu_fusion_rewrites_the_graph():
    module = exported_module(tiny_net())
    fold_conv_bn(module)
    assert fuse_conv_relu(module) == 2
    assert count_ops(module, torch.ops.aten.cudnn_convolution_relu.default) == 2


@pytest.mark.nvidia
def test_conv_relu_fusion_keeps_outputs_on_the_gpu(cuda):
    model = tiny_net()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        want = model(x)  # before .to(cuda): the exported module shares the model's parameters
    module = exported_module(model)
    fold_conv_bn(module)
    fuse_conv_relu(module)
    module.to(cuda)
    with torch.no_grad():
        assert relative_error(module(x.to(cuda)).cpu(), want) < 5e-3  # TF32 may be on


class ResidualNet(torch.nn.Module):
    """Residual sums a cuDNN call can take with its convolution: an identity shortcut added in place to a
    convolution (ResNet50's blocks), a strided 1x1 shortcut convolution over 64 channels added in place to an
    SE-gated branch (SE-ResNeXt's first blocks). Sums it must leave: a convolution read twice, a broadcast addend, a
    scaled sum, an in-place sum into a view of a tensor read again afterwards. And convolutions + ReLU it must leave
    to inductor, of the kinds not measured faster fused: depthwise, 1x1 over fewer than 64 channels."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.body = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64))
        self.branch = nn.Conv2d(64, 16, 3, stride=2, padding=1)
        self.gate = nn.Conv2d(16, 16, 1)
        self.shortcut = nn.Sequential(nn.Conv2d(64, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.twice, self.broadcast, self.scaled = (nn.Conv2d(16, 16, 3, padding=1) for _ in range(3))
        self.overwritten = nn.Conv2d(16, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pointwise = nn.Conv2d(16, 16, 1)

    def forward(self, x):
        x = self.stem(x)
        y = self.body(x)
        y += x
        x = torch.relu(y)
        y = self.branch(x)
        y = y * torch.sigmoid(self.gate(y.mean((2, 3), keepdim=True)))
        y += self.shortcut(x)
        x = torch.relu_(y)
        twice = self.twice(x)
        y = torch.relu(twice + x) + twice
        y = y + torch.relu(self.broadcast(x) + x.mean((2, 3), keepdim=True))
        y = y + torch.relu(torch.add(self.scaled(x), x, alpha=2))
        kept = x * 2
        summed = torch.relu(kept[:, :8].add_(self.overwritten(x)))  # writes into `kept`, which is read below
        y = y + kept + summed.repeat(1, 2, 1, 1)
        return y + torch.relu(self.depthwise(x) + x) + torch.relu(self.pointwise(x))


def residual_net() -> ResidualNet:
    return seeded(ResidualNet, "body.1")


def test_residual_sums_with_a_convolution_become_cudnn_calls_and_keep_outputs(cudnn_fusions_on_the_cpu):
    model = residual_net()
    module = dynamic_batch_module(model, example=(2, 3, 12, 10))
    assert fold_conv_bn(module) == 3
    assert fuse_conv_add_relu(module) == 2  # the identity and the strided shortcut
    assert count_ops(module, torch.ops.aten.cudnn_convolution_add_relu.default) == 2
    assert count_ops(module, torch.ops.aten.conv2d.default) == 11 - 2
    assert fuse_conv_relu(module) == 1  # the stem, not the depthwise nor the 16-channel 1x1 convolution
    for batch in (1, 3):
        x = torch.randn(batch, 3, 12, 10)
        with torch.no_grad():
            want = model(x)
            assert relative_error(module(x), want) < 1e-5
            assert relative_error(module(x.contiguous(memory_format=torch.channels_last)), want) < 1e-5


def test_fused_convolutions_export_and_compile_with_inductor_on_the_cpu(cudnn_fusions_on_the_cpu):
    """torch.export and inductor trace the cuDNN calls with data-less tensors: the shape functions registered for
    them must give the shapes and layouts the kernels give, or inductor's checks of the outputs fail."""
    model = residual_net()
    module = dynamic_batch_module(model, example=(2, 3, 12, 10))
    fold_conv_bn(module)
    fuse_conv_add_relu(module)
    fuse_conv_relu(module)
    module = module.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 12, 10).contiguous(memory_format=torch.channels_last)
    traced = torch.export.export(module, (x,)).module()
    assert count_ops(traced, torch.ops.aten.cudnn_convolution_add_relu.default) == 2
    compiled = torch.compile(traced, backend="inductor", dynamic=False)
    with torch.no_grad():
        assert relative_error(compiled(x), model(x)) < 1e-5


def test_fused_convolutions_have_the_output_layout_of_torchs_cuda_kernel():
    register_fused_conv_shapes()
    meta = torch.device("meta")
    weight = torch.empty(16, 8, 3, 3, device=meta)
    for x, w, channels_last in ((torch.empty(2, 8, 9, 7, device=meta), weight, False),
                                (torch.empty(2, 8, 9, 7, device=meta).to(memory_format=torch.channels_last), weight, True),
                                (torch.empty(2, 8, 9, 7, device=meta), weight.to(memory_format=torch.channels_last), True)):
        out = torch.ops.aten.cudnn_convolution_relu(x, w, None, [2, 1], [1, 0], [1, 2], 1)
        assert out.shape == (2, 16, 5, 3)
        assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        z = torch.empty(2, 16, 5, 3, device=meta)
        assert torch.ops.aten.cudnn_convolution_add_relu(x, w, z, 1.0, None, [2, 1], [1, 0], [1, 2], 1).shape == out.shape


def cudnn_epilogues(module) -> int:
    register_fused_conv_shapes()
    return fuse_conv_add_relu(module) + fuse_conv_relu(module)


class PointwiseNet(torch.nn.Module):
    """1x1 convolutions + ReLU that qualify as GEMMs (after BN folding, with a bias of their own), three in a row,
    and some that do not: padded, strided, grouped, over a 1x1 image, 3x3, with a second user, without a ReLU."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.reduce = nn.Sequential(nn.Conv2d(3, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())  # qualifies
        self.expand = nn.Conv2d(16, 24, 1)  # qualifies
        self.third = nn.Conv2d(24, 24, 1)  # qualifies
        self.padded = nn.Conv2d(24, 24, 1, padding=1)
        self.strided = nn.Conv2d(24, 24, 1, stride=2)
        self.grouped = nn.Conv2d(24, 24, 1, groups=4)
        self.spatial = nn.Conv2d(24, 24, 3, padding=1)
        self.shared = nn.Conv2d(24, 24, 1)  # its output is also added back: two users
        self.plain = nn.Conv2d(24, 24, 1)  # no ReLU after it
        self.squeeze = nn.Conv2d(24, 8, 1)  # over the pooled 1x1 image
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.third(torch.relu(self.expand(self.reduce(x)))))
        y = torch.relu(self.padded(y))
        y = torch.relu(self.grouped(torch.relu(self.strided(y))))
        y = torch.relu(self.spatial(y))
        shared = self.shared(y)
        y = torch.relu(shared) + shared
        y = self.plain(y)
        return self.head(torch.relu(self.squeeze(y.mean((2, 3), keepdim=True))).flatten(1))


def seeded(model_class, bn_path: str):
    """The model with seed-0 weights and BatchNorm statistics that are not the identity."""
    torch.manual_seed(0)
    model = model_class()
    bn = model.get_submodule(bn_path)
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def pointwise_net() -> PointwiseNet:
    return seeded(PointwiseNet, "reduce.1")


def dynamic_batch_module(model, example=(2, 3, 12, 10)):
    batch = torch.export.Dim("batch", min=1, max=64)
    return torch.export.export(model, (torch.randn(*example),), dynamic_shapes=({0: batch},)).module()


def compiled_on_gpu_matches(model, module, x, cuda) -> None:
    """The rewritten module, compiled by inductor in fp16 channels_last on the GPU, against the model in fp32 (on the
    CPU: the module has weights of its own, which .to(cuda) moves)."""
    with torch.no_grad():
        want = model(x)
    module = module.to(cuda).half().to(memory_format=torch.channels_last)
    compiled = torch.compile(module, backend="inductor", dynamic=False)
    with torch.no_grad():
        got = compiled(x.to(cuda).half().contiguous(memory_format=torch.channels_last))
    assert relative_error(got.float().cpu(), want) < 2e-2


def test_pointwise_convolutions_with_relu_become_gemms_and_keep_outputs():
    model = pointwise_net()
    module = dynamic_batch_module(model)
    fold_conv_bn(module)
    assert conv1x1_relu_as_gemm(module) == 3  # reduce (its folded bias), expand, third; none of the others
    assert count_ops(module, torch.ops.aten._addmm_activation.default) == 3
    assert count_ops(module, torch.ops.aten.conv2d.default) == 7
    for batch in (1, 5):
        x = torch.randn(batch, 3, 12, 10)  # not square: height and width must not trade places
        with torch.no_grad():
            want = model(x)
            assert relative_error(module(x), want) < 1e-5
            # the session's layout: the GEMM reads the channels_last input without a copy
            assert relative_error(module(x.contiguous(memory_format=torch.channels_last)), want) < 1e-5


def test_gemm_output_is_channels_last_like_the_convolution_it_replaces():
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 1), torch.nn.ReLU()).eval()
    module = dynamic_batch_module(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), model))
    assert conv1x1_relu_as_gemm(module) == 1
    x = torch.randn(3, 3, 12, 10).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = module(x)
    assert out.is_contiguous(memory_format=torch.channels_last)


class DepthwiseNet(torch.nn.Module):
    """Depthwise convolutions as EfficientNets have them (padding in the convolution or before it, with a BatchNorm
    or a bias of their own), with kernels, strides and paddings that differ between height and width, and grouped
    ones that are not depthwise."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.dw3 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.dw_after_pad = nn.Conv2d(8, 8, (3, 5), stride=(2, 1), groups=8)  # after an explicit pad, as timm's "same"
        self.dw_padded = nn.Conv2d(8, 8, (3, 5), stride=(2, 1), padding=(1, 2), groups=8, bias=False)
        self.multiplier = nn.Conv2d(8, 16, 3, padding=1, groups=8)  # two filters per channel: not depthwise
        self.grouped = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.dilated = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16)

    def forward(self, x):
        y = self.dw_after_pad(torch.nn.functional.pad(x, (1, 2, 1, 2)))
        y = self.dw_padded(y)
        y = self.dw3(y)
        return self.dilated(self.grouped(self.multiplier(y)))


def depthwise_net() -> DepthwiseNet:
    return seeded(DepthwiseNet, "dw3.1")


def depthwise_module(model):
    return dynamic_batch_module(model, example=(2, 8, 13, 11))


def test_depthwise_convolutions_become_sums_of_tap_slices_and_keep_outputs():
    model = depthwise_net()
    module = depthwise_module(model)
    fold_conv_bn(module)
    assert depthwise_as_taps(module) == 3
    assert count_ops(module, torch.ops.aten.conv2d.default) == 3  # the channel multiplier, grouped and dilated ones
    # one slice of rows per kernel row, one of columns per tap: 3x3, 3x5 and 3x5 kernels
    assert count_ops(module, torch.ops.aten.slice.Tensor) == (3 + 9) + 2 * (3 + 15)
    # each reads its padded input through an as_strided of a contiguous copy, which inductor writes out once
    # instead of computing it again in every tap; the sums themselves are not (a convolution reads each)
    views = [n for n in module.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.as_strided.default]
    assert all(v.args[0].target == torch.ops.aten.clone.default
               and v.args[0].kwargs == {"memory_format": torch.contiguous_format} for v in views)
    assert len(views) == 3 and all(v.args[0].args[0].target != torch.ops.aten.add.Tensor for v in views)
    for batch in (1, 3):
        x = torch.randn(batch, 8, 13, 11)
        with torch.no_grad():
            want = model(x)
            assert module(x).shape == want.shape
            assert relative_error(module(x), want) < 1e-5
            assert relative_error(module(x.contiguous(memory_format=torch.channels_last)), want) < 1e-5


def test_depthwise_taps_read_one_contiguous_row_of_channels_per_tap():
    """The fused kernel runs with channels fastest: each tap's weights must be a contiguous row (scattered loads
    from the convolution's [channels, taps] layout made EfficientNet-Lite0's blocks up to 1.6x slower on an H200)."""
    model = depthwise_net()
    module = depthwise_module(model)
    fold_conv_bn(module)  # as the engine does first: a BatchNorm between the convolution and its ReLU6 stays a reader
    depthwise_as_taps(module)
    bn = model.dw3[1]
    scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach()
    folded_dw3 = model.dw3[0].weight.detach() * scale[:, None, None, None]
    tables = {n.target: getattr(module, n.target) for n in module.graph.nodes
              if n.op == "get_attr" and n.target.startswith("_dwtaps")}
    assert sorted(t.shape for t in tables.values()) == [(9, 8), (15, 8), (15, 8)]
    assert all(t.is_contiguous() for t in tables.values())
    assert any(t.shape == (9, 8) and torch.allclose(t, folded_dw3.reshape(8, 9).t()) for t in tables.values())
    assert any(torch.equal(t, model.dw_padded.weight.detach().reshape(8, 15).t()) for t in tables.values())
    for node in module.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.select.int:
            assert node.args[0].target in tables and node.args[1] == 0


def test_depthwise_taps_over_an_unpadded_input_in_either_layout():
    """With no padding the taps read the input's NHWC view itself, which for an NCHW input is no contiguous buffer:
    the as_strided that writes it out must read a contiguous copy, not the view's storage."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(6, 6, (3, 2), stride=(1, 2), groups=6), torch.nn.Conv2d(6, 4, 1)).eval()
    module = dynamic_batch_module(model, example=(2, 6, 9, 7))
    assert depthwise_as_taps(module) == 1
    x = torch.randn(3, 6, 9, 7)
    with torch.no_grad():
        for layout in (torch.contiguous_format, torch.channels_last):
            assert relative_error(module(x.contiguous(memory_format=layout)), model(x)) < 1e-5


class SqueezeExcited(torch.nn.Module):
    """A depthwise convolution whose activation two ops read (an SE block's mean and its gate), then one read by a
    1x1 convolution alone, as in MobileNetV3's blocks; then one a pad reads."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.dw_se = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.gate = nn.Conv2d(8, 8, 1)
        self.dw_pw = nn.Conv2d(8, 8, 5, stride=2, padding=2, groups=8)
        self.project = nn.Conv2d(8, 4, 1)
        self.dw_last = nn.Conv2d(4, 4, 3, groups=4)

    def forward(self, x):
        y = torch.nn.functional.hardswish(self.dw_se(x))
        y = y * torch.sigmoid(self.gate(y.mean((2, 3), keepdim=True)))
        y = self.project(torch.relu(self.dw_pw(y)))
        return torch.nn.functional.pad(self.dw_last(y), (1, 1, 1, 1))


def test_depthwise_convolutions_read_by_more_than_a_convolution_stay_convolutions():
    """Their output is written out for its readers whatever computes it, and the taps alone are slower than cuDNN."""
    torch.manual_seed(0)
    model = SqueezeExcited().eval()
    module = dynamic_batch_module(model, example=(2, 8, 10, 9))
    assert depthwise_as_taps(module) == 1
    left = [n for n in module.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.conv2d.default]
    depthwise = [n for n in left if len(n.args) > 6 and n.args[6] > 1]  # groups
    (hardswish,) = [n for n in module.graph.nodes if n.target == torch.ops.aten.hardswish.default]
    (pad,) = [n for n in module.graph.nodes if n.target == torch.ops.aten.pad.default]
    assert depthwise == [hardswish.args[0], pad.args[0]]  # the SE block's and the padded one; dw_pw became taps
    x = torch.randn(3, 8, 10, 9)
    with torch.no_grad():
        assert relative_error(module(x), model(x)) < 1e-5


@pytest.mark.parametrize("make, example", [(depthwise_net, (2, 8, 13, 11)),
                                           (lambda: SqueezeExcited().eval(), (2, 8, 10, 9))])
def test_rewritten_depthwise_modules_compile_with_inductor_on_the_cpu(make, example):
    """Inductor lowers the written-out copies (clone + as_strided) and the taps; the output stays the module's."""
    torch.manual_seed(0)
    model = make()
    module = dynamic_batch_module(model, example=example)
    fold_conv_bn(module)
    assert depthwise_as_taps(module) >= 1
    x = torch.randn(3, *example[1:]).contiguous(memory_format=torch.channels_last)
    compiled = torch.compile(module, backend="inductor", dynamic=False)
    with torch.no_grad():
        assert relative_error(compiled(x), model(x)) < 1e-5


def test_depthwise_rewrite_respects_its_tap_limit():
    module = depthwise_module(depthwise_net())
    fold_conv_bn(module)
    assert depthwise_as_taps(module, max_taps=9) == 1  # the 3x3 one only


class PooledNet(torch.nn.Module):
    """An SE block (squeeze with a folded BatchNorm, excite with a bias of its own), a strided 1x1 convolution
    without a bias over the pooled image, and convolutions that do not qualify: over a larger image, grouped, and
    padded (which makes a 3x3 image of the pooled one)."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.body = nn.Conv2d(6, 12, 3, padding=1)
        self.squeeze = nn.Sequential(nn.Conv2d(12, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.excite = nn.Conv2d(4, 12, 1)
        self.strided = nn.Conv2d(12, 10, 1, stride=2, bias=False)
        self.grouped = nn.Conv2d(10, 10, 1, groups=2)
        self.padded = nn.Conv2d(10, 5, 1, padding=1)

    def forward(self, x):
        y = self.body(x)
        y = y * torch.sigmoid(self.excite(self.squeeze(y.mean((2, 3), keepdim=True))))
        return self.padded(self.grouped(self.strided(y.amax((2, 3), keepdim=True))))


def pooled_net() -> PooledNet:
    return seeded(PooledNet, "squeeze.1")


def test_convolutions_over_a_pooled_image_become_reductions_up_to_the_batch_limit():
    model = pooled_net()
    module = dynamic_batch_module(model, example=(2, 6, 9, 7))
    fold_conv_bn(module)
    assert pooled_conv_as_reduction(module, max_batch=3) == 3  # squeeze, excite, strided
    assert count_ops(module, torch.ops.aten.conv2d.default) == 3  # body, grouped, padded
    for batch, convolutions in ((1, 3), (3, 3), (4, 6)):  # above the limit the three are convolutions again
        x = torch.randn(batch, 6, 9, 7)
        traced = torch.export.export(module, (x,)).module()
        assert count_ops(traced, torch.ops.aten.conv2d.default) == convolutions
        with torch.no_grad():
            want = model(x)
            assert relative_error(module(x), want) < 1e-5
            assert relative_error(traced(x.contiguous(memory_format=torch.channels_last)), want) < 1e-5


def test_pooled_reductions_compile_with_inductor_on_the_cpu():
    model = pooled_net()
    module = dynamic_batch_module(model, example=(2, 6, 9, 7))
    fold_conv_bn(module)
    pooled_conv_as_reduction(module, max_batch=4)
    x = torch.randn(2, 6, 9, 7).contiguous(memory_format=torch.channels_last)
    compiled = torch.compile(module, backend="inductor", dynamic=False)
    with torch.no_grad():
        assert relative_error(compiled(x), model(x)) < 1e-5


@pytest.mark.nvidia
@pytest.mark.parametrize("make, export, rewrite, count, shape", [
    (pointwise_net, dynamic_batch_module, conv1x1_relu_as_gemm, 3, (4, 3, 12, 10)),
    (depthwise_net, depthwise_module, depthwise_as_taps, 3, (4, 8, 13, 11)),
    (pooled_net, partial(dynamic_batch_module, example=(2, 6, 9, 7)), partial(pooled_conv_as_reduction, max_batch=4),
     3, (4, 6, 9, 7)),
    (residual_net, dynamic_batch_module, cudnn_epilogues, 3, (4, 3, 12, 10))])
def test_rewritten_modules_compile_with_inductor_and_keep_outputs(cuda, make, export, rewrite, count, shape):
    module = export(make())
    fold_conv_bn(module)
    assert rewrite(module) == count
    compiled_on_gpu_matches(make(), module, torch.randn(*shape), cuda)
