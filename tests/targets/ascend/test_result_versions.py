"""ais_bench outputs of versions other than the shared trees, recorded from their real summary code
(samples/README.md says how each was made): read exactly, or refused in one line, never misread."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ContractError
from report.parsers.ais_bench import parse_printed_summary, parse_summary_json

SAMPLES = Path(__file__).resolve().parent / "samples"


def test_a_run_that_timed_nothing_is_refused_not_reported_as_zero():
    """ais_bench 2023-03 writes throughput 0 and mean 0 when no execution was timed (count 0)."""
    path = SAMPLES / "ais_bench_2023_empty" / "empty_bs16_summary.json"
    with pytest.raises(ContractError, match="timed no execution") as info:
        parse_summary_json(json.loads(path.read_text()), str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    log = SAMPLES / "logs" / "ais_bench_2023_empty.log"
    with pytest.raises(ContractError, match="timed no execution"):
        parse_printed_summary(log.read_text(), str(log))


def test_ait_benchmark_summary_names_the_om_and_the_tool():
    """`ait benchmark` (2023-05 to 2024) records its own argv: `--om-model`, `--batch-size`, `--output-dirname`;
    the model comes from the OM, not from the output directory's name."""
    from report.external import perf_from_ais_bench

    path = SAMPLES / "ait_benchmark" / "result" / "resnet50_out_summary.json"
    run = parse_summary_json(json.loads(path.read_text()), str(path))
    assert run.model_path == "resnet50_bs16.om" and run.batch_size == 16
    assert run.software.startswith("ait benchmark")
    assert run.throughput == pytest.approx(1000 * 16 / run.npu_compute_ms["mean"])
    record = perf_from_ais_bench(run, path, {})
    assert (record.model, record.batch_size) == ("resnet50", 16)


@pytest.mark.parametrize("flags", ["--om-model resnet50_bs16.om --batch-size 16", "-om resnet50_bs16.om"])
def test_ait_benchmark_command_lines_in_a_printed_log(flags):
    """The command echoed before the real ait benchmark summary lines (samples/logs/ait_benchmark_2024.log)."""
    text = f"$ ait benchmark {flags} --output result --outfmt TXT\n" + (SAMPLES / "logs" / "ait_benchmark_2024.log"
                                                                       ).read_text()
    (run,) = parse_printed_summary(text, "ait.log").runs
    assert run.model_path == "resnet50_bs16.om" and run.batch_size == 16
    assert run.software.startswith("ait benchmark")


BS16_LOG = (SAMPLES / "logs" / "ais_bench_2023.log").read_text()
EARLIEST_2022_LOG = (SAMPLES / "logs" / "ais_infer_2022.log").read_text().replace(
    "throughput 1000*batchsize(16)/NPU_compute_time.mean(21.94005001068115)",
    "throughput (1000*batchsize/NPU_compute_time)")


@pytest.mark.parametrize("command, log", [
    ("python3 -m ais_bench --model se-resnext_bs16.om --batchsize 8", BS16_LOG),
    ("python3 -m ais_bench --model se-resnext_bs16.om --batchsize 8",
     (SAMPLES / "logs" / "ais_bench_2023_flag8.log").read_text()),
    ("ait benchmark --om-model se-resnext_bs16.om --batch-size 8", (SAMPLES / "logs" / "ait_benchmark_2024.log"
                                                                    ).read_text()),
    ("python3 ais_infer.py --model se-resnext_bs16.om --batchsize 8", (SAMPLES / "logs" / "ais_infer_2022.log"
                                                                       ).read_text()),
    ("python3 ais_infer.py --model se-resnext_bs16.om --batchsize 8", EARLIEST_2022_LOG),
])
def test_printed_batch_is_the_one_the_throughput_was_computed_with(command, log):
    """From 2023-01 ais_bench prints the batch it fed (`Summary.add_batchsize`), not --batchsize: a bs16 OM run
    with `--batchsize 8` prints batchsize.mean(16) and a throughput for 16 (ais_bench_2023_flag8.log)."""
    (run,) = parse_printed_summary(f"$ {command} --output out\n{log}", "run.log").runs
    assert run.batch_size == 16
    assert run.throughput == pytest.approx(1000 * 16 / run.npu_compute_ms["mean"])
    assert any("batch size 8" in note and "batch 16" in note for note in run.notes), run.notes


def test_printed_batch_agreeing_with_the_flag_needs_no_note():
    (run,) = parse_printed_summary(f"$ python3 -m ais_bench --batchsize 16\n{BS16_LOG}", "run.log").runs
    assert run.batch_size == 16 and run.notes == []


def test_summary_json_batch_is_the_one_fed_not_the_flag():
    """ais_bench 2023-03's real Summary with `--batchsize 8` on a bs16 OM: the JSON records only the argv and the
    throughput, which was computed with the 16 fed."""
    path = SAMPLES / "ais_bench_2023_flag" / "flag8_summary.json"
    data = json.loads(path.read_text())
    assert "8" in data["args"]
    run = parse_summary_json(data, str(path))
    assert run.batch_size == 16 and run.throughput == pytest.approx(1000 * 16 / run.npu_compute_ms["mean"])
    assert any("batch size 8" in note and "batch 16" in note for note in run.notes), run.notes


THREAD4_SUMMARY = SAMPLES / "ait_benchmark_thread" / "resnet50_thread4_summary.json"


