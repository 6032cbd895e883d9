"""What each trtexec and ais_bench version prints, line by line as their sources word it, and the batch rules.

trtexec lines follow samples/common/sampleInference.cpp and sampleOptions.cpp of each TensorRT release;
ais_bench lines and JSON follow its infer/summary.py (record, display) of 2023 and 2025.
"""
from pathlib import Path

import pytest

from harness.errors import ContractError
from report.external import perf_from_ais_bench, perf_from_ais_bench_log, perf_from_trtexec
from report.parsers import ais_bench, trtexec

STAMP = "[05/01/2024-10:00:00] "
SUMMARY = ["=== Performance summary ===", "Throughput: 100 qps",
           "GPU Compute Time: min = 9 ms, max = 11 ms, mean = 10 ms, median = 9.5 ms, percentile(99%) = 10.9 ms",
           "Total Host Walltime: 3.00 s", "Explanations of the performance metrics are printed in the verbose logs."]
EXPLANATIONS = ["=== Explanations of the performance metrics ===",
                "Throughput: the observed throughput computed by dividing the number of queries by the walltime.",
                "GPU Compute Time: the GPU latency to execute the kernels for a query."]


def trtexec_log(banner_digits: str, command: str, info: list[str], verbose: bool = False) -> str:
    lines = [f"&&&& RUNNING TensorRT.trtexec [TensorRT v{banner_digits}] # trtexec {command}"]
    lines += [f"{STAMP}[I] {line}" for line in info + SUMMARY]
    lines += [f"{STAMP}[V] {line}" for line in EXPLANATIONS] if verbose else []
    return "\n".join(lines + [f"&&&& PASSED TensorRT.trtexec [TensorRT v{banner_digits}] # trtexec {command}"])


@pytest.mark.parametrize("digits, line", [
    ("8003", "Created input binding for x:0 with dimensions 8x3x224x224"),  # 8.0 to 8.5
    ("8601", "Input binding for x with dimensions 8x3x224x224 is created."),  # 8.6 to 10.15
    ("101601", "Input binding for x with dimensions 8x3x224x224 and type fp32 is created."),  # 10.16, 11
    ("100900", "Input inference shape : x=8x3x224x224"),  # 10.x options block, no binding line kept
    ("8205", "Input inference shape: x:0=8x3x224x224"),  # 8.x options block
    ("100900", "Dynamic dimensions required for input: x, but no shapes were provided. Automatically "
               "overriding shape to: 8x3x224x224"),
])
def test_batch_from_each_versions_wording(digits, line):
    run = trtexec.parse_trtexec_log(trtexec_log(digits, "--onnx=m.onnx", ["Batch: Explicit", line], verbose=True))
    assert run.batch_size == 8 and not run.implicit_batch
    assert run.throughput_qps == 100.0 and run.metrics["GPU Compute Time"]["median"] == 9.5
    record = perf_from_trtexec(run, Path("m.log"), {})
    assert record.img_s_e2e == 800.0 and record.img_s_compute == pytest.approx(800.0)


def test_loaded_engine_batch_1_line_is_not_the_batch():
    """TensorRT 8 prints the --batch default for a loaded engine; the binding holds the engine's batch."""
    info = ["Batch: 1", "Input inference shapes: model",
            "Input binding for input with dimensions 10x3x224x224 is created."]
    run = trtexec.parse_trtexec_log(trtexec_log("8601", "--loadEngine=r50_bs10.engine", info))
    assert run.batch_size == 10 and not run.implicit_batch
    record = perf_from_trtexec(run, Path("t4.log"), {})
    assert record.img_s_e2e == 1000.0 and record.img_s_compute == pytest.approx(1000.0)


def test_implicit_batch_throughput_already_counts_images():
    run = trtexec.parse_trtexec_log(trtexec_log("8205", "--loadEngine=m.trt --batch=16", [
        "Batch: 16", "Created input binding for data with dimensions 3x224x224"]))
    assert run.batch_size == 16 and run.implicit_batch
    record = perf_from_trtexec(run, Path("m.log"), {})
    assert record.img_s_e2e == 100.0  # trtexec's Throughput, not 16 x 100
    assert record.img_s_compute == pytest.approx(1600.0)  # 16 images per 10 ms execution


def test_no_batch_evidence_names_the_file_and_what_to_add():
    run = trtexec.parse_trtexec_log(trtexec_log("100900", "--loadEngine=m.engine", ["Batch: Explicit"]))
    assert run.batch_size is None
    with pytest.raises(ContractError, match=r"m\.log: the trtexec log does not show the batch size.*"
                                            r"report-meta\.json"):
        perf_from_trtexec(run, Path("m.log"), {})
    assert perf_from_trtexec(run, Path("m.log"), {"batch_size": 4}).img_s_e2e == 400.0


