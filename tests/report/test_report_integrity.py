"""The report shows a result.json only as the accuracy of the run it scored, and skips summaries it cannot show."""
from __future__ import annotations

import json
import os

import pytest

from harness.contracts import InferSummary
from harness.errors import ContractError
from harness.files import sha256_file
from report.collect import collect
from report.summary_values import check_summary_values
from tests.conftest import run_cli
from tests.report.report_fixtures import summary_dict, write_json


def modelzoo(images: int, top1: str = "100.0%") -> dict:
    return {"title": "Overall statistical evaluation", "value": [
        {"key": "Number of images", "value": str(images)}, {"key": "Number of classes", "value": "10"},
        {"key": "Top1 accuracy", "value": top1}, {"key": "Top5 accuracy", "value": "100.0%"}]}


def details(scored: int, unlabelled: int = 0) -> dict:
    return {"kind": "harness.accuracy_details", "schema_version": 2,
            "images": [{"stem": f"i{n}", "rank": 0} for n in range(scored)],
            "outputs_without_label": [f"u{n}" for n in range(unlabelled)], "labels_without_output": []}


def accuracy_run(root, *, num_inputs: int, images: int, details_of: dict | None = None, model: str = "modelB"):
    """out/run_summary.json of a dataset run of `num_inputs` inputs and out/run/result.json written after it."""
    summary = summary_dict(target="cpu", precision="fp32", batch_size=2, compute_ms=[4.0], device_name="cpu dev",
                           model=model, mode="dataset")
    summary["num_inputs"] = num_inputs
    summary_path = write_json(root / "out" / "run_summary.json", summary)
    result = write_json(root / "out" / "run" / "result.json", modelzoo(images))
    if details_of is not None:
        write_json(root / "out" / "run" / "result_details.json", details_of)
    return summary_path, result


def test_a_result_json_of_another_run_shows_no_accuracy(tmp_path):
    summary, result = accuracy_run(tmp_path, num_inputs=6, images=6,
                                   details_of={**details(6), "run_summary": {"file": "run_summary.json",
                                                                             "sha256": "0" * 64}})
    (row,) = collect([tmp_path]).accuracy  # scored before infer ran again into the directory with another model
    assert (row.model, row.images, row.top1, row.top5, row.macro_f1) == ("modelB", None, None, None, None)
    assert row.labels.startswith("accuracy not shown: result.json scored another run than the one "
                                 "run_summary.json describes")
    assert "rerun postprocess" in row.labels


def test_the_run_a_result_json_scored_is_told_by_content_not_file_times(tmp_path):
    summary, result = accuracy_run(tmp_path, num_inputs=6, images=6)
    write_json(result.with_name("result_details.json"), {**details(6), "run_summary": {
        "file": summary.name, "sha256": sha256_file(summary)}})
    stamp = summary.stat().st_mtime_ns - 5_000_000_000
    os.utime(result, ns=(stamp, stamp))  # copied without its times: older than the summary it scored
    (row,) = collect([tmp_path]).accuracy
    assert (row.images, row.top1, row.labels) == (6, 100.0, "")


def test_a_result_json_scored_while_infer_was_writing_shows_no_accuracy(tmp_path):
    accuracy_run(tmp_path, num_inputs=300, images=120, details_of=details(120))
    (row,) = collect([tmp_path]).accuracy
    assert (row.images, row.top1) == (None, None)
    assert "result.json scored 120 outputs, the run summary run_summary.json says the run wrote 300" in row.labels


def test_without_details_the_result_json_image_count_is_compared(tmp_path):
    accuracy_run(tmp_path, num_inputs=300, images=120)
    (row,) = collect([tmp_path]).accuracy
    assert row.top1 is None and "scored 120 outputs" in row.labels


