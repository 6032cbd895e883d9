"""Sidecars whose fields have the wrong JSON type: one line naming the file and the field, never a crash.

A sidecar is edited by hand, written by another tool or cut short by an old bug; the stage that reads it must say
which field of which file is wrong, not fail inside with a TypeError.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.contracts import ConvertManifest, InferSummary, PreprocessManifest, TensorSpec
from harness.errors import ContractError, InputError
from harness.files import read_json
from tests.conftest import make_convert_dir, write_bins
from tests.faults.helpers import assert_clean_failure, fault_cli, snapshot

SUMMARY = {"kind": InferSummary.KIND, "schema_version": 2, "target": "cpu", "device": "0", "artifact": "m/tiny.onnx",
           "model": "tiny", "precision": "fp32", "batch_size": 2, "mode": "dataset", "outfmt": "TXT",
           "outputs": [{"name": "class", "shape": [10], "dtype": "float32"}],
           "files": [{"stem": "img_0", "outfiles": ["img_0_0.txt"]}],
           "throughput": {"compute_only": 100.0, "end_to_end": 90.0, "wall_s": 0.1}, "timings": {}, "extra": {}}


def edited(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("field,value,expected", [
    ("batch_size", "2", "expected int"),
    ("batch_size", True, "expected int"),
    ("outputs", None, "expected list[{name: str, shape: list[int], dtype: str}]"),
    ("outputs", [{"name": "class", "shape": "1000", "dtype": "float32"}], "expected list[{name: str"),
    ("files", [{"stem": "img_0"}], "expected list[{stem: str, outfiles: list[str]}]"),
    ("throughput", {"compute_only": "fast"}, "expected dict[str, float | dict | null]"),
    ("extra", [], "expected dict[str, Any]"),
    ("outfmt", None, "expected str"),
    ("outfmt", "XYZ", "expected one of ['BIN', 'NPY', 'TXT']"),
])
def test_a_summary_field_of_the_wrong_type_is_named(field, value, expected):
    with pytest.raises(ContractError) as caught:
        InferSummary.from_dict({**SUMMARY, field: value}, "res/run_summary.json")
    message = str(caught.value)
    assert message.startswith(f"res/run_summary.json: harness.infer field '{field}' is {json.dumps(value)}"), message
    assert expected in message and message.endswith("rerun the stage that wrote it"), message


def test_well_typed_records_still_round_trip():
    summary = InferSummary.from_dict(SUMMARY, "s")
    assert InferSummary.from_dict(summary.to_dict(), "s") == summary
    spec = TensorSpec("image", [-1, 3, 8, 8])
    manifest = ConvertManifest(model="m", target="cpu", precision="fp32", artifact="a", onnx="o", sim_onnx="o",
                               input=spec, output=TensorSpec("class", [-1, 10]), batch_sizes=[1, 4],
                               dynamic_batch=True, opset=17)
    assert ConvertManifest.from_dict(manifest.to_dict(), "c") == manifest
    prep = PreprocessManifest(shape=[3, 8, 8], dtype="float32", layout="CHW", recipe={"resize": 8},
                              files=[{"stem": "a", "source": "a.jpg"}])
    assert PreprocessManifest.from_dict(prep.to_dict(), "p") == prep


@pytest.mark.parametrize("value", [[], {"name": "image"}, {"name": "image", "shape": "3x8x8"},
                                   {"name": "image", "shape": [-1, 3, 8, 8], "colour": "rgb"}])
def test_a_tensor_field_that_is_not_a_tensor_is_named(value):
    data = {"kind": ConvertManifest.KIND, "model": "m", "target": "cpu", "precision": "fp32", "artifact": "a",
            "onnx": "o", "sim_onnx": "o", "input": value, "output": {"name": "class", "shape": [-1, 10]},
            "batch_sizes": [1], "dynamic_batch": False, "opset": 17}
    expected = r"^m/convert.json: harness.convert field 'input' is .*, expected a tensor \{name: str"
    with pytest.raises(ContractError, match=expected):
        ConvertManifest.from_dict(data, "m/convert.json")


def test_a_dtype_numpy_cannot_name_is_read_and_refused_only_where_its_size_is_needed():
    """convert records an ONNX type without a numpy name as "onnx type N"; reading the record must not fail."""
    data = {"kind": ConvertManifest.KIND, "model": "m", "target": "cpu", "precision": "fp32", "artifact": "a",
            "onnx": "o", "sim_onnx": "o", "input": {"name": "image", "shape": [-1, 3, 8, 8]},
            "output": {"name": "class", "shape": [-1, 10], "dtype": "onnx type 11"},
            "batch_sizes": [1], "dynamic_batch": False, "opset": 17}
    manifest = ConvertManifest.from_dict(data, "m/convert.json")
    with pytest.raises(ContractError, match="unsupported dtype 'onnx type 11'"):
        manifest.output.sample_nbytes


def test_a_directory_in_a_sidecars_place_is_one_error(tmp_path):
    (tmp_path / "preprocess.json").mkdir()
    with pytest.raises(InputError, match=r"preprocess.json: preprocess sidecar cannot be read \(Is a directory\)"):
        read_json(tmp_path / "preprocess.json", "preprocess sidecar")


def test_infer_names_a_mistyped_convert_json(tmp_path):
    model = make_convert_dir(tmp_path / "model")
    write_bins(tmp_path / "bins", 3)
    edited(model / "convert.json", batch_sizes="4")
    proc = fault_cli("infer: convert.json batch_sizes a string", "-m", "infer", "--model", str(model), "--input",
                     str(tmp_path / "bins"), "--output", str(tmp_path / "res"), "--output_dirname", "run",
                     base=tmp_path)
    assert_clean_failure(proc, 4, f"{model / 'convert.json'}: harness.convert field 'batch_sizes' is \"4\", "
                                  "expected list[int]")
    assert not (tmp_path / "res" / "run").exists()


def test_postprocess_names_a_mistyped_summary_and_writes_nothing(tmp_path):
    model = make_convert_dir(tmp_path / "model")
    write_bins(tmp_path / "bins", 3)
    run = tmp_path / "res" / "run"
    infer = fault_cli("infer", "-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"), "--output",
                      str(tmp_path / "res"), "--output_dirname", "run", "--no-progress")
    assert infer.returncode == 0, infer.stderr
    (tmp_path / "labels.txt").write_text("".join(f"img_{i}.JPEG {i}\n" for i in range(3)))
    edited(tmp_path / "res" / "run_summary.json", outputs=None)
    before = snapshot(tmp_path / "res")
    proc = fault_cli("postprocess: summary outputs null", "-m", "postprocess", "--result", str(run), "--labels",
                     str(tmp_path / "labels.txt"), base=tmp_path)
    assert_clean_failure(proc, 4, f"{tmp_path / 'res' / 'run_summary.json'}: harness.infer field 'outputs' is null")
    assert snapshot(tmp_path / "res") == before
