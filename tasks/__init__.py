"""The task registry: name -> Task, plain data (timm's registry idea). A model's task comes from its
registry entry (harness/models.py, `ModelSpec.task`); classification is the default.

A new task is one folder `tasks/<name>/` with a Task subclass and one `register(...)` line below
(docs/tasks.md).
"""
from __future__ import annotations

from harness.errors import InputError
from tasks.base import AccuracyRecord, OutputContract, ScoringRequest, Task
from tasks.classification import ClassificationTask

DEFAULT_TASK = "classification"
TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    TASKS[task.name] = task
    return task


register(ClassificationTask())


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise InputError(f"unknown task {name!r}; the registered tasks are {', '.join(sorted(TASKS))}") from None


def task_for_model(model: str | None) -> Task:
    """The task of a model name (registered or a timm architecture); the default when no model is named."""
    if not model:
        return get_task(DEFAULT_TASK)
    from harness.models import resolve_model

    return get_task(resolve_model(model).task)


__all__ = ["AccuracyRecord", "DEFAULT_TASK", "OutputContract", "ScoringRequest", "TASKS", "Task", "get_task",
           "register", "task_for_model"]
