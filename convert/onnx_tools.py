"""ONNX steps that need no PyTorch: simplify, run with ONNX Runtime, compare (I/O specs: harness/onnx_meta.py)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from harness.contracts import TensorSpec
from harness.deps import require
from harness.errors import ContractError
from harness.files import atomic_output
from harness.onnx_meta import read_onnx
from harness.parity import max_abs_error, relative_error

MAX_RELATIVE_ERROR = 1e-4
RELATIVE_ERROR_DEFINITION = "max|onnxruntime - reference| / max|reference| over all outputs of the batch"


def simplify_onnx(src: Path, dst: Path) -> None:
    """onnxsim with the batch axis left dynamic; a failure names the file and onnxsim's message."""
    onnx = require("onnx", "pip install onnx")
    onnxsim = require("onnxsim", "pip install onnxsim")
    model = read_onnx(src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            simplified, ok = onnxsim.simplify(model)
    except Exception as exc:  # onnxsim raises RuntimeError / onnx checker errors of its own
        raise ContractError(f"{src}: onnxsim cannot simplify it ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not ok:
        raise ContractError(f"{src}: onnxsim's check of the simplified model failed")
    with atomic_output(dst) as tmp:
        onnx.save(simplified, str(tmp))


def run_onnxruntime(path: Path, batch: np.ndarray) -> np.ndarray:
    ort = require("onnxruntime", "pip install onnxruntime")
    from targets.cpu.target import session_options

    options = session_options(threads=None)  # the CPU target's settings: int8 exact on CPUs without VNNI
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def verification_record(result: np.ndarray, reference: np.ndarray, against: str, batch_shape) -> dict:
    error = relative_error(result, reference)
    return {"against": against, "onnx": "sim", "input_shape": list(batch_shape), "input": "normal(0, 1), seed 0",
            "max_abs_error": max_abs_error(result, reference),
            "max_relative_error": error, "tolerance": MAX_RELATIVE_ERROR,
            "definition": RELATIVE_ERROR_DEFINITION, "passed": error < MAX_RELATIVE_ERROR}


def check_verification(record: dict, path: Path) -> None:
    if not record["passed"]:
        raise ContractError(f"{path}: ONNX Runtime differs from {record['against']}: max relative error "
                            f"{record['max_relative_error']:.3g} >= {record['tolerance']:g}; the export is wrong")


def random_batch(spec: TensorSpec, batch: int) -> np.ndarray:
    shape = [batch] + [d if d > 0 else 1 for d in spec.shape[1:]]
    if spec.dtype == "uint8":
        return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def verify_against_onnx(original: Path, simplified: Path, spec: TensorSpec, batch: int = 2) -> dict:
    """For a given ONNX: the simplified model must compute what the original computes."""
    inputs = random_batch(spec, spec.shape[0] if spec.shape[0] > 0 else batch)
    record = verification_record(run_onnxruntime(simplified, inputs), run_onnxruntime(original, inputs),
                                 "the given ONNX (onnxruntime)", inputs.shape)
    check_verification(record, simplified)
    return record
