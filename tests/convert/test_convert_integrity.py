"""convert on ONNX models the stages cannot feed or score, ONNX weights in external data files, and a refused
rebuild over an earlier conversion."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import REPO_SAMPLE, assert_one_line_error, run_cli, tiny_classifier_onnx


def onnx_model(path, input_shape, outputs=("class",), elem_type=None, **save) -> None:
    """image -> GlobalAveragePool -> Flatten -> Gemm (10 classes), one output per name in `outputs`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem_type = TensorProto.FLOAT if elem_type is None else elem_type
    dtype = np.float16 if elem_type == TensorProto.FLOAT16 else np.float32
    weight = numpy_helper.from_array(np.ones((10, 3), dtype), "W")
    nodes = [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("Gemm", ["flat", "W"], ["logits"], transB=1)]
    nodes += [helper.make_node("Identity", ["logits"], [name]) for name in outputs]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("image", elem_type, input_shape)],
                              [helper.make_tensor_value_info(name, elem_type, ["N", 10]) for name in outputs],
                              [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path), **save)


def convert(work, *args: str, out: str = "out"):
    return run_cli("-m", "convert", *args, "--output", str(work / out), timeout=300)


@pytest.mark.parametrize("case, shape, outputs, fp16, needles", [
    ("two outputs", ["N", 3, 8, 8], ("class", "features"), False,
     ["2 outputs (class, features)", "the classification task reads 1 (logits)"]),
    ("fp16 input", ["N", 3, 8, 8], ("class",), True, ["input 'image' is float16", "float32 or uint8"]),
    ("dynamic image size", ["N", 3, "H", "W"], ("class",), False,
     ["input 'image' has a dynamic image size [-1, 3, -1, -1]", "fixed height and width"]),
])
def test_an_onnx_the_stages_cannot_feed_or_score_is_refused(tmp_path, case, shape, outputs, fp16, needles):
    from onnx import TensorProto

    onnx_model(tmp_path / "m.onnx", shape, outputs, TensorProto.FLOAT16 if fp16 else None)
    proc = convert(tmp_path, "--onnx", str(tmp_path / "m.onnx"))
    assert_one_line_error(proc, f"{tmp_path / 'm.onnx'}: ", *needles)
    assert proc.returncode == 3
    assert not (tmp_path / "out").exists()  # refused before anything was written


def external_data_onnx(work) -> None:
    """The tiny classifier saved with its weights in `weights.data` beside `ext.onnx`."""
    import onnx

    tiny_classifier_onnx(work / "plain.onnx")
    model = onnx.load(str(work / "plain.onnx"))
    onnx.save(model, str(work / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.data", size_threshold=0)


def simplified_weight(out) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(out / "ext.sim.onnx"))
    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "W")


def test_external_data_onnx_converts_and_rebuilds_when_only_its_data_changes(tmp_path):
    external_data_onnx(tmp_path)
    weight, _ = tiny_classifier_onnx(tmp_path / "reference.onnx")
    first = convert(tmp_path, "--onnx", str(tmp_path / "ext.onnx"))
    assert first.returncode == 0, first.stderr
    np.testing.assert_array_equal(simplified_weight(tmp_path / "out"), weight)
    files = json.loads((tmp_path / "out" / "convert.json").read_text())["source"]["files"]
    assert files["onnx_input"]["external_data"] == ["weights.data"] and "onnx_data:weights.data" in files
    assert "up to date" in convert(tmp_path, "--onnx", str(tmp_path / "ext.onnx")).stdout

    data = tmp_path / "weights.data"  # float32 tensors one after another: new weights, the same .onnx
    (2.0 * np.fromfile(data, dtype="<f4")).astype("<f4").tofile(data)
    second = convert(tmp_path, "--onnx", str(tmp_path / "ext.onnx"))
    assert second.returncode == 0 and "up to date" not in second.stdout, second.stdout + second.stderr
    np.testing.assert_allclose(simplified_weight(tmp_path / "out"), 2.0 * weight, rtol=1e-6)
    assert not (tmp_path / "out" / ".convert.json.previous").exists()  # the rebuild's set-aside copy is gone


def test_missing_external_data_is_one_line_naming_it(tmp_path):
    external_data_onnx(tmp_path)
    (tmp_path / "weights.data").unlink()
    proc = convert(tmp_path, "--onnx", str(tmp_path / "ext.onnx"))
    assert_one_line_error(proc, f"{tmp_path / 'weights.data'}: external data of {tmp_path / 'ext.onnx'} not found")
    assert not (tmp_path / "out").exists()


def test_a_refused_rebuild_keeps_the_earlier_conversion(tmp_path):
    tiny_classifier_onnx(tmp_path / "tiny.onnx")  # takes 3x8x8
    images = tmp_path / "img"
    images.mkdir()
    for path in sorted(REPO_SAMPLE.glob("*.JPEG"))[:2]:
        shutil.copy(path, images / path.name)
    prep = run_cli("-m", "preprocess", "--input", str(images), "--output", str(tmp_path / "bins4"),
                   "--input-size", "4", "--resize", "4", "--no-progress", "--workers", "1")
    assert prep.returncode == 0, prep.stderr
    assert convert(tmp_path, "--onnx", str(tmp_path / "tiny.onnx")).returncode == 0
    before = (tmp_path / "out" / "convert.json").read_bytes()

    refused = convert(tmp_path, "--onnx", str(tmp_path / "tiny.onnx"), "--precision", "int8", "--calib",
                      str(tmp_path / "bins4"), "--calib-count", "2", "--accept-preprocess-mismatch")
    assert_one_line_error(refused, "calibration data is 3x4x4 float32")
    assert (tmp_path / "out" / "convert.json").read_bytes() == before
    assert not (tmp_path / "out" / ".convert.json.previous").exists()
    again = convert(tmp_path, "--onnx", str(tmp_path / "tiny.onnx"))
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr


def test_a_failed_rebuild_that_replaced_a_file_leaves_no_convert_json(tmp_path):
    """The previous convert.json is put back only while every file it describes is unchanged."""
    import os

    from convert.build import discard_sidecar
    from convert.cli import parse_args
    from convert.plan import resolve_plan
    from convert.run import previous_manifest, restore_previous

    tiny_classifier_onnx(tmp_path / "tiny.onnx")
    assert convert(tmp_path, "--onnx", str(tmp_path / "tiny.onnx")).returncode == 0
    plan = resolve_plan(parse_args(["--onnx", str(tmp_path / "tiny.onnx"), "--target", "cpu", "--output",
                                    str(tmp_path / "out")]))
    previous = previous_manifest(plan)
    assert previous is not None
    before = plan.sidecar_path.read_bytes()
    discard_sidecar(plan)  # a rebuild killed (kill -9) right after: the next run finds the conversion as it was
    assert previous_manifest(plan) == previous and plan.sidecar_path.read_bytes() == before
    assert not plan.set_aside_path.exists()
    discard_sidecar(plan)
    assert plan.set_aside_path.exists() and not plan.sidecar_path.exists()
    artifact = tmp_path / "out" / previous.artifact
    os.utime(artifact, ns=(artifact.stat().st_atime_ns, artifact.stat().st_mtime_ns + 10**9))  # rewritten
    restore_previous(plan, previous)
    assert not plan.sidecar_path.exists() and not plan.set_aside_path.exists()
