"""ais_bench logs and summaries at the edges: runs appended to one log beside a multi-device run, throughputs that
are not numbers, the mean batch of dynamic-shape runs, OM paths with spaces."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ContractError
from report import cli
from report.external import perf_from_ais_bench, perf_from_ais_bench_log
from report.parsers import ais_bench, ais_bench_args, ais_bench_files
from tests.conftest import assert_one_line_error, run_cli
from tests.targets.ascend.upstream import ais_bench_tree, missing_reason

SAMPLES = Path(__file__).resolve().parents[1] / "targets" / "ascend" / "samples"
TWO_DEVICES = (SAMPLES / "logs" / "ais_bench_multidevice.log").read_text()  # 2500.0 + 2000.0 = 4500.0, batch 4
RULE = "[INFO] ------------------------------------------------------"


def summary_block(mean: float, throughput: float, formula: str = "1000*batchsize.mean({b})/NPU_compute_time.mean({m})",
                  batch: float = 8) -> str:
    return "\n".join(["[INFO] -----------------Performance Summary------------------",
                      f"[INFO] NPU_compute_time (ms): min = {mean}, max = {mean}, mean = {mean}, median = {mean}, "
                      f"percentile(99%) = {mean}",
                      f"[INFO] throughput {formula.format(b=batch, m=mean)}: {throughput}", RULE, ""])


def report_rows(tmp_path, text: str) -> list[tuple]:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "appended.log").write_text(text)
    cli.run(cli.ReportConfig(input=[tmp_path / "runs"], output=tmp_path / "out", include_published=False))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return sorted((r["model"], r["device"], r["batch_size"], r["img_s_compute"], r.get("gpus")) for r in report["perf"])


@pytest.mark.parametrize("appended_throughput", [1000.0, 2000.0])  # 2000.0: the same figure as device 1's
def test_a_run_appended_after_a_multi_device_run_is_not_summed_into_it(tmp_path, appended_throughput):
    text = ("python -m ais_bench --model /data/resnet50_bs4.om --device 0,1 --batchsize 4\n" + TWO_DEVICES
            + "\npython -m ais_bench --model /data/mobilenet_bs8.om --batchsize 8\n"
            + summary_block(8000.0 / appended_throughput, appended_throughput))
    device = "Ascend NPU (chip not recorded by ais_bench)"
    assert report_rows(tmp_path, text) == sorted([
        ("resnet50", f"{device}, device 0", 4, 2500.0, 1), ("resnet50", f"{device}, device 1", 4, 2000.0, 1),
        ("mobilenet", device, 8, appended_throughput, 1), ("resnet50", "Ascend NPU x2 combined", 4, 4500.0, 2)])


def test_each_multi_device_run_of_a_log_gets_its_own_combined_row():
    second = "\n".join([summary_block(1.0, 8000.0), summary_block(2.0, 4000.0), summary_block(4.0, 2000.0),
                        "[INFO] i:0 device_4 throughput:2000.0 start_time:1.0 end_time:2.0",
                        "[INFO] i:1 device_5 throughput:8000.0 start_time:1.0 end_time:2.0",
                        "[INFO] i:2 device_6 throughput:4000.0 start_time:1.0 end_time:2.0",
                        "[INFO] summary throughput:14000.0"])
    log = ais_bench.parse_printed_summary(TWO_DEVICES + "\n$ python -m ais_bench --model r_bs8.om --device 4,5,6\n"
                                          + second, "two_runs.log")
    assert [run.device for run in log.runs] == [0, 1, 5, 6, 4]  # matched by the throughput both lines print
    records = perf_from_ais_bench_log(log, Path("two_runs.log"), {})
    combined = [(r.device, r.img_s_compute, r.conditions.split(":")[0]) for r in records if r.gpus > 1]
    assert combined == [("Ascend NPU x2 combined", 4500.0, "devices 0,1"),
                        ("Ascend NPU x3 combined", 14000.0, "devices 5,6,4")]


@pytest.mark.parametrize("tail, message", [
    (["[INFO] i:0 device_0 throughput:2500.0 start_time:1.0 end_time:2.0",
      "[INFO] i:1 device_1 throughput:2000.0 start_time:1.0 end_time:2.0",
      "[INFO] i:2 device_2 throughput:1500.0 start_time:1.0 end_time:2.0",
      "[INFO] summary throughput:6000.0"], "3 `device_N throughput` lines"),
    (["[INFO] i:0 device_0 throughput:2500.0 start_time:1.0 end_time:2.0",
      "[INFO] i:1 device_1 throughput:2000.0 start_time:1.0 end_time:2.0",
      "[INFO] summary throughput:4600.0"], "is not the sum 4500.0"),
])
def test_device_lines_that_do_not_add_up_with_the_summaries_are_refused(tail, message):
    text = summary_block(1.6, 2500.0, batch=4) + summary_block(2.0, 2000.0, batch=4) + "\n".join(tail) + "\n"
    with pytest.raises(ContractError, match="md.log: .*" + message) as info:
        ais_bench.parse_printed_summary(text, "md.log")
    assert "\n" not in str(info.value)


def test_a_summary_json_with_an_infinite_throughput_is_refused_in_one_line(tmp_path):
    (tmp_path / "runs").mkdir()
    path = tmp_path / "runs" / "r_bs16_summary.json"
    path.write_text('{"NPU_compute_time": {"min": 2.0, "max": 2.0, "mean": 2.0, "median": 2.0, '
                    '"percentile(99%)": 2.0, "count": 4}, "throughput": Infinity, "pid": 1, '
                    '"args": ["ais_bench", "--model", "r_bs16.om"]}')
    proc = run_cli("-m", "report", "--input", str(tmp_path / "runs"), "--output", str(tmp_path / "out"),
                   "--no-published")
    assert_one_line_error(proc, str(path), "throughput inf", "not a measured figure")
    assert "internal error" not in proc.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("throughput", ["nan", "inf", "-inf", "0.0", "-5.0"])
def test_an_earliest_2022_log_with_a_throughput_that_is_not_a_positive_number_is_refused(throughput):
    text = summary_block(2.0, throughput, formula="(1000*batchsize/NPU_compute_time)")
    with pytest.raises(ContractError, match=f"old.log: ais_bench throughput {throughput} "):
        ais_bench.parse_printed_summary(text, "old.log")


@pytest.mark.parametrize("throughput, mean", [(float("inf"), 2.0), (float("nan"), 2.0), (500.0, float("nan")),
                                              (500.0, float("inf")), (0.0, 2.0)])
def test_no_batch_from_figures_that_are_not_numbers(throughput, mean):
    assert ais_bench_files.formula_batch(throughput, mean) is None


@pytest.mark.parametrize("throughput, mean, batch", [
    (729.2599603105127, 21.94005001068115, 16),  # as ais_bench writes them: whole to 1e-12
    (729.26, 21.94, 16),  # written by hand to two decimals: 15.99996, within what two decimals can carry
    (1000 * 64 / 3.3, 3.3, 64),
])
def test_a_whole_batch_within_the_precision_it_was_written_with(throughput, mean, batch):
    got = ais_bench_files.formula_batch(throughput, mean)
    assert got == batch and isinstance(got, int)


@pytest.mark.parametrize("batches, times", [
    ([100, 101], [10.0, 10.2]), ([1, 2], [2.0, 2.5]), ([4, 4, 8], [1.0, 2.0, 3.0])])
def test_the_mean_batch_of_a_dynamic_shape_summary_is_kept_and_said(batches, times):
    mean_batch, mean_ms = sum(batches) / len(batches), sum(times) / len(times)
    data = {"NPU_compute_time": {"min": min(times), "max": max(times), "mean": mean_ms, "median": mean_ms,
                                 "percentile(99%)": max(times), "count": len(times)},
            "throughput": 1000 * mean_batch / mean_ms, "npu_compute_time_list": times, "pid": 1,
            "args": ["ais_bench", "--model", "d.om", "--dymBatch", "0"]}
    assert ais_bench_files.formula_batch(data["throughput"], mean_ms) == pytest.approx(mean_batch, rel=1e-12)
    run = ais_bench.parse_summary_json(json.loads(json.dumps(data)), "d_summary.json")
    assert run.batch_size == round(mean_batch) and run.throughput == data["throughput"]
    assert f"mean batch {mean_batch:g} (dynamic shapes)" in " ".join(run.notes), run.notes


@pytest.mark.skipif(missing_reason("2023") is not None, reason=str(missing_reason("2023")))
def test_dynamic_shape_figures_of_the_real_summary_writer_read_alike_from_json_and_log(tmp_path):
    """ais_bench 2023-03's own Summary.report over batches of 100 and 101 (a dynamic batch run): its JSON and its
    printed summary give the same batch and the same note."""
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from ais_bench.infer.summary import Summary\n"
              "s = Summary(); s.add_args(['ais_bench', '--model', 'd.om', '--batchsize', '100'])\n"
              "for b, t in ((100, 10.0), (101, 10.2)): s.add_batchsize(b); s.npu_compute_time_list.append(t)\n"
              "s.report(100, sys.argv[2])\n")
    proc = subprocess.run([sys.executable, "-c", script, str(ais_bench_tree("2023")), str(tmp_path / "dyn")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    from_json = ais_bench.parse_summary_json(json.loads((tmp_path / "dyn_summary.json").read_text()), "dyn.json")
    (printed,) = ais_bench.parse_printed_summary("$ python -m ais_bench --model d.om --batchsize 100\n" + proc.stdout,
                                                 "dyn.log").runs
    assert from_json.batch_size == printed.batch_size == 100
    assert from_json.throughput == pytest.approx(printed.throughput, rel=1e-12)
    assert "mean batch 100.5 (dynamic shapes)" in from_json.notes[-1] and from_json.notes == printed.notes
    record = perf_from_ais_bench(from_json, tmp_path / "dyn_summary.json", {})
    assert "H2D" not in record.conditions  # the writer timed no transfer (count 0): its mean 0 is no figure


def test_the_summary_batch_is_worked_out_once(monkeypatch):
    calls = []
    real = ais_bench_files.formula_batch
    monkeypatch.setattr(ais_bench_files, "formula_batch", lambda *a: calls.append(a) or real(*a))
    data = json.loads((SAMPLES / "ais_bench_2023_flag" / "flag8_summary.json").read_text())
    run = ais_bench.parse_summary_json(data, "flag8_summary.json")
    assert len(calls) == 1 and run.batch_size == ais_bench_files.parse_summary(data)["batch_size"] == 16


OLD_BS1 = summary_block(21.94005001068115, 45.578747519407045, formula="1000*batchsize({b})/NPU_compute_time.mean({m})",
                        batch=1)  # ais_infer counted its --batchsize default of 1 on a bs16 OM


@pytest.mark.parametrize("before", [
    "[INFO] load model /data/my models/resnet_bs16.om success\n",
    'python3 ais_infer.py --model "/data/my models/resnet_bs16.om" --output out\n',
    "python3 ais_infer.py --model=/data/my\\ models/resnet_bs16.om --output out\n",
    "python3 -m ais_bench --device 0 --om '/data/my models/resnet_bs16.om' --output out\n",
])
def test_an_om_path_with_spaces_gives_the_batch_from_its_name(before):
    (run,) = ais_bench.parse_printed_summary(before + OLD_BS1, "bs1.log").runs
    assert run.model_path == "/data/my models/resnet_bs16.om"
    assert run.batch_size == 16 and run.throughput == pytest.approx(1000 * 16 / 21.94005001068115)


def test_python_dash_m_is_not_taken_for_the_model():
    assert ais_bench_args.command_model("python3 -m ais_bench --model /m/r_bs16.om --batchsize 16") == "/m/r_bs16.om"
    assert ais_bench_args.command_model("python3 -m ais_bench --batchsize 16") is None
    assert ais_bench_args.command_model("echo don't python3 -m ais_bench -m /m/r.om") == "/m/r.om"  # unbalanced quote
