"""Independent references for the layout tests: random weights, an SE-ResNeXt in the Ascend ModelZoo
key layout, and the error measure. Nothing here imports the code under test."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SERESNEXT101_DEPTHS = (3, 4, 23, 3)


def randomize_(model: nn.Module, seed: int) -> nn.Module:
    """Distinct random values in every parameter and BatchNorm statistic, so a misplaced tensor shows."""
    generator = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=generator) * std

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(normal(module.weight.shape, (2.0 / fan_in) ** 0.5))
                if module.bias is not None:
                    module.bias.copy_(normal(module.bias.shape, 0.1))
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(normal(module.bias.shape, 0.1))
    return model.eval()


def calibrate_batchnorm_(model: nn.Module, forward, size: int = 224, seed: int = 7) -> nn.Module:
    """Running statistics from one batch of random images: eval-mode BatchNorm then keeps activations
    in range through 100 layers (random statistics would let them grow without bound)."""
    batchnorms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in batchnorms:
        bn.momentum = 1.0
    model.train()
    with torch.no_grad():
        forward(torch.from_numpy(inputs(2, size, seed)))
    return model.eval()


def inputs(batch: int, size: int = 224, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


def run_torch(model: nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


class ZooBlock(nn.Module):
    """A ModelZoo SE-ResNeXt bottleneck: 1x1, grouped 3x3 (stride here), 1x1, SE as two nn.Linear
    named fc1/fc2 inside the block, then the residual."""

    def __init__(self, in_channels: int, planes: int, stride: int, groups: int = 32) -> None:
        super().__init__()
        width, out_channels, squeezed = planes * 2, planes * 4, planes // 4
        self.conv1, self.bn1 = nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        self.fc1, self.fc2 = nn.Linear(out_channels, squeezed), nn.Linear(squeezed, out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(y.mean(dim=(2, 3))))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y * gate[:, :, None, None] + shortcut)


class ZooSEResNeXt(nn.Module):
    """SE-ResNeXt101_32x4d with the module names of the ModelZoo `state_dict.pth`."""

    def __init__(self, depths=SERESNEXT101_DEPTHS, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        channels = 64
        for index, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths), start=1):
            blocks = []
            for position in range(depth):
                stride = 2 if position == 0 and index > 1 else 1
                blocks.append(ZooBlock(channels, planes, stride))
                channels = planes * 4
            setattr(self, f"layer{index}", nn.Sequential(*blocks))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
        return self.fc(x.mean(dim=(2, 3)))


def assert_artifact_matches_module(out_dir, model: nn.Module, seed: int) -> None:
    """The ONNX artifact convert wrote to `out_dir` gives `model`'s float32 outputs on a random batch of two."""
    import json
    from pathlib import Path

    import onnxruntime

    manifest = json.loads((Path(out_dir) / "convert.json").read_text())
    session = onnxruntime.InferenceSession(str(Path(out_dir) / manifest["artifact"]),
                                           providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(seed).standard_normal([2, *manifest["input"]["shape"][1:]]).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(batch)).numpy()
    ran = session.run(None, {session.get_inputs()[0].name: batch})[0]
    assert np.abs(ran - reference).max() <= 1e-4 * np.abs(reference).max()
