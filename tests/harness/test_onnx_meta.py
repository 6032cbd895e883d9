"""The ONNX metadata helper against onnx's own tables and hand-built models."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from harness.contracts import numpy_dtype
from harness.errors import InputError
from harness.onnx_meta import (ELEM_TYPES, ORT_TYPES, dtype_name, has_qdq, is_qdq_onnx, onnx_io, ort_tensor_spec,
                               read_onnx, tensor_dims)


@pytest.mark.parametrize("code", sorted(ELEM_TYPES))
def test_every_element_type_names_the_numpy_dtype_onnx_maps_it_to(code):
    assert numpy_dtype(dtype_name(code)) == helper.tensor_dtype_to_np_dtype(code)


def test_every_ort_type_string_names_the_same_dtype_as_its_element_type():
    for code, (ort_name, name) in ELEM_TYPES.items():
        assert ORT_TYPES[f"tensor({ort_name})"] == name == dtype_name(code)


def test_an_unknown_element_type_is_named_not_guessed():
    assert dtype_name(TensorProto.DOUBLE) == "onnx type 11"


def _model(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _relu_model(path, input_type=TensorProto.FLOAT):
    x = helper.make_tensor_value_info("image", input_type, ["batch", 3, 8, 8])
    y = helper.make_tensor_value_info("logits", input_type, ["batch", 3, 8, 8])
    weight = helper.make_tensor("unused_weight", TensorProto.FLOAT, [1], [1.0])
    listed = helper.make_tensor_value_info("unused_weight", TensorProto.FLOAT, [1])
    return _model(path, [helper.make_node("Relu", ["image"], ["logits"])], [x, listed], [y], [weight])


def test_onnx_io_reads_names_shapes_and_dtypes_leaving_initializers_out(tmp_path):
    spec_in, spec_out = onnx_io(_relu_model(tmp_path / "m.onnx", TensorProto.UINT8))
    assert (spec_in.name, spec_in.shape, spec_in.dtype) == ("image", [-1, 3, 8, 8], "uint8")
    assert (spec_out.name, spec_out.shape, spec_out.dtype) == ("logits", [-1, 3, 8, 8], "uint8")
    graph = read_onnx(tmp_path / "m.onnx").graph
    assert tensor_dims(graph.input[0]) == ["batch", 3, 8, 8]


def test_qdq_detection(tmp_path):
    plain = _relu_model(tmp_path / "plain.onnx")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1])
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "scale"], ["y"])]
    qdq = _model(tmp_path / "qdq.onnx", nodes, [x], [y], [scale])
    assert is_qdq_onnx(qdq) and has_qdq(read_onnx(qdq))
    assert not is_qdq_onnx(plain)


def test_a_file_that_is_not_onnx_is_one_input_error_naming_it(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a model at all")
    with pytest.raises(InputError, match="junk.onnx: not an ONNX model"):
        read_onnx(junk)
    with pytest.raises(InputError, match="missing.onnx: ONNX file not found"):
        read_onnx(tmp_path / "missing.onnx")


def test_ort_specs_use_the_same_names(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(_relu_model(tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    spec = ort_tensor_spec(session.get_inputs()[0])
    assert (spec.name, spec.shape, spec.dtype) == ("image", [-1, 3, 8, 8], "float32")
    assert np.dtype(numpy_dtype(spec.dtype)) == np.float32