def test_outputs_without_a_label_count_as_outputs_the_run_wrote(tmp_path):
    accuracy_run(tmp_path, num_inputs=5, images=4, details_of=details(4, unlabelled=1))
    (row,) = collect([tmp_path]).accuracy
    assert (row.images, row.top1, row.labels) == (4, 100.0, "")


def test_the_report_says_why_a_row_has_no_accuracy(tmp_path):
    accuracy_run(tmp_path, num_inputs=3, images=2, details_of=details(2))
    proc = run_cli("-m", "report", "--input", str(tmp_path / "out"), "--output", str(tmp_path / "rep"),
                   "--no-published")
    assert proc.returncode == 0, proc.stderr
    result = tmp_path / "out" / "run" / "result.json"
    assert f"report: {result}: accuracy not shown: result.json scored 2 outputs" in proc.stderr
    markdown = (tmp_path / "rep" / "report.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| modelB | cpu"))
    assert "| 2 | - | - | - | accuracy not shown: result.json scored 2 outputs, the run summary" in row
    (csv_row,) = json.loads((tmp_path / "rep" / "report.json").read_text())["accuracy"]
    assert csv_row["top1"] is None and csv_row["images"] is None


def test_a_result_json_whose_run_summary_cannot_be_read_shows_no_accuracy(tmp_path):
    summary, _ = accuracy_run(tmp_path, num_inputs=6, images=6)
    data = json.loads(summary.read_text())
    data["throughput"]["compute_only"] = float("nan")
    summary.write_text(json.dumps(data))
    found = collect([tmp_path])
    (row,) = found.accuracy
    assert row.top1 is None and row.labels.startswith("accuracy not shown: its run summary cannot be read")
    assert [s.split(": ")[0] for s in found.skipped] == [str(summary)]


def test_an_ais_bench_summary_beside_a_result_json_is_no_harness_run(tmp_path):
    write_json(tmp_path / "out" / "run_summary.json", {"NPU_compute_time": {"mean": 1.0}, "batchsize": 1})
    write_json(tmp_path / "out" / "run" / "result.json", modelzoo(6, "50.0%"))
    write_json(tmp_path / "out" / "run" / "report-meta.json", {"model": "m", "target": "ascend"})
    accuracy = collect([tmp_path / "out" / "run"]).accuracy
    assert [(r.model, r.target, r.top1) for r in accuracy] == [("m", "ascend", 50.0)]


BAD_FIELDS = [("throughput", None), ("timings", None), ("extra", None), ("compute_ms", None), ("batch_size", "2"),
              ("throughput", {"compute_only": "fast", "end_to_end": 1.0}),
              ("throughput.compute_only", float("nan")), ("throughput.compute_only", -5.0),
              ("throughput.end_to_end", float("inf")), ("timings.compute.mean", "slow"),
              ("energy.joules", -1.0), ("extra.memory", 7)]


def with_field(data: dict, dotted: str, value) -> dict:
    head, *keys = dotted.split(".")
    target = data
    for key in [head, *keys][:-1]:
        target = target.setdefault(key, {})
    target[[head, *keys][-1]] = value
    return data


@pytest.mark.parametrize("field,value", BAD_FIELDS)
def test_a_summary_with_a_wrong_field_is_skipped_and_the_rest_renders(tmp_path, field, value):
    good = summary_dict(target="cpu", precision="fp32", batch_size=2, compute_ms=[4.0, 4.0], device_name="good dev")
    write_json(tmp_path / "in" / "good" / "run_summary.json", good)
    bad = with_field(summary_dict(target="cpu", precision="fp32", batch_size=4, compute_ms=[4.0, 4.0],
                                  device_name="bad dev"), field, value)
    bad_path = write_json(tmp_path / "in" / "bad" / "run_summary.json", bad)
    proc = run_cli("-m", "report", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "rep"),
                   "--no-published")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"report: skipped {bad_path}: "), proc.stderr
    assert f"field '{field.split('.')[0]}" in lines[0], lines[0]  # the field, or the value within it
    markdown = (tmp_path / "rep" / "report.md").read_text()
    cells = {cell.strip().lower() for line in markdown.splitlines() if line.startswith("|") for cell in line.split("|")}
    assert "good dev" in markdown and "bad dev" not in markdown and "4" not in cells  # no row of the bad run
    assert not cells & {"nan", "inf", "-inf", "-5.0", "fast", "slow"}
    assert f"- {bad_path}: " in markdown  # listed among the skipped files, with the reason


