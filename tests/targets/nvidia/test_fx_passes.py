"""Graph rewrites keep the function: checked against the unmodified PyTorch module."""
from __future__ import annotations

import pytest
import torch

from targets.nvidia.fx_passes import count_ops, fold_conv_bn, fuse_conv_relu
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
