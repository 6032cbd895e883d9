"""ONNX steps that need no PyTorch: simplify, read the I/O specs, run with ONNX Runtime, compare."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from harness.contracts import TensorSpec
from harness.deps import require
from harness.errors import ContractError, InputError
from harness.files import atomic_output

ONNX_DTYPES = {1: "float32", 10: "float16", 2: "uint8", 3: "int8", 6: "int32", 7: "int64"}
MAX_RELATIVE_ERROR = 1e-4
RELATIVE_ERROR_DEFINITION = "max|onnxruntime - reference| / max|reference| over all outputs of the batch"


def read_onnx(path: Path, load_external_data: bool = True):
    """onnx.load, with a file that is not an ONNX model (corrupt, truncated, empty) as one InputError."""
    onnx = require("onnx", "pip install onnx")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf's DecodeError, or onnx's own errors for external data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not an ONNX model (protobuf cannot parse it: {reason}); pass a .onnx file "
                         "written by torch.onnx.export or onnx.save") from None
    if not model.graph.node:
        raise InputError(f"{path}: not an ONNX model (no graph: empty or another kind of protobuf); pass a "
                         ".onnx file written by torch.onnx.export or onnx.save")
    return model


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


def _tensor_spec(value_info) -> TensorSpec:
    tensor = value_info.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    dtype = ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type))
    return TensorSpec(name=value_info.name, shape=shape, dtype=dtype)


def onnx_io(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """The single input and first output of an ONNX model; -1 marks a symbolic (dynamic) dimension."""
    graph = read_onnx(path, load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or not graph.output:
        raise ContractError(f"{path}: expected one image input and an output, found inputs "
                            f"{[i.name for i in inputs]} and outputs {[o.name for o in graph.output]}")
    return _tensor_spec(inputs[0]), _tensor_spec(graph.output[0])


def run_onnxruntime(path: Path, batch: np.ndarray) -> np.ndarray:
    ort = require("onnxruntime", "pip install onnxruntime")
    from targets.cpu.target import session_options

    options = session_options(threads=None)  # the CPU target's settings: int8 exact on CPUs without VNNI
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def relative_error(result: np.ndarray, reference: np.ndarray) -> float:
    """max|result - reference| / max|reference| (one scale for the whole output, so near-zero logits
    do not blow the ratio up)."""
    scale = float(np.abs(reference).max())
    difference = float(np.abs(result.astype(np.float64) - reference.astype(np.float64)).max())
    return difference / scale if scale > 0 else difference


def verification_record(result: np.ndarray, reference: np.ndarray, against: str, batch_shape) -> dict:
    error = relative_error(result, reference)
    return {"against": against, "onnx": "sim", "input_shape": list(batch_shape), "input": "normal(0, 1), seed 0",
            "max_abs_error": float(np.abs(result.astype(np.float64) - reference).max()),
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
