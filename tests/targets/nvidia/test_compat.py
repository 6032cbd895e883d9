"""The description beside each artifact and the checks that it runs here."""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys

import pytest

from harness.errors import InputError, MissingDependencyError, TargetError
from targets.nvidia.compat import check_tensorrt_engine, check_torch_artifact, meta_path, read_meta, write_meta
from targets.nvidia.options import NvidiaOptions, choose_engine, tensorrt_version
from targets.nvidia.trt_build import import_tensorrt
from targets.nvidia.plan import OnnxFacts

HERE = {"tensorrt": "10.16.0", "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


def built_on(name="NVIDIA H100 80GB HBM3", cc="9.0", trt="10.16.0") -> dict:
    return {"engine": "tensorrt", "tensorrt": trt, "gpu": {"name": name, "compute_capability": cc}}


def test_meta_round_trip_beside_the_artifact(tmp_path):
    artifact = tmp_path / "m.fp16.bs8.pt2"
    path = write_meta(artifact, {"engine": "torch", "torch": "2.11.0"})
    assert path == meta_path(artifact) == tmp_path / "m.fp16.bs8.pt2.json"
    assert read_meta(artifact)["torch"] == "2.11.0"


def test_missing_or_foreign_meta_is_one_clear_line(tmp_path):
    with pytest.raises(TargetError, match="rerun convert"):
        read_meta(tmp_path / "x.plan")
    (tmp_path / "y.plan.json").write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(TargetError, match="not an nvidia artifact"):
        read_meta(tmp_path / "y.plan")


def test_engine_from_this_gpu_and_version_passes():
    check_tensorrt_engine(built_on(), HERE, "m.plan")


def test_engine_from_another_tensorrt_version_is_refused():
    with pytest.raises(TargetError, match="built with TensorRT 10.3.0, this is TensorRT 10.16.0"):
        check_tensorrt_engine(built_on(trt="10.3.0"), HERE, "m.plan")


def test_engine_from_another_architecture_is_refused_even_when_allowed():
    with pytest.raises(TargetError, match="compute capability 8.0"):
        check_tensorrt_engine(built_on("NVIDIA A100-SXM4-80GB", "8.0"), HERE, "m.plan", allow_other_gpu=True)


def test_engine_from_another_model_of_the_same_architecture_needs_the_option():
    meta = built_on("NVIDIA H200", "9.0")
    with pytest.raises(TargetError, match="allow_other_gpu=1"):
        check_tensorrt_engine(meta, HERE, "m.plan")
    check_tensorrt_engine(meta, HERE, "m.plan", allow_other_gpu=True)


def test_torch_artifact_must_come_from_this_torch():
    check_torch_artifact({"torch": "2.11.0+cu130"}, "2.11.0+cu130", "m.pt2")
    with pytest.raises(TargetError, match="exported by torch 2.13.0, this is torch 2.11.0"):
        check_torch_artifact({"torch": "2.13.0"}, "2.11.0", "m.pt2")


def test_options_parse_from_command_line_strings():
    parsed = NvidiaOptions.parse({"engine": "torch", "workspace_mib": "1024", "allow_other_gpu": "yes",
                                  "cuda_graphs": "0", "opt_batch": "16", "variant": "plain"})
    assert parsed == NvidiaOptions(engine="torch", workspace_mib=1024, allow_other_gpu=True, cuda_graphs=False,
                                   opt_batch=16, variant="plain")
    with pytest.raises(InputError, match="unknown nvidia target option 'device'"):
        NvidiaOptions.parse({"device": "1"})
    with pytest.raises(InputError, match="choose one of tensorrt, torch"):
        NvidiaOptions.parse({"engine": "onnxruntime"})
    with pytest.raises(InputError, match="workspace_mib=lots: give a whole number"):
        NvidiaOptions.parse({"workspace_mib": "lots"})


def test_engine_choice_follows_tensorrt_availability():
    import importlib

    try:
        expected = "tensorrt" if importlib.import_module("tensorrt").__version__ else "torch"
    except Exception:
        expected = "torch"
    assert choose_engine(None) == expected
    assert choose_engine("torch") == "torch"


def test_tensorrt_type_stubs_alone_count_as_missing(tmp_path, monkeypatch):
    """tensorrt-stubs installs tensorrt/__init__.pyi only: `import tensorrt` then gives an empty namespace."""
    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.pyi").write_text("__version__: str\n")

    class StubsOnly(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "tensorrt":
                return None
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(tmp_path / "tensorrt")]
            return spec

    monkeypatch.setattr(sys, "meta_path", [StubsOnly(), *sys.meta_path])
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # restored (or removed) after the test
    del sys.modules["tensorrt"]
    assert importlib.import_module("tensorrt").__file__ is None
    assert tensorrt_version() is None and choose_engine(None) == "torch"
    with pytest.raises(MissingDependencyError, match="tensorrt is not available"):
        import_tensorrt()


def test_onnx_facts_see_fp16_tensors_and_qdq_nodes(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from targets.nvidia.onnx_facts import inspect_onnx
    from tests.conftest import tiny_classifier_onnx

    tiny_classifier_onnx(tmp_path / "fp32.onnx")
    assert inspect_onnx(tmp_path / "fp32.onnx") == OnnxFacts(has_qdq=False, has_fp16=False)
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
             helper.make_node("QuantizeLinear", ["x", "s"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1]),
                               helper.make_tensor_value_info("h", TensorProto.FLOAT16, [1])],
                              [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])])
    onnx.save(helper.make_model(graph), tmp_path / "mixed.onnx")
    assert inspect_onnx(tmp_path / "mixed.onnx") == OnnxFacts(has_qdq=True, has_fp16=True)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="not an ONNX model"):
        inspect_onnx(tmp_path / "junk.onnx")
