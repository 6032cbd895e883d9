"""`python -m report` on hand-made summary.json / result.json / compare.json files plus vendor logs."""
import csv
import json
import shutil

import pytest

from report import cli
from report.published import PUBLISHED_CSV
from tests.conftest import assert_one_line_error, run_cli
from tests.report.report_fixtures import DATA, assert_valid_png, summary_dict, write_json

H100, EPYC = "NVIDIA H100 80GB HBM3", "AMD EPYC 9654"
TORCH = {"engine": "torch", "torch": "2.11.0", "cuda": "13.0", "cuda_graphs": {"1": "graph", "16": "graph"}}
ORT = {"engine": "onnxruntime", "onnxruntime": "1.31.1", "threads": 2}


def make_inputs(root):
    """Two targets at batch 1 and 16, an accuracy run, a parity result, a trtexec log, ais_bench outputs."""
    runs = root / "runs"
    write_json(runs / "nvidia-bs1" / "summary.json", summary_dict(
        target="nvidia", precision="fp16", batch_size=1, compute_ms=[2.0, 2.0, 2.5, 3.5], device_name=H100,
        engine=TORCH, end_to_end=350.0))  # mean 2.5 ms -> 400 img/s
    write_json(runs / "nvidia-bs16" / "summary.json", summary_dict(
        target="nvidia", precision="fp16", batch_size=16, compute_ms=[8.0, 8.0, 8.0, 8.0], device_name=H100,
        engine={**TORCH, "peak_device_memory_mib": 900.5}, end_to_end=1500.0,
        extra={"host_peak_rss_mib": 2048.0}))  # 16000 / 8 = 2000 img/s
    write_json(runs / "cpu-bs1" / "summary.json", summary_dict(
        target="cpu", precision="fp32", batch_size=1, compute_ms=[100.0, 100.0, 120.0, 80.0], device_name=EPYC,
        engine=ORT))  # 10 img/s
    accuracy = runs / "cpu-dataset"
    write_json(accuracy / "summary.json", {**summary_dict(
        target="cpu", precision="fp32", batch_size=16, compute_ms=[1700.0, 1500.0], device_name=EPYC, engine=ORT,
        mode="dataset", end_to_end=9.0), "num_inputs": 1000})  # the run result.json scored
    write_json(accuracy / "result.json", {"title": "Overall statistical evaluation", "value": [
        {"key": "Number of images", "value": "1000"}, {"key": "Number of classes", "value": "1000"},
        {"key": "Top1 accuracy", "value": "88.2%"}, {"key": "Top2 accuracy", "value": "93.1%"},
        {"key": "Top5 accuracy", "value": "97.4%"}]})
    write_json(runs / "parity" / "nvidia_vs_cpu.compare.json", {
        "kind": "harness.compare", "profile": "fp16-fp32", "passed": True,
        "a": {"dir": "a", "target": "nvidia", "precision": "fp16", "model": "seresnext101_32x4d", "batch_size": 16,
              "device": H100},
        "b": {"dir": "b", "target": "cpu", "precision": "fp32", "model": "seresnext101_32x4d", "batch_size": 16,
              "device": EPYC},
        "aggregate": {"count": 1000, "top1_agreement": 0.998, "cosine_min": 0.99931, "max_rel_err": 0.0123}})
    vendor = root / "vendor"
    shutil.copy(DATA / "trtexec" / "t4_fp16_bs16.trtexec.log", vendor_dir(vendor / "t4"))
    write_json(vendor / "t4" / "report-meta.json", {"model": "seresnext101_32x4d"})
    shutil.copytree(DATA / "ais_bench", vendor / "ascend")
    write_json(vendor / "ascend" / "report-meta.json", {"model": "seresnext101_32x4d", "device": "Ascend310P3",
                                                         "precision": "fp16", "software": "CANN 8.0.RC1, ais_bench"})
    return [runs, vendor]


def vendor_dir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    out = root / "out"
    assert cli.main(["--input", *map(str, make_inputs(root)), "--output", str(out), "--baseline", "Tesla T4"]) == 0
    return out


