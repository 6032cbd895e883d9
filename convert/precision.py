"""Precision variants of an ONNX model: fp16 (float32 I/O) and int8 Q/DQ from calibration .bin files.

TensorRT 11 takes precision only from the ONNX itself (strongly typed networks): fp16 means an
fp16 graph, int8 means explicit QuantizeLinear/DequantizeLinear nodes. Both files here are plain
ONNX that ONNX Runtime runs too, so the CPU target checks their accuracy. See docs/precision.md.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from convert.calibration import (BinCalibrationReader, calibration_fingerprint, check_matches_input, check_method,
                                 select_calibration_files)
from harness.deps import require
from harness.errors import InputError, MissingDependencyError, ToolError
from harness.files import atomic_output, copy_atomic
from harness.onnx_meta import dtype_name, graph_inputs, has_qdq, is_qdq_onnx, read_onnx, tensor_dims
from harness.vocabulary import Precision, PrecisionLabel

__all__ = ["make_fp16_onnx", "make_int8_onnx", "calibration_fingerprint"]

METHODS_TO_ORT = {"entropy": "Entropy", "minmax": "MinMax", "percentile": "Percentile"}
# Images whose activations the calibrator holds at once: about 3 GB for SE-ResNeXt101 at 224x224.
CHUNK_IMAGES = 16


def _onnx():
    return require("onnx")


def _save_checked(model, dst: Path) -> Path:
    """onnx.checker first, then an atomic rename, so a failed conversion never leaves a dst behind."""
    onnx = _onnx()
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ToolError(f"{dst}: the converted model fails onnx.checker ({str(exc).splitlines()[0]})") from None
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as tmp:
        onnx.save(model, str(tmp))
    return dst


WEIGHTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def weights_quantized(model) -> bool:
    """True when some Conv/MatMul/Gemm takes its weight from a DequantizeLinear: only then can a runtime use
    int8 kernels. A Q/DQ model with float weights (e.g. tf2onnx folds TF's weight fake-quant into float
    constants) quantizes activations only."""
    dequantized = {out for node in model.graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return any(len(node.input) > 1 and node.input[1] in dequantized
               for node in model.graph.node if node.op_type in WEIGHTED_OPS)


def _fp16_tools():
    """ONNX Runtime's float16 converter and its graph sort (the converter appends the I/O Casts last)."""
    # onnxruntime.transformers appends its own folder to sys.path on first import, and its modules (and
    # onnxruntime.quantization's, imported later) rely on that: the path is left as it sets it.
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel
    except ImportError:
        raise MissingDependencyError("onnxruntime", "pip install -r requirements.txt") from None
    return convert_float_to_float16, OnnxModel.graph_topological_sort


def make_fp16_onnx(src: Path, dst: Path) -> dict:
    """An fp16 copy of `src` whose inputs and outputs stay float32 (Casts at the edges).

    Weights and activations are fp16 inside, which is what a strongly typed TensorRT engine
    builds in fp16; the float32 interface keeps .bin inputs and output files unchanged.
    """
    model = read_onnx(src)
    if has_qdq(model):
        raise InputError(f"{src}: has QuantizeLinear/DequantizeLinear nodes (an int8 model); "
                         "convert the float model to fp16")
    convert_float_to_float16, topological_sort = _fp16_tools()
    converted = convert_float_to_float16(model, keep_io_types=True)
    topological_sort(converted.graph, is_deterministic=True)
    _save_checked(converted, dst)
    return {"precision": Precision.FP16, "tool": "onnxruntime.transformers.float16", "keep_io_types": True,
            "onnxruntime": _ort_version()}


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def onnx_input(model, input_name: str) -> tuple[list, str]:
    """Sample shape (dims after the batch axis; strings for symbolic dims) and dtype of one input."""
    inputs = graph_inputs(model.graph)
    for value in inputs:
        if value.name == input_name:
            return tensor_dims(value), dtype_name(value.type.tensor_type.elem_type)
    names = ", ".join(repr(i.name) for i in inputs)
    raise InputError(f"the model has no input {input_name!r}; its inputs are {names}")


