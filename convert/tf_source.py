"""TensorFlow model sources (SavedModel, Keras .keras/.h5, frozen graph .pb) -> ONNX through tf2onnx.

TensorFlow lives in its own environment (requirements-tf.txt, `make tf-setup` -> .venv-tf): the
conversion runs convert/tf_job.py under that interpreter, and the ONNX it writes then takes
the path of every model (simplify, verify, precision, target artifact).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import ContractError, InputError, MissingDependencyError, ToolError
from harness.files import atomic_output, sha256_file, sha256_text

ROOT = Path(__file__).resolve().parents[1]
JOB = Path(__file__).resolve().parent / "tf_job.py"
TF_PYTHON_ENV = "HARNESS_TF_PYTHON"
DEFAULT_TF_PYTHON = ROOT / ".venv-tf" / "bin" / "python"
SETUP_HINT = (f"run `make tf-setup` (a virtualenv .venv-tf from requirements-tf.txt), or point --tf-python or "
              f"{TF_PYTHON_ENV} at a python with tensorflow and tf2onnx")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
JOB_TIMEOUT_S = 1800


def model_format(path: Path) -> str:
    """saved_model, keras or graphdef, from what the path is."""
    path = Path(path)
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise InputError(f"{path}: a TensorFlow model directory must be a SavedModel (saved_model.pb)")
        return "saved_model"
    if not path.is_file():
        raise InputError(f"{path}: TensorFlow model not found")
    if path.suffix in KERAS_SUFFIXES:
        return "keras"
    if path.suffix == ".pb":
        return "graphdef"
    raise InputError(f"{path}: not a TensorFlow model; give a SavedModel directory, a Keras "
                     f"{'/'.join(KERAS_SUFFIXES)} file or a frozen graph .pb")


def check_names(fmt: str, inputs: str | None, outputs: str | None, path: Path) -> None:
    if fmt == "graphdef" and not (inputs and outputs):
        raise InputError(f"{path}: a frozen graph needs its tensor names: --tf-inputs NAME:0 --tf-outputs NAME:0")
    if fmt != "graphdef" and (inputs or outputs):
        raise InputError(f"{path}: --tf-inputs/--tf-outputs are for frozen graphs; a {fmt} names its own")


def tf_python(option: str | Path | None) -> Path:
    """The interpreter with TensorFlow: --tf-python, else $HARNESS_TF_PYTHON, else .venv-tf."""
    chosen = option or os.environ.get(TF_PYTHON_ENV) or DEFAULT_TF_PYTHON
    path = Path(chosen).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise MissingDependencyError("TensorFlow", SETUP_HINT, why=f"{path} not found")
    return path


def tree_sha256(path: Path) -> str:
    """One hash over a file, or over a directory's files (relative names and contents)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return sha256_text("\n".join(f"{p.relative_to(path)}:{sha256_file(p)}" for p in files))


def source_fingerprint(path: Path, inputs: str | None, outputs: str | None, python: Path) -> dict:
    return {"kind": "tensorflow", "format": model_format(path), "sha256": tree_sha256(path), "inputs": inputs,
            "outputs": outputs, "python": str(python)}


def job_command(python: Path, fmt: str, model: Path, output: Path, opset: int, work: Path,
                inputs: str | None, outputs: str | None) -> list[str]:
    command = [str(python), str(JOB), "--format", fmt, "--model", str(model), "--output", str(output),
               "--opset", str(opset), "--work", str(work)]
    if fmt == "graphdef":
        command += ["--inputs", inputs, "--outputs", outputs]
    return command


def run_job(command: list[str], model: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{model}: TensorFlow -> ONNX did not finish in {JOB_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        raise ContractError(f"{model}: TensorFlow -> ONNX failed ({lines[-1] if lines else 'no message'})")
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ToolError(f"{model}: the TensorFlow conversion printed no description") from None


def convert_to_onnx(python: Path, model: Path, onnx_path: Path, opset: int, inputs: str | None,
                    outputs: str | None) -> tuple[dict, Path]:
    """Write onnx_path; returns what the job described and the directory of its reference batch."""
    fmt = model_format(model)
    work = onnx_path.parent / "tensorflow"
    shutil.rmtree(work, ignore_errors=True)
    with atomic_output(onnx_path, suffix=".onnx") as partial:
        info = run_job(job_command(python, fmt, model, partial, opset, work, inputs, outputs), model)
    return info, work
