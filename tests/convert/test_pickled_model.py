"""A whole model saved with torch.save(model), alone or under a key: refused at once with the one line that saves
its weights, whose advice, followed as written, converts to the model's own PyTorch float32 outputs."""
from __future__ import annotations


import torch

from tests.conftest import assert_one_line_error, run_cli
from tests.convert.references import assert_artifact_matches_module

MODEL = "test_resnet"  # timm's 0.5M-parameter test network: exports in a second


def timm_model(seed: int):
    from convert.frameworks import import_timm

    torch.manual_seed(seed)
    return import_timm().create_model(MODEL, pretrained=False).eval()


def convert(tmp_path, checkpoint, *extra):
    return run_cli("-m", "convert", "--model", MODEL, "--checkpoint", str(checkpoint), "--batchsize", "2",
                   "--output", str(tmp_path / "out"), *extra, timeout=300)


def test_a_pickled_model_is_refused_with_the_line_that_saves_its_weights(tmp_path):
    torch.save(timm_model(1), tmp_path / "whole.pth")
    proc = convert(tmp_path, tmp_path / "whole.pth")
    assert proc.returncode == 3
    assert_one_line_error(proc, "whole.pth: holds a pickled Python object (timm.models.resnet.ResNet)",
                          "a whole model", "torch.save(torch.load(PATH, weights_only=False).state_dict(), "
                                           "'weights.pth')")
    assert not (tmp_path / "out").exists()


def test_the_advice_for_a_model_under_a_key_converts_to_its_pytorch_outputs(tmp_path):
    model = timm_model(2)
    torch.save({"epoch": 7, "model": model}, tmp_path / "train.pth")
    proc = convert(tmp_path, tmp_path / "train.pth")
    assert proc.returncode == 3
    expression = "torch.load(PATH, weights_only=False)['model'].state_dict()"
    assert_one_line_error(proc, "train.pth: holds a pickled Python object (timm.models.resnet.ResNet)", expression)

    weights = eval(expression.replace("PATH", repr(str(tmp_path / "train.pth"))))  # the advice, as written
    torch.save(weights, tmp_path / "weights.pth")
    proc = convert(tmp_path, tmp_path / "weights.pth")
    assert proc.returncode == 0, proc.stderr
    assert_artifact_matches_module(tmp_path / "out", model, seed=5)


def test_state_dicts_and_training_checkpoints_are_not_taken_for_a_model(tmp_path):
    from convert.checkpoint_record import refuse_pickled_model

    model = timm_model(3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.zeros(1, 3, 32, 32)).sum().backward()
    optimizer.step()
    for name, content in {"plain.pth": model.state_dict(),
                          "train.pth": {"state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                                        "epoch": 1}}.items():
        torch.save(content, tmp_path / name)
        refuse_pickled_model(tmp_path / name)  # raises for a model only


def test_a_model_in_a_dict_of_several_containers_gets_the_key_to_fill_in(tmp_path):
    from convert.checkpoint_record import refuse_pickled_model
    from harness.errors import InputError

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    torch.save({"optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}, "net": model}, tmp_path / "run.pth")
    try:
        refuse_pickled_model(tmp_path / "run.pth")
    except InputError as refusal:
        message = str(refusal)
    else:
        raise AssertionError("a pickled model was not refused")
    assert "(torch.nn.modules.container.Sequential)" in message
    assert "torch.load(PATH, weights_only=False)[KEY].state_dict()" in message and "KEY naming the model" in message
    assert torch.load(tmp_path / "run.pth", weights_only=False)["net"].state_dict().keys() == model.state_dict().keys()
