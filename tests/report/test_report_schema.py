"""Schema versions of the harness's records: a newer one is refused in one line, a legacy one read and labelled,
and the report takes what it shows from the fields the records declare."""
from __future__ import annotations

import json

import pytest

from harness.contracts import SCHEMA_VERSION, ConvertManifest, InferSummary
from harness.errors import ContractError
from report.collect import collect
from tests.conftest import assert_one_line_error, run_cli
from tests.report.report_fixtures import summary_dict, write_json, write_result_dir

MODELZOO = {"title": "Overall statistical evaluation", "value": [
    {"key": "Number of images", "value": "2"}, {"key": "Number of classes", "value": "6"},
    {"key": "Top1 accuracy", "value": "50.0%"}, {"key": "Top5 accuracy", "value": "100.0%"}]}


def h200_summary(**changes) -> dict:
    return summary_dict(target="nvidia", precision="fp16", batch_size=8, compute_ms=[4.0, 4.0],
                        device_name="NVIDIA H200", **changes)


def test_a_summary_of_a_newer_schema_is_refused_in_one_line(tmp_path):
    path = write_json(tmp_path / "runs" / "r_summary.json", h200_summary(schema_version=SCHEMA_VERSION + 1))
    proc = run_cli("-m", "report", "--input", str(tmp_path / "runs"), "--output", str(tmp_path / "out"),
                   "--no-published")
    assert_one_line_error(proc, str(path), f"schema_version {SCHEMA_VERSION + 1}", "update the harness")
    with pytest.raises(ContractError, match="newer than this harness reads"):
        InferSummary.read_file(path)


def test_a_legacy_summary_is_read_and_labelled(tmp_path):
    legacy = h200_summary(schema_version=None)
    assert "schema_version" not in legacy and "device_name" not in legacy
    legacy["num_inputs"] = 2  # the run result.json scored
    result_dir = tmp_path / "r"
    write_json(tmp_path / "r_summary.json", legacy)
    write_json(result_dir / "result.json", MODELZOO)
    found = collect([tmp_path])
    [perf], [accuracy] = found.perf, found.accuracy
    assert perf.device == accuracy.device == "NVIDIA H200"  # schema 1 kept it in `engine`
    assert "summary.json of schema 1 (legacy" in perf.conditions
    assert "summary.json of schema 1 (legacy" in accuracy.labels


def test_a_current_summary_carries_no_label_and_its_declared_field_is_shown(tmp_path):
    current = h200_summary()
    current["device_name"] = "NVIDIA H200 NVL"  # the declared field, not the target's own `engine` entry
    current["not_declared"] = {"device_name": "ignored"}
    write_json(tmp_path / "r_summary.json", current)
    [perf] = collect([tmp_path]).perf
    assert perf.device == "NVIDIA H200 NVL" and "schema" not in perf.conditions
    summary = InferSummary.read_file(tmp_path / "r_summary.json")
    assert summary.schema_version == SCHEMA_VERSION and not hasattr(summary, "not_declared")
    assert json.loads(json.dumps(summary.to_dict()))["device_name"] == "NVIDIA H200 NVL"


def test_details_of_a_newer_schema_are_refused(tmp_path):
    result_dir = tmp_path / "r"
    write_json(tmp_path / "r_summary.json", h200_summary())
    write_json(result_dir / "result.json", MODELZOO)
    details = write_json(result_dir / "result_details.json", {"kind": "harness.accuracy_details",
                                                              "schema_version": SCHEMA_VERSION + 1})
    found = collect([tmp_path])
    assert found.accuracy == [] and len(found.perf) == 1
    assert found.skipped == [f"{details}: harness.accuracy_details record of schema_version {SCHEMA_VERSION + 1}, "
                             f"newer than this harness reads (up to {SCHEMA_VERSION}); update the harness, or "
                             "rerun the stage that wrote it with this one"]


def test_postprocess_refuses_a_newer_run_summary_and_versions_its_details(tmp_path):
    result_dir = write_result_dir(tmp_path / "r", {"a": [0.1, 0.9], "b": [0.8, 0.2]})
    labels = tmp_path / "val_label.txt"
    labels.write_text("a.JPEG 1\nb.JPEG 1\n")
    assert run_cli("-m", "postprocess", "--result", str(result_dir), "--labels", str(labels)).returncode == 0
    details = json.loads((result_dir / "result_details.json").read_text())
    assert (details["kind"], details["schema_version"]) == ("harness.accuracy_details", SCHEMA_VERSION)
    summary = json.loads((result_dir / "summary.json").read_text())
    write_json(result_dir / "summary.json", {**summary, "schema_version": SCHEMA_VERSION + 1})
    assert_one_line_error(run_cli("-m", "postprocess", "--result", str(result_dir), "--labels", str(labels)),
                          str(result_dir / "summary.json"), "update the harness")


