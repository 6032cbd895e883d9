"""The report's importers on logs that real trtexec / ais_bench runs printed (../shared/data/real-logs).

Every expected figure below was read from the log by hand, as a person reads it: the Throughput / throughput
line, the GPU Compute Time / NPU_compute_time line, the binding or shape line for the batch, the Precision
line or flags, the TensorRT version line. Derived figures are computed here from those readings.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from report.collect import collect
from tests.conftest import ROOT, run_cli

REAL_LOGS = ROOT.parent / "shared" / "data" / "real-logs"
pytestmark = pytest.mark.skipif(not REAL_LOGS.is_dir(), reason=f"{REAL_LOGS} not present (shared test data)")
NOT_LOGS = {".source", ".md"}  # provenance notes beside the logs
NVIDIA_NO_DEVICE = "NVIDIA GPU (not in log)"
ASCEND = "Ascend NPU (chip not recorded by ais_bench)"
AIS_2022 = "ais_infer or ais_bench (2022 to 2023-01 printed summary)"
AIS_2023 = "ais_bench, ait or msit benchmark (2023-01 on printed summary)"
MSIT_TRTEXEC = "trtexec/msit_benchmark_backend_trtexec_summary.trtexec.log"


def trt(version, batch, precision, device, qps, mean, median, p99, model, implicit=False):
    return {"software": f"TensorRT {version} (trtexec)", "batch_size": batch, "precision": precision,
            "device": device, "mean": mean, "median": median, "p99": p99, "model": model,
            "img_s_compute": 1000.0 * batch / mean, "img_s_e2e": qps if implicit else qps * batch}


def ais(software, batch, throughput, mean, median, p99, model, device=ASCEND):
    return {"software": software, "batch_size": batch, "precision": "unknown", "device": device, "mean": mean,
            "median": median, "p99": p99, "model": model, "img_s_compute": throughput, "img_s_e2e": None}


EXPECTED = {
    "trtexec/gh_bugdev021_trt852_rtx3090_yolov8seg_bs4.trtexec.log": [trt(
        "8.5.2", 4, "fp16", "NVIDIA GeForce RTX 3090", 196.933, 4.9113, 4.9054, 5.02271, "yolov8n-seg-nms")],
    "trtexec/issue_oe4t_metategra952_trt840_xavier_mnist_batch16.trtexec.log": [trt(
        "8.4.0", 16, "unknown", NVIDIA_NO_DEVICE, 41087.7, 0.388221, 0.388443, 0.393188, "mnist16", implicit=True)],
    "trtexec/nv_cookbook_trt10161_h100_onnx_default.trtexec.log": [trt(
        "10.16.1", 1, "fp32", "NVIDIA H100 PCIe", 15374.3, 0.0359588, 0.0361328, 0.041748, "model-trained")],
    "trtexec/nv_cookbook_trt803_gtx1070_onnx_shapes4_verbose.trtexec.log": [trt(
        "8.0.3", 4, "fp32", "NVIDIA GeForce GTX 1070", 6430.89, 0.15368, 0.153564, 0.156677, "model")],
    "trtexec/nv_cookbook_trt841_gtx1070_loadengine_shapes4_verbose.trtexec.log": [trt(
        "8.4.1", 4, "fp32", "NVIDIA GeForce GTX 1070", 5888.57, 0.15449, 0.153687, 0.160645, "model")],
    "trtexec/nv_qat_tutorial_trt825_mobilenetv2_base_bs64.trtexec.log": [trt(
        "8.2.5", 64, "fp32", "NVIDIA Graphics Device", 166.041, 6.00728, 5.94946, 6.47375, "mobilenetv2_base")],
    "trtexec/nv_qat_tutorial_trt825_mobilenetv2_ptq_int8_bs64.trtexec.log": [trt(
        "8.2.5", 64, "int8", "NVIDIA Graphics Device", 321.422, 1.59911, 1.59741, 1.63635, "mobilenetv2_ptq")],
    MSIT_TRTEXEC: [],  # no batch size anywhere in msit's re-print: skipped with the reason (see below)
    "ais_bench/json_ghostnet_aisinfer2022_bs16/sumary.json": [ais(
        "ais_infer (2022 sumary.json)", 16, 3438.7935677393734, 4.652794558563232, 3.9760000705718994,
        9.564919853210439, "json_ghostnet_aisinfer2022")],
    "ais_bench/msit_benchmark_basic_usage_bs1_fullconsole.log": [ais(
        AIS_2023, 1, 407.16610891670894, 2.4560000896453857, 2.4560000896453857, 2.4560000896453857,
        "pth_resnet50")],
    "ais_bench/mz_seresnext101_aisinfer2022_bs16.log": [ais(
        AIS_2022, 16, 729.2599603105127, 21.94005001068115, 21.921500205993652, 22.326120758056643,
        "mz_seresnext101_aisinfer2022")],
    "ais_bench/mz_spachsmlp_aisinfer2022early_bs1.log": [ais(
        "ais_infer (earliest 2022 printed summary)", 1, 171.5691219234638, 5.828554630279541, 5.828554630279541,
        5.828554630279541, "sMLPNet-T-high")],
    "ais_bench/mz_twinssvtl_aisbench_bs64.log": [ais(
        AIS_2022, 64, 148.1286544184991, 432.0568511962891, 432.0480041503906, 432.2307962036133,
        "mz_twinssvtl_aisbench")],
    "ais_bench/tools_aisbench_readme_multidevice_2dev.log": [
        ais(AIS_2023, 1, 281.38893494131406, 3.5538000106811523, 3.7230000495910645, 3.936680030822754,
            "tools_aisbench_readme_multidevice_2dev", device=f"{ASCEND}, device 1"),
        ais(AIS_2023, 1, 276.54867008654026, 3.616000032424927, 3.555000066757202, 3.9134000968933105,
            "tools_aisbench_readme_multidevice_2dev", device=f"{ASCEND}, device 2"),
        ais(AIS_2023, 1, 557.9376050278543, None, None, None, "tools_aisbench_readme_multidevice_2dev",
            device="Ascend NPU x2 combined")],
}


def real_log_files() -> list[str]:
    if not REAL_LOGS.is_dir():
        return []
    return sorted(str(p.relative_to(REAL_LOGS)) for p in REAL_LOGS.rglob("*")
                  if p.is_file() and p.suffix not in NOT_LOGS and p.name != "SOURCE.txt")


@pytest.fixture(scope="module")
def collected():
    return collect([REAL_LOGS])


def test_every_real_log_has_expectations():
    assert real_log_files() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_figures_a_person_reads_in_the_log(collected, name):
    rows = [r for r in collected.perf if r.source == str(REAL_LOGS / name)]
    assert len(rows) == len(EXPECTED[name])
    for row, want in zip(rows, EXPECTED[name]):
        got = {"software": row.software, "batch_size": row.batch_size, "precision": row.precision,
               "device": row.device, "model": row.model, "mean": row.compute_ms.get("mean"),
               "median": row.compute_ms.get("median"), "p99": row.compute_ms.get("p99"),
               "img_s_compute": row.img_s_compute, "img_s_e2e": row.img_s_e2e}
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9), (name, key)
            else:
                assert got[key] == value, (name, key)


def test_implicit_batch_throughput_is_not_multiplied_again(collected):
    (row,) = [r for r in collected.perf if "mnist_batch16" in r.source]
    assert row.img_s_e2e == 41087.7 and "implicit batch 16" in row.conditions


def test_msit_trtexec_reprint_is_skipped_with_what_to_add(collected):
    (reason,) = [s for s in collected.skipped if MSIT_TRTEXEC in s]
    assert "does not show the batch size" in reason and '{"batch_size": N}' in reason


def test_msit_trtexec_reprint_with_a_meta_file(tmp_path):
    shutil.copy(REAL_LOGS / MSIT_TRTEXEC, tmp_path / "trtexec.log")
    (tmp_path / "report-meta.json").write_text(json.dumps({"batch_size": 1}))
    (row,) = collect([tmp_path]).perf
    assert row.software == "TensorRT version not in log (trtexec, as msit benchmark re-printed it)"
    assert row.batch_size == 1 and row.img_s_e2e == 120.699
    assert (row.compute_ms["mean"], row.compute_ms["median"], row.compute_ms["p99"]) == (8.23978, 8.19409, 9.90002)
    assert row.img_s_compute == pytest.approx(1000 / 8.23978)


def test_files_are_found_by_content_under_any_name(tmp_path):
    shutil.copy(REAL_LOGS / "trtexec/nv_qat_tutorial_trt825_mobilenetv2_base_bs64.trtexec.log",
                tmp_path / "result-FP32.txt")
    shutil.copy(REAL_LOGS / "ais_bench/mz_twinssvtl_aisbench_bs64.log", tmp_path / "console.out")
    found = collect([tmp_path])
    assert sorted((r.model, r.batch_size) for r in found.perf) == [("console", 64), ("mobilenetv2_base", 64)]


def test_one_bad_file_leaves_the_rest_of_the_report(tmp_path):
    shutil.copytree(REAL_LOGS, tmp_path / "logs")
    (tmp_path / "logs" / "broken_summary.json").write_text("{\"NPU_compute_time\": ")
    found = collect([tmp_path / "logs"])
    assert len(found.perf) == sum(len(rows) for rows in EXPECTED.values())
    assert any(s.startswith(str(tmp_path / "logs" / "broken_summary.json")) and "not valid JSON" in s
               for s in found.skipped)


def test_cli_on_the_real_logs_writes_one_row_per_run(tmp_path):
    proc = run_cli("-m", "report", "--input", str(REAL_LOGS), "--output", str(tmp_path), "--no-published")
    assert proc.returncode == 0, proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(skipped) == 1 and MSIT_TRTEXEC in skipped[0] and "batch_size" in skipped[0]
    with open(tmp_path / "perf.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    want = sorted((name, w["batch_size"], round(w["img_s_compute"], 3)) for name, ws in EXPECTED.items() for w in ws)
    got = sorted((str(Path(r["source"]).relative_to(REAL_LOGS)), int(r["batch_size"]),
                  round(float(r["img_s_compute"]), 3)) for r in rows)
    assert got == want
    assert MSIT_TRTEXEC in (tmp_path / "report.md").read_text()
