"""Energy and cost in the report: prices file, matching, columns against hand arithmetic, the efficiency plot."""
from __future__ import annotations

import csv
import json

import pytest

from harness.errors import ContractError
from report import cli
from report.energy import cost_per_million, facts_for, load_prices
from tests.report.report_fixtures import assert_valid_png, summary_dict, write_json

H200 = "NVIDIA H200"
HEADER = "device,match,price_per_hour,currency,price_source,board_power_w,power_source\n"


def energy(joules: float, images: int, seconds: float) -> dict:
    """summary.json `energy` as infer writes it for an available counter."""
    return {"available": True, "counter": "NVML total energy, GPU at PCI 0", "resolution": "1 mJ (NVML unit)",
            "method": "energy counter", "seconds": seconds, "joules": joules, "average_watts": joules / seconds,
            "peak_watts": 640.0, "samples": 100, "images": images, "joules_per_image": joules / images,
            "images_per_second_per_watt": images / joules, "unavailable": "", "sampled_joules": joules * 0.99,
            "counter_to_sampled_ratio": 1 / 0.99, "comparison": {}, "sample_interval_s": 0.1}


def test_prices_file_is_checked_and_matched_by_whole_words(tmp_path):
    facts = load_prices()  # the shipped file: every row has a datasheet power and no made-up price
    assert all(f.board_power_w and "datasheet" in f.power_source for f in facts)
    assert facts_for("Ascend310P3 (Atlas 300I Pro)", facts).board_power_w == 72.0
    assert facts_for("Ascend310", facts).board_power_w == 67.0
    assert facts_for("NVIDIA H200 NVL", facts).board_power_w == 600.0
    assert facts_for("NVIDIA H200", facts).board_power_w == 700.0
    assert facts_for("AMD EPYC 9654", facts) is None
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "X,X,-3,USD,,,\n")
    with pytest.raises(ContractError, match=r"bad.csv:2: price_per_hour is '-3'"):
        load_prices(bad)
    bad.write_text("device,match\nX,X\n")
    with pytest.raises(ContractError, match="columns .* missing"):
        load_prices(bad)


def test_cost_per_million_images():
    # 3.60 per hour at 1000 img/s: 3.6 million images an hour cost 3.60, so one million cost 1.00
    assert cost_per_million(1000.0, 3.6) == pytest.approx(1.0)
    assert cost_per_million(250.0, 2.0) == pytest.approx(2.0 / (250.0 * 3600) * 1e6)
    assert cost_per_million(None, 2.0) is None and cost_per_million(100.0, None) is None


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("energy-report")
    runs = root / "runs"
    for batch, ms, joules in ((1, 1.0, 150.0), (64, 16.0, 2000.0)):  # 1000 and 4000 img/s compute-only
        data = summary_dict(target="nvidia", precision="fp16", batch_size=batch, compute_ms=[ms] * 4,
                            device_name=H200, model="efficientnet_lite0", end_to_end=900.0)
        data["energy"] = energy(joules, 40000, 10.0)
        write_json(runs / f"bs{batch}" / "summary.json", data)
    cpu = summary_dict(target="cpu", precision="fp32", batch_size=1, compute_ms=[10.0] * 4, device_name="AMD EPYC",
                       model="efficientnet_lite0")
    cpu["energy"] = {"available": False, "unavailable": "no /sys/class/powercap on this machine", "joules": None}
    write_json(runs / "cpu" / "summary.json", cpu)
    published = root / "published.csv"
    published.write_text("model,device,target,precision,batch_size,img_s,gpus,metric,software,conditions,source\n"
                         "efficientnet_lite0,NVIDIA T4,nvidia,fp16,8,1400.0,1,compute-only,TRT,x,paper\n"
                         "efficientnet_lite0,NVIDIA H200,nvidia,fp16,64,30000.0,8,compute-only,TRT,x,paper\n")
    prices = root / "prices.csv"
    prices.write_text(HEADER + "NVIDIA H200,H200,3.60,USD,quote,700,datasheet 700 W\n"
                               "NVIDIA T4,T4,,,,70,datasheet 70 W\n")
    out = root / "out"
    assert cli.main(["--input", str(runs), "--output", str(out), "--published", str(published),
                     "--prices", str(prices)]) == 0
    return out


def test_perf_csv_energy_and_cost_columns(report_dir):
    rows = {(r["device"], r["batch_size"], r["status"]): r for r in csv.DictReader(open(report_dir / "perf.csv"))}
    bs1 = rows[(H200, "1", "measured")]
    assert float(bs1["j_per_image"]) == pytest.approx(150.0 / 40000)
    assert float(bs1["img_per_j"]) == pytest.approx(40000 / 150.0)
    assert float(bs1["watts"]) == pytest.approx(15.0)
    assert float(bs1["cost_per_million"]) == pytest.approx(3.60 / (1000.0 * 3600) * 1e6)
    assert bs1["energy_basis"] == "measured: NVML total energy, GPU at PCI 0" and bs1["currency"] == "USD"
    cpu = rows[("AMD EPYC", "1", "measured")]
    assert cpu["img_per_j"] == "" and cpu["energy_basis"] == "unavailable: no /sys/class/powercap on this machine"
    t4 = rows[("NVIDIA T4", "8", "published")]
    assert float(t4["img_per_j"]) == pytest.approx(1400.0 / 70.0) and t4["cost_per_million"] == ""
    assert t4["energy_basis"].startswith("nominal (datasheet board power): 1 x 70 W")
    dgx = rows[(H200, "64", "published")]  # 8 GPUs: 8 x 700 W and 8 device-hours per hour
    assert float(dgx["img_per_j"]) == pytest.approx(30000.0 / (8 * 700.0))
    assert float(dgx["cost_per_million"]) == pytest.approx(8 * 3.60 / (30000.0 * 3600) * 1e6)


def test_report_markdown_and_json_show_energy(report_dir):
    text = (report_dir / "report.md").read_text()
    assert "Energy: measured: NVML total energy, GPU at PCI 0" in text
    assert "Energy: unavailable: no /sys/class/powercap on this machine" in text
    assert f"| {40000 / 150.0:,.2f} |" in text  # img/J of bs1
    assert "| 1.00 USD |" in text  # bs1 cost: 3.60 / (1000 * 3600) * 1e6
    assert "board W (nominal)" in text and "img/J (nominal)" in text
    data = json.loads((report_dir / "report.json").read_text())
    measured = [p for p in data["perf"] if p["status"] == "measured" and p["batch_size"] == 64]
    assert measured[0]["energy"]["joules"] == 2000.0 and measured[0]["img_per_j"] == pytest.approx(20.0)
    assert {f["match"] for f in data["device_facts"]} == {"H200", "T4"}


def test_efficiency_plot(report_dir):
    from PIL import Image

    path = report_dir / "efficiency_efficientnet_lite0.png"
    assert_valid_png(path)
    assert "efficiency_efficientnet_lite0.png" in (report_dir / "report.md").read_text()
    description = Image.open(path).info["Description"]
    assert "NVIDIA H200, fp16" in description and "NVIDIA T4, fp16, TRT (nominal power)" in description
    assert "AMD EPYC" not in description  # no energy, no point