def test_convert_manifest_versions(tmp_path):
    manifest = {"kind": ConvertManifest.KIND, "model": "m", "target": "cpu", "precision": "fp32", "artifact": "a",
                "onnx": "o", "sim_onnx": "s", "input": {"name": "x", "shape": [-1, 3, 4, 4]},
                "output": {"name": "y", "shape": [-1, 6]}, "batch_sizes": [1], "dynamic_batch": False, "opset": 17}
    write_json(tmp_path / "convert.json", manifest)
    legacy = ConvertManifest.read(tmp_path)
    assert legacy.schema_version == 1 and legacy.schema_label.startswith("convert.json of schema 1 (legacy")
    assert ConvertManifest.read_file(legacy.write(tmp_path)).schema_version == SCHEMA_VERSION
    write_json(tmp_path / "convert.json", {**manifest, "schema_version": "2"})
    with pytest.raises(ContractError, match="not a version number"):
        ConvertManifest.read(tmp_path)


def test_an_out_of_memory_record_of_a_newer_schema_is_skipped_with_its_reason(tmp_path):
    record = {"kind": "harness.out_of_memory", "schema_version": SCHEMA_VERSION + 1, "model": "m", "target": "null",
              "precision": "fp32", "device": "0", "artifact": "a", "batch_size": 32}
    path = write_json(tmp_path / "bs32_summary.json", record)
    write_json(tmp_path / "bs8_summary.json", h200_summary())
    found = collect([tmp_path])
    assert found.out_of_memory == [] and len(found.perf) == 1
    assert len(found.skipped) == 1 and found.skipped[0].startswith(f"{path}: harness.out_of_memory record of "
                                                                   f"schema_version {SCHEMA_VERSION + 1}, newer")


def test_a_compare_result_of_a_newer_schema_is_skipped_with_its_reason(tmp_path):
    path = write_json(tmp_path / "compare.json", {"kind": "harness.compare", "schema_version": SCHEMA_VERSION + 1})
    write_json(tmp_path / "bs8_summary.json", h200_summary())
    found = collect([tmp_path])
    assert found.parity == [] and len(found.perf) == 1
    assert found.skipped[0].startswith(f"{path}: harness.compare record of schema_version {SCHEMA_VERSION + 1}")


def test_compute_that_may_hold_host_time_is_labelled_in_the_report(tmp_path):
    share = {"batches": 40, "of": 50, "max_ms": 0.09, "total_ms": 3.2, "compute_ms": 200.0, "share_of_compute": 0.016}
    write_json(tmp_path / "a" / "r_summary.json", h200_summary(extra={"host_in_compute": share}))
    write_json(tmp_path / "b" / "r_summary.json",
               h200_summary(extra={"host_in_compute": {**share, "total_ms": 0.2, "share_of_compute": 0.001}}))
    flagged, quiet = sorted(collect([tmp_path]).perf, key=lambda r: r.source)
    assert "compute-only may include host time (up to 1.6%, in 40 of 50 batches" in flagged.conditions
    assert "host time" not in quiet.conditions


def test_a_two_device_run_keeps_each_devices_warning_and_its_host_time_label():
    from infer.multi import merge

    def part(share: dict, warning: str) -> InferSummary:
        return InferSummary.from_dict(h200_summary(extra={"host_in_compute": share, "warning": warning}), "x")

    zero = {"batches": 0, "of": 2, "max_ms": 0.0, "total_ms": 0.0, "compute_ms": 8.0, "share_of_compute": 0.0}
    some = {"batches": 2, "of": 2, "max_ms": 0.2, "total_ms": 0.4, "compute_ms": 8.0, "share_of_compute": 0.05}
    merged = merge([part(zero, "compute time is unstable"), part(some, "")], ["0", "1"], wall=1.0)
    assert merged.extra["warning"] == "device 0: compute time is unstable"
    assert merged.extra["host_in_compute"]["share_of_compute"] == round(0.4 / 16.0, 4)
    assert merged.extra["per_device_host_in_compute"] == {"0": zero, "1": some}
    assert merged.timing_labels == ["compute-only may include host time (up to 2.5%, in 2 of 4 batches)"]