def test_thread_divided_summary_is_refused():
    """ait benchmark 2023-09-11 to 2023-10-10, `--pipeline 1 --thread 4`: every execution time divided by 4,
    written as ordinary per-execution statistics; nothing but argv says so."""
    with pytest.raises(ContractError, match="divided each execution time by 4") as info:
        parse_summary_json(json.loads(THREAD4_SUMMARY.read_text()), str(THREAD4_SUMMARY))
    assert str(THREAD4_SUMMARY) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", [
    (SAMPLES / "logs" / "ait_benchmark_2023_10_thread4.log").read_text(),
    "$ ait benchmark --om-model resnet50_bs16.om --pipeline 1 --thread 4\n" + BS16_LOG,
])
def test_thread_divided_printed_summary_is_refused(text):
    with pytest.raises(ContractError, match="divided each execution time by 4"):
        parse_printed_summary(text, "thread4.log")


@pytest.mark.parametrize("edit", [
    lambda args: args[:args.index("--pipeline")] + args[args.index("--pipeline") + 2:],  # thread reset to 1
    lambda args: [a if a != "4" else "1" for a in args],
    lambda args: [a if a != "1" else "false" for a in args],
])
def test_threads_ignored_or_single_are_read(edit):
    data = json.loads(THREAD4_SUMMARY.read_text())
    data["args"] = edit(data["args"])
    assert parse_summary_json(data, "s.json").batch_size == 16


def test_threads_with_recorded_intervals_are_read_as_pipeline():
    """From 2023-10-11 (`--threads`) the summary keeps the executions' [start, end] intervals, mean only."""
    data = json.loads(THREAD4_SUMMARY.read_text())
    data["args"] = [a if a != "--thread" else "--threads" for a in data["args"]]
    data["NPU_compute_time"] = {"mean": 21.5, "count": 8}
    data["npu_compute_time_list"] = [[0.0, 86.0]] * 8
    data["throughput"] = 1000 * 16 / 21.5
    run = parse_summary_json(data, "s.json")
    assert run.batch_size == 16 and "overlapping" in run.notes[0]


PIPELINE_2025_RUN = (  # ais_bench 2025 (infer_process.py infer_pipeline_run, summary.py display multi_threads)
    "$ python3 -m ais_bench --model resnet50_bs16.om --pipeline 1 --threads 4 --output out\n"
    "[INFO] load model resnet50_bs16.om success\n"
    "[INFO] run in pipeline mode with computing threadsnumber:4\n"
    "[INFO] -----------------Performance Summary------------------\n"
    "[INFO] NPU_compute_time (ms): mean = 5.5\n"
    "[INFO] throughput 1000*batchsize.mean(16)/NPU_compute_time.mean(5.5): 2909.090909090909\n"
    "[INFO] ------------------------------------------------------\n")
AIT_2024_LOG = (SAMPLES / "logs" / "ait_benchmark_2024.log").read_text()


@pytest.mark.parametrize("second_command", ["", "$ ait benchmark --om-model se-resnext_bs16.om --output out\n"])
def test_threads_of_one_run_are_not_held_against_the_next_in_the_log(second_command):
    """`tee -a` logs: a 2025 `--pipeline 1 --threads 4` run, then an ordinary one; its threads line and echoed
    command belong to its own summary only."""
    first, second = parse_printed_summary(PIPELINE_2025_RUN + second_command + AIT_2024_LOG, "both.log").runs
    assert "means only" in first.software and first.model_path == "resnet50_bs16.om"
    assert second.throughput == pytest.approx(728.1001137656427) and "means only" not in second.software
    assert second.model_path == ("se-resnext_bs16.om" if second_command else None)
    assert second.software.startswith("ait benchmark" if second_command else "ais_bench, ait or msit benchmark")


@pytest.mark.parametrize("before", [
    "", PIPELINE_2025_RUN, "$ ait benchmark --om-model resnet50_bs16.om --output out\n" + BS16_LOG])
def test_thread_divided_run_after_another_in_the_log_is_refused(before):
    thread4 = (SAMPLES / "logs" / "ait_benchmark_2023_10_thread4.log").read_text()
    with pytest.raises(ContractError, match="divided each execution time by 4"):
        parse_printed_summary(before + thread4, "thread4.log")
    with pytest.raises(ContractError, match="divided each execution time by 4"):
        parse_printed_summary(before + "$ ait benchmark --om-model r_bs16.om --pipeline 1 --thread 4\n" + BS16_LOG,
                              "thread4.log")


def test_thread_divided_multi_device_run_is_refused_for_every_device():
    """The device processes print their threads lines before any of their summaries; each is refused."""
    threads, block = (SAMPLES / "logs" / "ait_benchmark_2023_10_thread4.log").read_text().split("\n", 1)
    text = "\n".join([threads, threads, block + block])
    with pytest.raises(ContractError, match="divided each execution time by 4"):
        parse_printed_summary(text, "md.log")


@pytest.mark.parametrize("command", [
    "$ ait benchmark --om-model r_bs16.om --pipeline 1 \\\n    --thread 4\n",
    "$ ait benchmark --om-model r_bs16.om \\\n    --pipeline 1 \\\n    --thread 4\n",
])
def test_a_command_echoed_over_several_lines_is_read_as_one(command):
    log = (SAMPLES / "logs" / "ais_bench_2023.log").read_text()
    with pytest.raises(ContractError, match="divided each execution time by 4"):
        parse_printed_summary(command + log, "wrapped.log")
    run = parse_printed_summary(command.replace("4\n", "1\n") + log, "wrapped.log").runs[0]
    assert run.model_path == "r_bs16.om"
