"""Report cases at the edges: runs over several devices beside single-device runs, non-finite outputs in parity."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.contracts import SCHEMA_VERSION
from report import cli
from report.collect import collect
from report.series import build_series
from tests.conftest import assert_one_line_error, run_cli
from tests.report.report_fixtures import summary_dict, write_json


def _summary(device: str, compute_ms: float, devices: int = 1) -> dict:
    data = summary_dict(target="nvidia", precision="fp16", batch_size=64, compute_ms=[compute_ms] * 20,
                        device_name=device, end_to_end=1000.0)
    if devices > 1:  # as infer.multi.merge writes it: the devices joined, compute-only summed
        data["device"] = ",".join(str(d) for d in range(devices))
        data["throughput"]["compute_only"] *= devices
        data["extra"]["devices"] = [str(d) for d in range(devices)]
    return data


def test_a_run_over_two_devices_is_its_own_series_never_one_device(tmp_path):
    write_json(tmp_path / "runs" / "one_summary.json", _summary("NVIDIA H200", 2.0))
    write_json(tmp_path / "runs" / "two_summary.json", _summary("NVIDIA H200", 2.0, devices=2))
    write_json(tmp_path / "runs" / "t4_summary.json", _summary("NVIDIA T4", 8.0))
    found = collect([tmp_path / "runs"])
    by_source = {r.source.rsplit("/", 1)[-1]: r for r in found.perf}
    two = by_source["two_summary.json"]
    assert two.device == "NVIDIA H200 x2 combined" and two.gpus == 2
    assert two.conditions.startswith("devices 0,1: compute-only img/s is the sum over them")
    assert by_source["one_summary.json"].device == "NVIDIA H200" and by_source["one_summary.json"].conditions == ""

    other = _summary("NVIDIA H200", 4.0, devices=2)
    other["device"], other["batch_size"] = "2,3", 8  # another pair of the same kind, another batch size
    write_json(tmp_path / "pair" / "two_summary.json", other)
    pairs = [s for s in build_series(collect([tmp_path / "runs", tmp_path / "pair"]).perf)
             if s.device == "NVIDIA H200 x2 combined"]
    assert len(pairs) == 1 and pairs[0].img_s(8) == 32000.0 and pairs[0].img_s(64) == 64000.0  # whichever devices
    series = {s.device: s.img_s(64) for s in build_series(found.perf)}
    assert series == {"NVIDIA H200": 32000.0, "NVIDIA H200 x2 combined": 64000.0, "NVIDIA T4": 8000.0}

    cli.run(cli.ReportConfig(input=[tmp_path / "runs"], output=tmp_path / "out", include_published=False,
                             baseline="H200 fp16"))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    devices = {r["device"]: (r["img_s_compute"], r["gpus"]) for r in report["perf"]}
    assert devices["NVIDIA H200 x2 combined"] == (64000.0, 2)
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| 64 | 32,000.0 | 64,000.0 | 8,000.0 |" in markdown
    assert "| 64 | 2.000 | 0.250 |" in markdown  # T4 over one H200, not over the sum of two


def test_runs_that_all_ran_out_of_memory_still_make_a_report(tmp_path):
    record = {"kind": "harness.out_of_memory", "schema_version": SCHEMA_VERSION, "model": "resnet50",
              "target": "nvidia", "precision": "fp16", "device": "0", "artifact": "/x", "batch_size": 512,
              "needed_bytes": 3 << 30, "available_bytes": 1 << 30, "message": "CUDA out of memory"}
    write_json(tmp_path / "runs" / "bs512_summary.json", record)
    proc = run_cli("-m", "report", "--input", str(tmp_path / "runs"), "--output", str(tmp_path / "out"),
                   "--no-published")
    assert proc.returncode == 0, proc.stderr
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "resnet50 on nvidia (device 0), fp16, batch 512: **out of memory** (needed 3,072.0 MiB" in markdown


def test_parity_names_the_samples_whose_outputs_are_nan_or_inf(tmp_path, capsys):
    from report import compare
    from tests.report.report_fixtures import write_result_dir

    reference = {f"s{i}": np.linspace(-1.0, 1.0, 10) * (i + 1) for i in range(6)}
    under_test = {stem: values.copy() for stem, values in reference.items()}
    under_test["s3"][:] = np.nan
    under_test["s4"][2] = np.inf
    write_result_dir(tmp_path / "a", under_test, precision="fp16")
    write_result_dir(tmp_path / "b", reference)
    config = compare.CompareConfig(a=tmp_path / "a", b=tmp_path / "b", output=tmp_path / "compare.json")
    with pytest.raises(compare.ParityFailure, match=r"outputs hold NaN or inf: 2 of 6 samples of --a \(s3, s4\)"):
        compare.run(config)
    printed = capsys.readouterr().out
    assert "outputs hold NaN or inf: 2 of 6 samples of --a (s3, s4); rerun or rebuild that run" in printed
    assert "lowest cosine: s4 (nan), s3 (0)" in printed  # a NaN cosine is listed first, not lost in the sort
    result = json.loads((tmp_path / "compare.json").read_text())
    assert result["passed"] is False and result["aggregate"]["nonfinite_samples_a"] == 2
    assert result["aggregate"]["nonfinite_samples_b"] == 0
    assert [r["stem"] for r in result["samples"] if not r["finite_a"]] == ["s3", "s4"]


@pytest.mark.parametrize("img_s, batch, gpus", [("nan", "64", "1"), ("inf", "64", "1"), ("-5", "32", "1"),
                                                ("0", "32", "1"), ("100", "0", "1"), ("100", "8", "0")])
def test_a_published_row_that_is_not_a_throughput_is_refused_naming_its_line(tmp_path, img_s, batch, gpus):
    from report.published import COLUMNS

    published = tmp_path / "published.csv"
    published.write_text(",".join(COLUMNS) + "\n" + f"m,T4,nvidia,fp16,{batch},{img_s},{gpus},compute-only,s,c,src\n")
    write_json(tmp_path / "runs" / "t4_summary.json", _summary("NVIDIA T4", 8.0))
    proc = run_cli("-m", "report", "--input", str(tmp_path / "runs"), "--output", str(tmp_path / "out"),
                   "--published", str(published))
    assert_one_line_error(proc, f"{published}:2: img_s must be a finite number above 0", f"img_s {img_s!r}")
    assert not (tmp_path / "out" / "report.md").exists()