def calibration_batches(batch_dim, count: int) -> tuple[list[tuple[int, int]], int]:
    """File ranges, one per calibration run, and how many runs ORT's calibrator collects at once.

    A dynamic batch axis takes each chunk of at most CHUNK_IMAGES files as one run, so chunks
    may differ in size (the histogram calibrators stack the outputs of one chunk into one array,
    which needs equal batches within a chunk). A fixed batch axis takes runs of exactly its size.
    """
    if isinstance(batch_dim, int) and batch_dim > 0:
        if count % batch_dim:
            raise InputError(f"the model takes a fixed batch of {batch_dim}; use a calibration count that is a "
                             f"multiple of it (got {count}) or export with a dynamic batch")
        runs = count // batch_dim
        per_chunk = max(d for d in range(1, max(1, CHUNK_IMAGES // batch_dim) + 1) if runs % d == 0)
        return [(i, i + batch_dim) for i in range(0, count, batch_dim)], per_chunk
    chunks = -(-count // CHUNK_IMAGES)
    bounds = [round(i * count / chunks) for i in range(chunks + 1)]
    return list(zip(bounds[:-1], bounds[1:])), 1


def _quantize(src: Path, out: Path, reader: BinCalibrationReader, per_chunk: int, method: str) -> None:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_name("preprocessed.onnx")
    try:
        quant_pre_process(str(src), str(pre))
        # The histogram calibrators print progress lines to stdout; the harness keeps stdout for its own lines.
        with contextlib.redirect_stdout(io.StringIO()):
            _quantize_static(pre, out, reader, per_chunk, method)
    except MemoryError:
        raise
    except Exception as exc:  # the quantizer raises plain ValueError/RuntimeError/ORT errors
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ToolError(f"{src}: onnxruntime.quantization failed ({type(exc).__name__}: {first})") from exc


def _quantize_static(pre: Path, out: Path, reader: BinCalibrationReader, per_chunk: int, method: str) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(pre), str(out), reader,
        quant_format=QuantFormat.QDQ,
        # TensorRT takes signed, symmetric int8 only (zero point 0), per-channel weights on axis 0.
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
        calibrate_method=getattr(CalibrationMethod, METHODS_TO_ORT[method]),
        extra_options={
            "ActivationSymmetric": True, "WeightSymmetric": True, "CalibTensorRangeSymmetric": True,
            # TensorRT's parser rejects DequantizeLinear of an int32 bias; biases stay float.
            "QuantizeBias": False,
            "CalibStridedMinMax": per_chunk,
        })


def make_int8_onnx(src: Path, dst: Path, calib_dir: Path, count: int, method: str, input_name: str) -> dict:
    """Post-training int8 quantization into a Q/DQ ONNX; a model that is already Q/DQ is copied as is.

    Calibrates on the first `count` .bin files of `calib_dir` (sorted stems) with `method`
    (entropy, minmax or percentile). Returns what went into the artifact, for the convert sidecar.
    """
    check_method(method)
    if is_qdq_onnx(src):
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        copy_atomic(src, dst)
        weights = weights_quantized(read_onnx(src, load_external_data=False))
        return {"precision": Precision.INT8 if weights else PrecisionLabel.INT8_ACTIVATIONS_ONLY,
                "tool": "supplied Q/DQ ONNX", "weights_quantized": weights, "calibration": None}
    calib = select_calibration_files(calib_dir, count)
    dims, dtype = onnx_input(read_onnx(src, load_external_data=False), input_name)
    check_matches_input(calib, input_name, dims[1:], dtype)
    batches, per_chunk = calibration_batches(dims[0] if dims else None, count)
    reader = BinCalibrationReader(calib, input_name, batches)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".int8-", dir=Path(dst).parent) as tmp:
        quantized = Path(tmp) / "quantized.onnx"
        _quantize(Path(src), quantized, reader, per_chunk, method)
        _save_checked(read_onnx(quantized), dst)
    return {"precision": Precision.INT8, "tool": "onnxruntime.quantization", "onnxruntime": _ort_version(),
            "method": method, "count": count, "format": "QDQ int8 symmetric, per-channel weights",
            "calibration": calibration_fingerprint(calib_dir, count, method),
            "calibration_stems": [path.stem for path in calib.files]}
