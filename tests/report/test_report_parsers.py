"""trtexec (TensorRT 10 and 11) and ais_bench (printed summary, both JSON generations) parsers."""
import json

import pytest

from harness.errors import ContractError
from report.external import perf_from_ais_bench, perf_from_trtexec
from report.parsers import ais_bench, trtexec
from tests.report.report_fixtures import DATA

TRTEXEC = DATA / "trtexec"
AIS = DATA / "ais_bench"


def test_trtexec_10_summary():
    run = trtexec.parse_trtexec_log((TRTEXEC / "t4_fp16_bs16.trtexec.log").read_text())
    assert (run.version, run.major) == ("10.9.0", 10)
    assert run.batch_size == 16 and run.device == "Tesla T4" and run.precision == "fp16"
    assert run.throughput_qps == 48.5
    assert run.metrics["GPU Compute Time"] == {"min": 19.5, "max": 21.9, "mean": 20.0, "median": 19.9,
                                               "p90": 20.4, "p95": 20.8, "p99": 21.5}
    assert run.metrics["H2D Latency"]["mean"] == 0.57
    assert run.options["Data transfers"] == "Enabled" and run.options["CUDA Graph"] == "Disabled"
    assert run.transfers_included
    assert run.warnings == ["* GPU compute time is unstable, with coefficient of variance = 3.1%."]
    record = perf_from_trtexec(run, TRTEXEC / "t4_fp16_bs16.trtexec.log", {})
    assert record.img_s_compute == pytest.approx(800.0)  # 1000 * 16 / 20 ms
    assert record.img_s_e2e == pytest.approx(776.0)  # 48.5 qps * 16
    assert record.model == "se-resnext101" and record.software == "TensorRT 10.9.0 (trtexec)"


def test_trtexec_11_defaults_no_transfers_and_loaded_engine():
    path = TRTEXEC / "h100_bs64.trtexec.log"
    run = trtexec.parse_trtexec_log(path.read_text())
    assert (run.version, run.major) == ("11.1.0", 11)
    assert run.batch_size == 64  # from the input binding line: the engine was loaded, no --shapes
    assert run.precision is None  # build options of a loaded engine say nothing about it
    assert run.options == {"CUDA Graph": "Enabled", "Data transfers": "Disabled", "Spin-wait": "Enabled",
                           "Inference Streams": "1"}
    assert not run.transfers_included
    record = perf_from_trtexec(run, path, {"precision": "fp16", "model": "seresnext101_32x4d"})
    assert record.img_s_compute == pytest.approx(6250.0)  # 64000 / 10.24
    assert record.img_s_e2e is None  # trtexec Throughput without transfers is not end-to-end
    assert "6182.4 img/s" in record.conditions  # 96.6 qps * 64, kept as a condition
    assert record.precision == "fp16" and record.device == "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize("digits, expected", [("100900", (10, 9, 0)), ("110100", (11, 1, 0)),
                                              ("8602", (8, 6, 2)), ("101600", (10, 16, 0))])
def test_banner_version_digits(digits, expected):
    assert trtexec.parse_version(digits) == expected


def test_trtexec_unknown_version_is_refused():
    text = (TRTEXEC / "t4_fp16_bs16.trtexec.log").read_text().replace("v100900", "v120000")
    text = text.replace("TensorRT version: 10.9.0", "TensorRT version: 12.0.0")
    with pytest.raises(ContractError, match="TensorRT 12.0.0 trtexec output is not a known format"):
        trtexec.parse_trtexec_log(text, "x.trtexec.log")


def test_trtexec_without_summary_or_version():
    full = (TRTEXEC / "t4_fp16_bs16.trtexec.log").read_text()
    build_only = full.split("=== Performance summary ===")[0]
    with pytest.raises(ContractError, match="no '=== Performance summary ==='"):
        trtexec.parse_trtexec_log(build_only, "b.trtexec.log")
    no_version = "\n".join(l for l in full.splitlines() if "TensorRT" not in l)
    with pytest.raises(ContractError, match="no TensorRT version"):
        trtexec.parse_trtexec_log(no_version, "v.trtexec.log")


def test_ais_bench_printed_new_generation():
    (run,) = ais_bench.parse_printed_summary((AIS / "bs1_ais_bench.log").read_text()).runs
    assert run.software == "ais_bench, ait or msit benchmark (2023-01 on printed summary)" and run.batch_size == 1
    assert run.throughput == pytest.approx(529.1005291005291)
    assert run.npu_compute_ms == {"min": 1.875, "max": 1.912, "mean": 1.89, "median": 1.889, "p99": 1.91}
    assert run.h2d_ms == {}


def test_ais_infer_printed_old_generation_with_transfers():
    (run,) = ais_bench.parse_printed_summary((AIS / "bs16_ais_infer.log").read_text()).runs
    assert run.software == "ais_infer or ais_bench (2022 to 2023-01 printed summary)" and run.batch_size == 16
    assert run.throughput == pytest.approx(729.2599603105127)
    assert run.npu_compute_ms["mean"] == pytest.approx(21.94005001068115)
    assert run.h2d_ms["mean"] == 2.503 and run.d2h_ms["p99"] == 0.069
    record = perf_from_ais_bench(run, AIS / "bs16_ais_infer.log", {"device": "Ascend310P3"})
    assert record.img_s_compute == pytest.approx(1000 * 16 / 21.94005001068115)
    assert "H2D mean 2.503 ms (excluded)" in record.conditions and record.device == "Ascend310P3"


def test_ais_bench_summary_json_new_generation():
    run = ais_bench.parse_summary_json(json.loads((AIS / "result_bs4_summary.json").read_text()))
    assert run.software == "ais_bench (summary.json, 2022-11 on)" and run.batch_size == 4
    assert run.npu_compute_ms["count"] == 5 and run.npu_compute_ms["p99"] == 4.4596
    assert run.samples_ms == [4.4, 4.43, 4.42, 4.46, 4.43]
    assert run.model_path == "se-resnext_bs4.om"
    assert ais_bench.model_name_from_path(run.model_path) == "se-resnext"


def test_ais_infer_sumary_json_old_generation():
    data = json.loads((AIS / "2022_09_08-10_11_12" / "sumary.json").read_text())
    run = ais_bench.parse_summary_json(data)
    assert run.software == "ais_infer (2022 sumary.json)" and run.batch_size == 16 and run.samples_ms == []
    del data["args"]  # without --batchsize the batch follows from throughput * mean / 1000
    assert ais_bench.parse_summary_json(data).batch_size == 16


def test_ais_bench_unknown_formats():
    with pytest.raises(ContractError, match="not an ais_bench summary of a known version"):
        ais_bench.parse_summary_json({"throughput": 5.0, "latency": {}}, "odd_summary.json")
    with pytest.raises(ContractError, match="odd.log: .*unknown ais_bench version"):
        ais_bench.parse_printed_summary("[INFO] -----------------Performance Summary------------------\n"
                                        "[INFO] something else entirely\n", "odd.log")
