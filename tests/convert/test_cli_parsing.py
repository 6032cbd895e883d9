"""Argument parsing into ConvertConfig, and the torchvision import fallback."""
from __future__ import annotations

import pytest

from convert.cli import DEFAULT_BATCHES, parse_args


def test_options_stay_text_for_the_target_to_type():
    config = parse_args(["--model", "m", "-o", "out", "--option", "engine=torch", "--option", "workspace=4096",
                         "--option", " fp16_io=true", "--option", "mode=a=b", "--option", "empty="])
    assert config.options == {"engine": "torch", "workspace": "4096", "fp16_io": "true", "mode": "a=b", "empty": ""}


@pytest.mark.parametrize("args, sizes, dynamic", [
    ([], DEFAULT_BATCHES, True),
    (["--batchsize", "16"], [16], False),
    (["--batches", "8,1 4"], [1, 4, 8], True),
    (["--batchsize", "16", "--batches", "1 4"], [1, 4, 16], True),
])
def test_batch_settings(args, sizes, dynamic):
    config = parse_args(["--model", "m", "-o", "out", *args])
    assert (config.batch_sizes, config.dynamic_batch) == (sizes, dynamic)


@pytest.mark.parametrize("bad", [["--batches", "0 4"], ["--batchsize", "-1"], ["--option", "novalue"]])
def test_bad_values_exit_with_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--model", "m", "-o", "out", *bad])
    assert exit_info.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_other_import_errors_are_not_swallowed(monkeypatch):
    from convert import frameworks

    def broken(name):
        raise RuntimeError("CUDA driver too old")

    monkeypatch.setattr(frameworks.importlib, "import_module", broken)
    with pytest.raises(RuntimeError, match="CUDA driver too old"):
        frameworks.import_with_torchvision("timm")


def test_a_working_torchvision_is_left_alone(monkeypatch):
    from convert import frameworks

    def must_not_run():
        raise AssertionError("op schemas declared although the import worked")

    monkeypatch.setattr(frameworks, "_declare_torchvision_op_schemas", must_not_run)
    monkeypatch.setattr(frameworks.importlib, "import_module", lambda name: f"module {name}")
    assert frameworks.import_with_torchvision("timm") == "module timm"


def test_the_fallback_declares_the_schemas_and_retries(monkeypatch):
    from convert import frameworks

    calls, declared = [], []

    def first_fails(name):
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError(frameworks.TORCHVISION_MISSING_OP)
        return "timm"

    monkeypatch.setattr(frameworks.importlib, "import_module", first_fails)
    monkeypatch.setattr(frameworks, "_declare_torchvision_op_schemas", lambda: declared.append(True))
    assert frameworks.import_with_torchvision("timm") == "timm" and calls == ["timm", "timm"] and declared


def test_torchvision_models_import_through_the_fallback():
    from convert.frameworks import import_with_torchvision

    models = import_with_torchvision("torchvision.models")
    assert callable(models.resnet50)
