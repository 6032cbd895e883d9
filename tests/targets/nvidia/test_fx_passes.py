"""Graph rewrites keep the function: checked against the unmodified PyTorch module."""
from __future__ import annotations

import pytest
import torch

from targets.nvidia.fx_passes import conv1x1_relu_as_gemm, count_ops, fold_conv_bn, fuse_conv_relu
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


class PointwiseNet(torch.nn.Module):
    """1x1 convolutions + ReLU that qualify as GEMMs (after BN folding, with a bias of their own) and some that do
    not: strided, grouped, over a 1x1 image, 3x3, with a second user, and one with no ReLU after it."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.reduce = nn.Sequential(nn.Conv2d(3, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())  # qualifies
        self.expand = nn.Conv2d(16, 24, 1)  # qualifies
        self.strided = nn.Conv2d(24, 24, 1, stride=2)
        self.grouped = nn.Conv2d(24, 24, 1, groups=4)
        self.spatial = nn.Conv2d(24, 24, 3, padding=1)
        self.shared = nn.Conv2d(24, 24, 1)  # its output is also added back: two users
        self.plain = nn.Conv2d(24, 24, 1)  # no ReLU after it
        self.squeeze = nn.Conv2d(24, 8, 1)  # over the pooled 1x1 image
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.expand(self.reduce(x)))
        y = torch.relu(self.grouped(torch.relu(self.strided(y))))
        y = torch.relu(self.spatial(y))
        shared = self.shared(y)
        y = torch.relu(shared) + shared
        y = self.plain(y)
        return self.head(torch.relu(self.squeeze(y.mean((2, 3), keepdim=True))).flatten(1))


def pointwise_net() -> PointwiseNet:
    torch.manual_seed(0)
    model = PointwiseNet()
    bn = model.reduce[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def dynamic_batch_module(model):
    batch = torch.export.Dim("batch", min=1, max=64)
    return torch.export.export(model, (torch.randn(2, 3, 12, 12),), dynamic_shapes=({0: batch},)).module()


def test_pointwise_convolutions_with_relu_become_gemms_and_keep_outputs():
    model = pointwise_net()
    module = dynamic_batch_module(model)
    fold_conv_bn(module)
    assert conv1x1_relu_as_gemm(module) == 2  # reduce (its folded bias) and expand; none of the others
    assert count_ops(module, torch.ops.aten._addmm_activation.default) == 2
    assert count_ops(module, torch.ops.aten.conv2d.default) == 6
    for batch in (1, 5):
        x = torch.randn(batch, 3, 12, 12)
        with torch.no_grad():
            want = model(x)
            assert relative_error(module(x), want) < 1e-5
            # the session's layout: the GEMM reads the channels_last input without a copy
            assert relative_error(module(x.contiguous(memory_format=torch.channels_last)), want) < 1e-5


def test_gemm_output_is_channels_last_like_the_convolution_it_replaces():
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 1), torch.nn.ReLU()).eval()
    module = dynamic_batch_module(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), model))
    assert conv1x1_relu_as_gemm(module) == 1
    x = torch.randn(3, 3, 12, 12).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = module(x)
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.nvidia
def test_pointwise_gemms_compile_with_inductor_and_keep_outputs(cuda):
    model = pointwise_net()
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        want = model(x)  # before .to(cuda): the exported module shares the model's parameters
    module = dynamic_batch_module(model)
    fold_conv_bn(module)
    assert conv1x1_relu_as_gemm(module) == 2
    module = module.to(cuda).half().to(memory_format=torch.channels_last)
    compiled = torch.compile(module, backend="inductor", dynamic=False)
    with torch.no_grad():
        got = compiled(x.to(cuda).half().contiguous(memory_format=torch.channels_last))
    assert relative_error(got.float().cpu(), want) < 2e-2