def ais_log(throughput_line: str, stat_line: str) -> str:
    return "\n".join(["[INFO] -----------------Performance Summary------------------", f"[INFO] {stat_line}",
                      f"[INFO] {throughput_line}", "[INFO] ------------------------------------------------------"])


def test_pipeline_log_prints_means_only():
    text = ais_log("throughput 1000*batchsize.mean(8)/NPU_compute_time.mean(1.125): 7111.111111111111",
                   "NPU_compute_time (ms): mean = 1.125")
    (run,) = ais_bench.parse_printed_summary(text, "p.log").runs
    assert run.npu_compute_ms == {"mean": 1.125} and run.batch_size == 8
    assert run.throughput == 7111.111111111111 and "--pipeline" in run.software


def pipeline_summary() -> dict:
    """summary.py record(multi_threads=True): {mean, count} and [start, end] pairs; the mean is the merged
    busy time over the number of executions: [0, 3] and [3.5, 5] -> 4.5 ms / 4."""
    return {"filesinfo": {}, "args": ["/x/ais_bench/__main__.py", "--model", "r50_bs8.om", "--pipeline", "1",
                                      "--threads", "2", "--batchsize", "8"],
            "NPU_compute_time": {"mean": 1.125, "count": 4}, "H2D_latency": {"mean": 0.2, "count": 4},
            "D2H_latency": {"mean": 0.1, "count": 4},
            "npu_compute_time_list": [[0.0, 2.0], [1.0, 3.0], [3.5, 4.0], [4.0, 5.0]],
            "throughput": 8000 / 1.125, "pid": 7}


def test_pipeline_summary_json_is_read():
    run = ais_bench.parse_summary_json(pipeline_summary(), "p_summary.json")
    assert run.npu_compute_ms == {"mean": 1.125, "count": 4} and run.samples_ms == []
    assert run.batch_size == 8 and run.throughput == pytest.approx(7111.111111111111)
    assert run.software == "ais_bench (--pipeline summary.json, 2022-11 on)"
    record = perf_from_ais_bench(run, Path("p_summary.json"), {})
    assert "overlapping" in record.conditions and record.model == "r50"


def old_sumary(args: list[str]) -> dict:
    """ais_infer 2022 sumary.json: stats without count; --batchsize defaulted to 1 when not given."""
    stats = {"min": 21.0, "max": 23.0, "mean": 21.9, "median": 21.8, "percentile(99%)": 22.9}
    return {"filesinfo": {}, "args": args, "NPU_compute_time": stats, "H2D_latency": stats, "D2H_latency": stats,
            "throughput": 1000 / 21.9}


def test_old_sumary_without_batchsize_takes_the_oms_batch():
    run = ais_bench.parse_summary_json(old_sumary(["ais_infer.py", "--model", "/m/resnet50_bs16.om"]), "s.json")
    assert run.batch_size == 16 and run.throughput == pytest.approx(16000 / 21.9)
    assert "OM name resnet50_bs16.om" in run.notes[0]


def test_old_sumary_without_any_batch_evidence_is_flagged():
    run = ais_bench.parse_summary_json(old_sumary(["ais_infer.py", "--model", "/m/resnet50.om"]), "s.json")
    assert run.batch_size == 1 and run.throughput == pytest.approx(1000 / 21.9)
    assert "check the OM" in run.notes[0]
    explicit = ais_bench.parse_summary_json(old_sumary(["ais_infer.py", "--model", "r_bs16.om", "--batch", "1"]))
    assert explicit.batch_size == 1 and explicit.notes == []  # given by hand, abbreviated as argparse allows


def test_multi_device_rows_and_combined_throughput():
    block = ais_log("throughput 1000*batchsize.mean(4)/NPU_compute_time.mean({m}): {t}",
                    "NPU_compute_time (ms): min = {m}, max = {m}, mean = {m}, median = {m}, percentile(99%) = {m}")
    text = "\n".join([block.format(m=2.0, t=2000.0), block.format(m=1.6, t=2500.0),
                      "i:0 device_3 throughput:2500.0 start_time:1.0 end_time:2.0",
                      "i:1 device_5 throughput:2000.0 start_time:1.0 end_time:2.0",
                      "[INFO] summary throughput:4500.0"])
    records = perf_from_ais_bench_log(ais_bench.parse_printed_summary(text, "md.log"),
                                      Path("md.log"), {"device": "Ascend910B"})
    assert [(r.device, r.img_s_compute) for r in records] == [
        ("Ascend910B, device 5", 2000.0), ("Ascend910B, device 3", 2500.0),
        ("Ascend910B x2 combined", 4500.0)]
    assert records[2].gpus == 2 and records[2].compute_ms == {}


def test_unknown_throughput_wording_is_refused():
    text = ais_log("throughput per second: 5.0", "NPU_compute_time (ms): mean = 1.0")
    with pytest.raises(ContractError, match="odd.log: throughput line .* not a known ais_bench wording"):
        ais_bench.parse_printed_summary(text, "odd.log")
