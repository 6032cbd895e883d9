"""What a task gives the stages: its preprocessing, its output contract, its scorer and its accuracy record.

A task is what a model's inputs and outputs mean (MLPerf's task table: preprocessing, outputs and scoring as
one row). preprocess and postprocess know only this interface; each task lives in `tasks/<name>/` and is
registered in `tasks/__init__.py`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class OutputContract:
    """The model outputs a task reads, in output order: output k of input `<stem>` is the file `<stem>_k.*`."""

    names: tuple[str, ...]
    meaning: str


@dataclass(frozen=True)
class ScoringRequest:
    """What postprocess hands a task besides the outputs: the ground-truth file, optional names, how deep to score."""

    result_dir: Path
    truth: Path  # --labels: the task's ground-truth file
    names: Path | None = None  # --classes: names for the details file
    topk: int = 5
    not_results: list[str] = field(default_factory=list)  # files in the result directory that are no outputs


@dataclass
class AccuracyRecord:
    """What postprocess writes and prints for one scored run.

    `result` is written as result.json (one line), `details` as result_details.json; `unmatched` lists
    (what, items) warnings; `closing` lines may name the details file as `{details}`; `labels` say what the
    figures cannot be taken for (result.json's `labels`, beside the run's own, and a warning line each)."""

    result: dict
    details: dict
    count: int
    headline: str
    unmatched: list[tuple[str, list[str]]] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


class Task(ABC):
    """One task: the stages call these and nothing task-specific."""

    name: ClassVar[str]
    outputs: ClassVar[OutputContract]

    @abstractmethod
    def resolve_recipe(self, model: str | None, preset: str | None = None, mode: str = "float32",
                       **overrides) -> dict:
        """The one resolved preprocessing recipe that preprocess applies and writes into preprocess.json."""

    @abstractmethod
    def sample_shape(self, recipe: dict) -> list[int]:
        """The shape of one preprocessed sample (one `.bin` file) under `recipe`."""

    @abstractmethod
    def transform(self, path: Path, recipe: dict, max_pixels: int) -> np.ndarray:
        """One image file to the tensor written as `<stem>.bin`; runs in preprocess's worker processes."""

    @abstractmethod
    def evaluate(self, outputs: dict[str, dict[str, np.ndarray]], request: ScoringRequest) -> AccuracyRecord:
        """Score `outputs` ({output name: {stem: array}}, named as `outputs` declares) against the ground truth."""
