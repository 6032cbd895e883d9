"""The stage commands of one cell on a node, exactly as a user runs them: `python -m <stage> ...`."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from fleet.matrix import Cell
from harness.files import sha256_text
from harness.procs import killed_with_parent

REPO = Path(__file__).resolve().parents[1]
OUT_OF_MEMORY_EXIT = 8  # infer's exit when a batch does not fit in device memory (harness.errors)


class StageFailed(Exception):
    """A stage exited non-zero; the message is its command's last error line."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


@dataclass
class StageRunner:
    env: dict
    log: list  # lines of the cell's stages.log

    def __call__(self, stage: str, *args: str) -> None:
        argv = [sys.executable, "-m", stage, *[str(a) for a in args]]
        proc = subprocess.run(argv, cwd=REPO, env=self.env, capture_output=True, text=True, errors="replace",
                              preexec_fn=killed_with_parent)  # the Ray worker's node lost: no orphan
        self.log.append(f"$ {shlex.join(argv[1:])}\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}[exit {proc.returncode}]\n")
        if proc.returncode != 0:
            lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()] or ["no output"]
            raise StageFailed(f"python -m {stage} exited {proc.returncode}: {lines[-1]}", proc.returncode)


def stage_env(device_visibility: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    for name, value in device_visibility.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env.pop("HARNESS_DEBUG", None)
    return env


def _flag_value(value) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def preprocess_args(cell: Cell, data: Path, prep: Path) -> list[str]:
    args = ["--input", data, "--output", prep, "--model", cell.model.name, "--no-progress"]
    for key, value in sorted(cell.model.preprocess.items()):
        args += [f"--{key.replace('_', '-')}", _flag_value(value)]
    return args


def recipe_key(cell: Cell, data_sha256: str) -> str:
    """The preprocessed directory's name on a node: the content hash of the resolved recipe and the images."""
    from tasks.classification.presets import resolve_recipe

    flags = dict(cell.model.preprocess)
    recipe = resolve_recipe(cell.model.name, flags.pop("preset", None), flags.pop("mode", "float32"), **flags)
    return sha256_text(json.dumps({"recipe": recipe, "data": data_sha256}, sort_keys=True))[:20]


def convert_args(cell: Cell, prep: Path, out: Path, checkpoint: Path | None, onnx: Path | None) -> list[str]:
    args = ["--model", cell.model.name, "--target", cell.target.name, "--precision", cell.precision,
            "--batchsize", cell.batch_size, "--preprocess", prep, "--output", out]
    if checkpoint is not None:
        args += ["--checkpoint", checkpoint]
    if onnx is not None:
        args += ["--onnx", onnx]
    if cell.precision == "int8":  # calibrated on the preprocessed data set, as `make convert PRECISION=int8`
        args += ["--calib", prep, "--calib-count", cell.calib["count"], "--calib-method", cell.calib["method"]]
    return args + option_args(cell)


def option_args(cell: Cell) -> list[str]:
    return [arg for key, value in sorted(cell.target.options.items()) for arg in ("--option", f"{key}={value}")]


def convert_key(cell: Cell, prep_key: str, model_hashes: dict) -> str:
    build = {"model": asdict(cell.model),
             "target": cell.target.name, "options": cell.target.options, "precision": cell.precision,
             "batch": cell.batch_size, "calib": cell.calib, "prep": prep_key, "files": model_hashes}
    return sha256_text(json.dumps(build, sort_keys=True, default=str))[:20]


def infer_args(cell: Cell, model_dir: Path, prep: Path, runs: Path, device: str,
               shard: tuple[int, int]) -> list[str]:
    args = ["--model", model_dir, "--output", runs, "--output_dirname", cell.run_name, "--batchsize",
            cell.batch_size, "--device", device, "--no-progress"]
    if cell.sweep == "pure":
        pure = cell.pure
        args += ["--warmup_count", pure["warmup"], "--loop", pure["loop"]]
        if float(pure["time_limit"]) > 0:  # --stable_ci acts with a time limit only; without one, `loop` batches
            args += ["--time_limit", pure["time_limit"], "--stable_ci", pure.get("stable_ci", 0.01)]
    else:
        args += ["--input", prep, "--outfmt", "TXT"]
        index, count = shard
        if count > 1:
            args += ["--shard", f"{index}/{count}", "--summary_name", f"{cell.run_name}_summary.json"]
    return args + option_args(cell)


def postprocess_args(run_dir: Path, labels: Path, classes: Path | None) -> list[str]:
    return ["--result", run_dir, "--labels", labels, *(["--classes", classes] if classes else [])]
