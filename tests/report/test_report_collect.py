"""report.collect finds result files by content: both places of the infer summary, outputs passed over."""
import json
import shutil

import numpy as np
import pytest

from harness.errors import ContractError
from report.collect import collect
from tests.report.report_fixtures import DATA, summary_dict, write_json

MODELZOO = {"title": "Overall statistical evaluation", "value": [
    {"key": "Number of images", "value": "2"}, {"key": "Number of classes", "value": "1000"},
    {"key": "Top1 accuracy", "value": "50.0%"}, {"key": "Top5 accuracy", "value": "100.0%"}]}


def nvidia_summary(batch_size: int) -> dict:
    return summary_dict(target="nvidia", precision="fp16", batch_size=batch_size, compute_ms=[4.0, 4.0],
                        device_name="Tesla T4")


@pytest.mark.parametrize("where", ["inside", "beside"])
def test_infer_summary_in_either_place_with_its_accuracy(tmp_path, where):
    result_dir = tmp_path / "out" / "r50_bs8"
    summary = result_dir / "summary.json" if where == "inside" else tmp_path / "out" / "r50_bs8_summary.json"
    write_json(summary, {**nvidia_summary(8), "num_inputs": 2})  # the 2 images result.json scored
    write_json(result_dir / "result.json", MODELZOO)
    (result_dir / "img_0.txt").write_text("0.100000 0.900000 \n")
    np.save(result_dir / "img2_0.npy", np.zeros(3, np.float32))
    found = collect([tmp_path])
    assert [(r.batch_size, r.img_s_compute) for r in found.perf] == [(8, 2000.0)]
    assert [(a.device, a.precision, a.batch_size, a.top1) for a in found.accuracy] == [("Tesla T4", "fp16", 8, 50.0)]
    assert found.skipped == [] and sorted(found.sources) == sorted([str(summary), str(result_dir / "result.json")])


def test_ais_bench_summaries_under_both_names(tmp_path):
    shutil.copytree(DATA / "ais_bench", tmp_path / "a")
    found = collect([tmp_path])
    by_name = {r.source.rsplit("/", 1)[-1]: r for r in found.perf}
    assert by_name["result_bs4_summary.json"].batch_size == 4
    assert by_name["sumary.json"].software == "ais_infer (2022 sumary.json)"


def test_unrelated_files_are_passed_over_and_result_like_ones_listed(tmp_path):
    write_json(tmp_path / "run" / "summary.json", nvidia_summary(1))
    (tmp_path / "README.md").write_text("Logs of NPU_compute_time and trtexec runs.\n")
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    write_json(tmp_path / "run" / "report-meta.json", {"model": "x"})
    write_json(tmp_path / "run" / "preprocess.json", {"kind": "harness.preprocess"})
    (tmp_path / "build.log").write_text("&&&& RUNNING TensorRT.trtexec [TensorRT v100900] # trtexec --onnx=m.onnx "
                                        "--skipInference\n")
    (tmp_path / "other.log").write_text("nothing to see\n")
    found = collect([tmp_path])
    assert len(found.perf) == 1
    assert [s.split(": ", 1)[0] for s in found.skipped] == [str(tmp_path / "build.log"), str(tmp_path / "other.log")]
    assert "build-only or truncated" in found.skipped[0]


def test_nothing_usable_raises_the_first_reason(tmp_path):
    write_json(tmp_path / "x_summary.json", {"NPU_compute_time": {"mean": 1.0}})
    (tmp_path / "y.log").write_text("no summary\n")
    with pytest.raises(ContractError, match=r"x_summary.json: not an ais_bench summary.*\(1 more file"):
        collect([tmp_path])


def test_result_json_of_unknown_format_is_listed_not_fatal(tmp_path):
    write_json(tmp_path / "run" / "summary.json", nvidia_summary(2))
    (tmp_path / "result.json").write_text(json.dumps({"accuracy": 0.5}))
    found = collect([tmp_path])
    assert len(found.perf) == 1 and found.skipped[0].startswith(f"{tmp_path / 'result.json'}: JSON of an unknown")


def test_multi_device_ais_bench_summaries_give_a_row_per_device(tmp_path):
    for name in ("device1_0_summary.json", "device2_1_summary.json"):
        shutil.copy(DATA / "ais_bench" / "result_bs4_summary.json", tmp_path / name)
    found = collect([tmp_path])
    assert sorted(r.device for r in found.perf) == ["Ascend NPU (chip not recorded by ais_bench), device 1",
                                                    "Ascend NPU (chip not recorded by ais_bench), device 2"]