def rows_of(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def section(markdown: str, title: str) -> str:
    start = markdown.index(title)
    end = markdown.find("\n## ", start + 1)
    return markdown[start:end if end > 0 else None]


def test_plots_are_valid_pngs(report_dir):
    names = {p.name for p in report_dir.glob("*.png")}
    assert {"throughput_seresnext101_32x4d.png", "throughput_e2e_seresnext101_32x4d.png",
            "latency_seresnext101_32x4d.png"} <= names
    for path in report_dir.glob("*.png"):
        assert_valid_png(path)
    markdown = (report_dir / "report.md").read_text()
    assert "![throughput_seresnext101_32x4d.png](throughput_seresnext101_32x4d.png)" in markdown


def test_accuracy_table(report_dir):
    text = section((report_dir / "report.md").read_text(), "## 1. Accuracy")
    assert f"| seresnext101_32x4d | cpu | {EPYC} | fp32 | 16 | 1,000 | 88.20 | 97.40 |" in text
    (row,) = rows_of(report_dir / "accuracy.csv")
    assert (row["top1"], row["top5"], row["images"]) == ("88.2", "97.4", "1000")


def test_per_target_table_holds_the_summary_numbers(report_dir):
    text = section((report_dir / "report.md").read_text(), "## 2. Performance per target")
    assert f"### seresnext101_32x4d on nvidia: {H100}, fp16" in text
    # bs1: mean 2.5, median 2.25, ms/frame 2.5, 400 img/s compute-only, 350 end-to-end
    assert "| 1 | pure | 2.500 | 2.250 |" in text and "| 2.500 | 400.0 | 350.0 |" in text
    # bs16: 8 ms, 0.5 ms/frame, 2000 img/s, 1500 e2e, CV 0, host and device peaks
    assert ("| 16 | pure | 8.000 | 8.000 | 8.000 (p99 of 4 batches: between the two slowest) | 0.500 | 2,000.0 | "
            "1,500.0 | 0.00 | 2,048.0 | 900.5 |") in text  # a p99 of 4 batches says so
    assert "Software: torch 2.11.0, cuda 13.0" in text
    assert "| 16 | trtexec | 20.000 | 19.900 | 21.500 | 1.250 | 800.0 | 776.0 |" in text


def table_after(text: str, heading: str) -> dict[str, dict[str, str]]:
    """The markdown table under a heading as {first cell: {column: cell}}."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    header, body = table[0], table[2:]
    return {row[0]: dict(zip(header, row)) for row in body}


def test_vendor_comparison_side_by_side_with_ratios(report_dir):
    text = section((report_dir / "report.md").read_text(), "## 3. Vendor comparison")
    img_s = table_after(text, "#### img/s, compute-only")
    assert img_s["16"][f"{H100} fp16 [measured]"] == "2,000.0"
    assert img_s["16"]["Tesla T4 fp16 [measured]"] == "800.0"
    assert img_s["16"]["NVIDIA T4 fp16 [published]"] == "723.7"
    assert img_s["16"]["Ascend310P3 fp16 [measured]"] == "729.3"  # ais_infer bs16: 16000 / 21.94005 ms
    assert img_s["1"][f"{H100} fp16 [measured]"] == "400.0"
    assert img_s["64"]["NVIDIA T4 fp16 [published]"] == "789.8" and img_s["64"]["Tesla T4 fp16 [measured]"] == "-"
    assert img_s["best"]["Ascend310P3 (Atlas 300I Pro) fp16 [published]"] == "903.5"
    ratios = table_after(text, "#### ratio to Tesla T4 fp16 [measured]")
    assert ratios["16"][f"{H100} fp16 [measured]"] == "2.500"
    assert ratios["16"]["NVIDIA T4 fp16 [published]"] == f"{723.749 / 800:.3f}"
    assert ratios["1"][f"{H100} fp16 [measured]"] == "-"  # no T4 measurement at batch 1
    assert ratios["best / best"]["Ascend310P3 fp16 [published]"] == f"{927.09 / 800:.3f}"
    assert "Tesla T4 fp16 [measured]" not in next(iter(ratios.values()))
    assert "baseline chosen by --baseline 'Tesla T4'" in text


def test_published_rows_present_and_marked(report_dir):
    text = section((report_dir / "report.md").read_text(), "### Published reference rows")
    assert "| seresnext101_32x4d | Ascend310P3 (Atlas 300I Pro) | fp16 | 4 | 1 | 903.5 | compute-only |" in text
    assert "Se-Resnext101/README.md @ d26503846" in text
    assert "| resnet50 | NVIDIA H100-SXM-80GB (DGX-H100) | int8 | 2,048 | 1 | 88,714.3 | mlperf-offline |" in text
    assert all(line.endswith("| published |") for line in text.splitlines()[4:] if line.startswith("| "))
    perf = rows_of(report_dir / "perf.csv")
    published = [r for r in perf if r["status"] == "published"]
    shipped = rows_of(PUBLISHED_CSV)
    assert len(published) == len(shipped) == 33 and {r["origin"] for r in published} == {"published"}
    t4 = [r for r in published if r["device"] == "NVIDIA T4" and r["batch_size"] == "64"]
    assert t4[0]["img_s_compute"] == "789.784"


def test_parity_table(report_dir):
    text = section((report_dir / "report.md").read_text(), "## 4. Output parity")
    assert "| fp16-fp32 | 1,000 | 99.80 | 0.9993 | 0.0123 | PASS |" in text


def test_csv_and_json_hold_every_number(report_dir):
    data = json.loads((report_dir / "report.json").read_text())
    measured = [r for r in data["perf"] if r["status"] == "measured"]
    h100_16 = next(r for r in measured if r["device"] == H100 and r["batch_size"] == 16)
    assert h100_16["compute_ms"]["mean"] == 8.0 and h100_16["samples_ms"] == [8.0] * 4
    assert h100_16["memory"] == {"host_peak_rss_mib": 2048.0, "device_peak_mib": 900.5}
    comparison = rows_of(report_dir / "comparison.csv")
    t4 = next(r for r in comparison if r["series"].startswith("Tesla T4") and r["batch_size"] == "16")
    assert float(t4["img_s_compute"]) == pytest.approx(800.0) and float(t4["ratio_to_baseline"] or 1) == 1
    ascend = {r["batch_size"]: float(r["img_s_compute"]) for r in comparison
              if r["series"].startswith("Ascend310P3, fp16, CANN 8.0.RC1")}
    assert ascend == pytest.approx({"1": 529.1005291005291, "4": 903.342366757, "16": 729.2599603105127})
    (parity,) = rows_of(report_dir / "parity.csv")
    assert parity["profile"] == "fp16-fp32" and parity["passed"] == "True"


def test_every_figure_says_metric_device_and_software(report_dir):
    from PIL import Image

    expected = {"throughput_seresnext101_32x4d.png": "compute-only throughput",
                "throughput_e2e_seresnext101_32x4d.png": "end-to-end throughput",
                "latency_seresnext101_32x4d.png": "compute-only latency"}
    for name, metric in expected.items():
        with Image.open(report_dir / name) as image:
            title, described = image.text["Title"], image.text["Description"]
        assert metric in title, (name, title)
        assert f"{H100}, fp16, torch 2.11.0, cuda 13.0" in described, (name, described)
    with Image.open(report_dir / "throughput_seresnext101_32x4d.png") as image:
        described = image.text["Description"]
    assert "Tesla T4, fp16, TensorRT 10.9.0 (trtexec) [measured]" in described
    assert "NVIDIA T4, fp16, TensorRT (trtexec --fp16) [published]" in described


def test_empty_folder_is_one_clear_error(tmp_path):
    proc = run_cli("-m", "report", "--input", str(tmp_path), "--output", str(tmp_path / "out"))
    assert proc.returncode == 3
    assert_one_line_error(proc, "no summary.json, result.json, compare.json")


def test_unknown_summary_format_is_one_clear_error(tmp_path):
    write_json(tmp_path / "run" / "summary.json", {"kind": "someone.else", "fps": 3})
    proc = run_cli("-m", "report", "--input", str(tmp_path), "--output", str(tmp_path / "out"))
    assert proc.returncode == 4
    assert_one_line_error(proc, "summary.json: JSON of an unknown format (kind 'someone.else')")


def test_unknown_trtexec_version_is_one_clear_error(tmp_path):
    text = (DATA / "trtexec" / "t4_fp16_bs16.trtexec.log").read_text().replace("TensorRT version: 10.9.0",
                                                                              "TensorRT version: 12.0.0")
    (tmp_path / "x.trtexec.log").write_text(text)
    assert cli.main(["--input", str(tmp_path), "--output", str(tmp_path / "out")]) == 4


def test_unknown_ais_bench_json_and_meta_key(tmp_path, capsys):
    write_json(tmp_path / "a" / "run_summary.json", {"latency": 1})
    assert cli.main(["--input", str(tmp_path / "a"), "--output", str(tmp_path / "out")]) == 4
    assert "run_summary.json: JSON of an unknown format (kind None)" in capsys.readouterr().err
    shutil.copy(DATA / "ais_bench" / "bs1_ais_bench.log", vendor_dir(tmp_path / "b"))
    write_json(tmp_path / "b" / "report-meta.json", {"modle": "typo"})
    assert cli.main(["--input", str(tmp_path / "b"), "--output", str(tmp_path / "out")]) == 3
    assert "unknown keys ['modle']" in capsys.readouterr().err


def test_harness_logs_and_overlapping_inputs_are_not_double_counted(tmp_path):
    from report.collect import collect

    run = tmp_path / "results" / "run"
    write_json(run / "summary.json", summary_dict(target="ascend", precision="fp16", batch_size=16,
                                                  compute_ms=[2.0, 2.0], device_name="Ascend310P3"))
    # what `python -m infer` prints for the ascend target: NPU_compute_time, but not ais_bench's formula
    (run / "infer.log").write_text(
        "[INFO] -----------------Performance Summary------------------\n"
        "[INFO] NPU_compute_time (ms): min = 2.0000, max = 2.0000, mean = 2.0000, median = 2.0000, "
        "percentile(99%) = 2.0000\n"
        "[INFO] throughput 1000*batchsize(16)/compute_time.mean(2.0000): 8000.00\n")
    found = collect([tmp_path, tmp_path / "results"])
    assert len(found.perf) == 1 and found.perf[0].img_s_compute == pytest.approx(8000.0)
    assert found.skipped == [f"{run / 'infer.log'}: a harness infer log; its summary JSON holds these figures"]


def test_report_modules_do_not_import_torch():
    code = ("import sys, report.cli, report.compare, report.render, report.collect, harness.perf, "
            "harness.outputs; assert 'torch' not in sys.modules, 'torch imported'")
    proc = run_cli("-c", code)
    assert proc.returncode == 0, proc.stderr


def test_simulated_runs_keep_accuracy_but_not_timings(tmp_path):
    from report.collect import collect

    run = tmp_path / "in" / "ascend-sim"
    write_json(run / "summary.json", {**summary_dict(target="ascend", precision="fp16", batch_size=16,
                                                     compute_ms=[1.0, 1.2], device_name="",
                                                     engine={"simulated": True}, model="efficientnet_lite0"),
                                      "num_inputs": 10})
    (run / "result.json").write_text(
        '{"title": "Overall statistical evaluation", "value": [{"key": "Number of images", "value": "10"}, '
        '{"key": "Number of classes", "value": "1000"}, {"key": "Top1 accuracy", "value": "80.0%"}, '
        '{"key": "Top5 accuracy", "value": "90.0%"}]}')
    found = collect([tmp_path / "in"])
    assert found.perf == [] and found.simulated == [str(run / "summary.json")]
    assert [(a.device, a.top1) for a in found.accuracy] == [("simulated ascend runtime", 80.0)]