def plain_summary(**fields) -> InferSummary:
    """Built without the sidecar reader, so that the report's own checks are what is tested."""
    base = dict(target="cpu", device="0", artifact="a", model="m", precision="fp32", batch_size=2, mode="pure",
                outfmt="TXT", num_inputs=2, throughput={"compute_only": 10.0, "end_to_end": 5.0},
                timings={"compute": {"count": 1, "mean": 2.0}}, compute_ms=[2.0])
    return InferSummary(**{**base, **fields})


@pytest.mark.parametrize("fields,named", [
    ({"throughput": None}, "'throughput'"), ({"extra": None}, "'extra'"), ({"timings": None}, "'timings'"),
    ({"batch_size": "2"}, "'batch_size'"), ({"batch_size": 0}, "'batch_size'"),
    ({"throughput": {"compute_only": "fast"}}, "'throughput.compute_only' is \"fast\""),
    ({"throughput": {"compute_only": float("nan")}}, "'throughput.compute_only' is NaN"),
    ({"throughput": {"compute_only": -5}}, "'throughput.compute_only' is -5"),
    ({"throughput": {"compute_only": True}}, "'throughput.compute_only' is true"),
    ({"compute_ms": [1.0, None]}, "'compute_ms[1]'"),
    ({"timings": {"compute": {"p99": float("inf")}}}, "'timings.compute.p99' is Infinity"),
    ({"extra": {"labels": "random weights"}}, "'extra.labels'"),
    ({"engine": {"versions": ["torch"]}}, "'engine.versions'")])
def test_the_report_checks_the_values_it_shows(fields, named):
    with pytest.raises(ContractError) as caught:
        check_summary_values(plain_summary(**fields), "W/run_summary.json")
    message = str(caught.value)
    assert message.startswith("W/run_summary.json: harness.infer field ") and named in message
    assert "\n" not in message


def test_a_summary_with_sound_values_passes_and_zero_end_to_end_means_not_measured():
    summary = plain_summary(throughput={"compute_only": 10.0, "end_to_end": 0.0, "wall_s": 1.0})
    assert check_summary_values(summary, "x") is summary


def test_a_resumed_run_counts_the_outputs_its_first_part_wrote(tmp_path):
    summary, _ = accuracy_run(tmp_path, num_inputs=4, images=6, details_of=details(6))
    data = json.loads(summary.read_text())
    data["extra"] = {**data.get("extra", {}), "resumed_after": 2}  # 2 written before the stop, 4 after
    summary.write_text(json.dumps(data))
    (row,) = collect([tmp_path]).accuracy
    assert (row.images, row.top1, row.labels) == (6, 100.0, "")


def test_the_scoring_labels_of_a_result_json_show_beside_the_runs_own(tmp_path):
    summary, result = accuracy_run(tmp_path, num_inputs=6, images=6)
    data = json.loads(summary.read_text())
    data.setdefault("extra", {})["labels"] = ["random weights"]
    write_json(summary, data)
    every_class = "Top3 to Top5 accuracy count every class (the outputs hold only 3)"
    write_json(result, {**modelzoo(6), "labels": ["random weights", every_class]})
    write_json(result.with_name("result_details.json"), {**details(6), "run_summary": {
        "file": summary.name, "sha256": sha256_file(summary)}})
    (row,) = collect([tmp_path]).accuracy
    assert row.labels == f"random weights; {every_class}"  # the run's own label once, the scoring's after it
