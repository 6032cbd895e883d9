"""The task registry: every model has a task, classification is the default, an unknown task is refused."""
from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.models import MODELS
from tasks import DEFAULT_TASK, TASKS, get_task, task_for_model
from tasks.base import Task


def test_classification_is_registered_and_the_default():
    assert DEFAULT_TASK == "classification"
    assert isinstance(TASKS["classification"], Task)
    assert task_for_model(None) is TASKS["classification"]
    assert task_for_model("some_timm_architecture") is TASKS["classification"]


def test_every_registered_model_names_a_registered_task():
    for spec in MODELS.values():
        assert task_for_model(spec.name) is get_task(spec.task)


def test_an_unknown_task_is_one_clear_error():
    with pytest.raises(InputError, match="unknown task 'detection'.*classification"):
        get_task("detection")


def test_the_classification_contract_is_one_logits_output():
    task = get_task("classification")
    assert task.outputs.names == ("logits",)
    recipe = task.resolve_recipe("efficientnet_lite0")
    assert task.sample_shape(recipe) == [3, 224, 224]
    assert task.sample_shape(task.resolve_recipe("efficientnet_lite0", mode="uint8")) == [224, 224, 3]


@pytest.fixture
def detection_model(monkeypatch):
    """A registered model whose task is not registered: the stages must ask the registry and refuse it."""
    from harness.models import ModelSpec

    monkeypatch.setitem(MODELS, "boxes_net", ModelSpec("boxes_net", arch="boxes_net", preset="resnet",
                                                       task="detection"))
    return "boxes_net"


def test_preprocess_takes_the_task_from_the_model(detection_model, tmp_path):
    from preprocess.cli import PreprocessConfig
    from preprocess.run import run

    (tmp_path / "images").mkdir()
    with pytest.raises(InputError, match="unknown task 'detection'"):
        run(PreprocessConfig(input=tmp_path / "images", output=tmp_path / "out", model=detection_model))


def test_postprocess_takes_the_task_from_the_run_model(detection_model):
    from types import SimpleNamespace

    from postprocess.run import run_task

    assert run_task(None) is TASKS["classification"]
    assert run_task(SimpleNamespace(model="efficientnet_lite0")) is TASKS["classification"]
    with pytest.raises(InputError, match="unknown task 'detection'"):
        run_task(SimpleNamespace(model=detection_model))
